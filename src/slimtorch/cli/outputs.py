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


def refuse_foreign(folder: str | Path, flag: str, marks: set[str], writes: str) -> None:
    """Refuse an existing ``folder`` that holds files but none of ``marks`` (what this command leaves there): a
    typo'd output folder (the user's photos, another command's output) would get the command's files mixed in.

    Args:
        folder: the output folder the user named.
        flag: its flag, for the message.
        marks: names (or name prefixes ending in ``-``) this command's own output folder holds.
        writes: what the command writes there, for the message.

    Raises:
        UsageError: one line naming the folder, a few of its entries and what to give instead.

    Example:
        >>> refuse_foreign("/nonexistent/folder", "--out", {"model"}, "model/")
    """
    if not Path(folder).is_dir():
        return
    entries = sorted(p.name for p in Path(folder).iterdir())
    ours = any(e in marks or any(m.endswith("-") and e.startswith(m) for m in marks) for e in entries)
    if entries and not ours:
        raise UsageError(f"{flag}: {folder} holds other files ({len(entries)}: {', '.join(entries[:3])}"
                         f"{', ...' if len(entries) > 3 else ''}) and is not an output folder of this command; give "
                         f"a new or empty folder (it writes {writes} there)")
