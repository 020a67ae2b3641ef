"""Output folders of commands that save a model: an earlier saved model there is never silently replaced."""

from __future__ import annotations

import os
from pathlib import Path

from . import UsageError


def refuse_empty(value: str | None, flag: str) -> None:
    """An empty ``--out ''`` (an unset shell variable) is refused: it meant a folder, not "do not save" or "default".

    Example:
        >>> refuse_empty(None, "--out")
    """
    if value is not None and not str(value).strip():
        raise UsageError(f"{flag}: got an empty path (an unset shell variable?); give a path, or leave {flag} out")


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


def check_writable(path: str | Path, flag: str) -> None:
    """Refuse, before any work, an output path under a file or a folder the user may not write to.

    Raises:
        UsageError: one line naming the flag, the path and why.

    Example:
        >>> check_writable("/tmp/out/report.json", "--json")
    """
    if Path(path).is_dir():  # found only when writing, after the work: `bench --json DIR` timed, then failed
        raise UsageError(f"{flag}: cannot write {path}: it is a folder; give a file name, e.g. "
                         f"{Path(path) / 'out.json'}")
    ancestor = Path(path).absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{flag}: cannot write {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: cannot write {path}: no permission to write in {ancestor}")


def write_error(err: OSError, path: str | Path, flag: str) -> UsageError:
    """An OSError met while writing ``path`` as one line naming the flag (not the temp file's name)."""
    return UsageError(f"{flag}: cannot write {path}: {err.strerror or type(err).__name__}")
