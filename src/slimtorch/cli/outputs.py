"""Output folders of commands that save a model: an earlier saved model there is never silently replaced."""

from __future__ import annotations

from pathlib import Path

from . import UsageError


def refuse_overwrite(folder: str | Path, flag: str, force: bool, other: str = "") -> None:
    """Raise UsageError when ``folder`` already holds a model written by ``st.save`` and ``force`` is off.

    Args:
        folder: where the command will save its model.
        flag: the flag that named the folder, for the message (e.g. "--out").
        force: the user's ``--force``: overwrite it.
        other: another way out the command offers (e.g. "--resume to continue its training"), or "".

    Raises:
        UsageError: one line naming the folder and the ways out.

    Example:
        >>> refuse_overwrite("/nonexistent/folder", "--out", force=False)
    """
    if force or not (Path(folder) / "model.json").is_file():
        return
    ways = ", ".join(w for w in (other, "--force to overwrite it") if w)
    raise UsageError(f"{flag}: {folder} already holds a saved model; pass {ways}, or choose another folder")
