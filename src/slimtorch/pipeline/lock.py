"""One writer per run directory: an exclusive lock held for the whole run.

Two runs on one ``--out`` would delete each other's stage folders and leave a ``state.json`` that
describes other weights than the ones on disk. The lock is an OS file lock (``flock``), so the
kernel releases it when its process dies: a lock left by a killed run is never stale, and the next
run simply takes it. The file records the owner's pid for the refusal message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from ..config import ConfigError

LOCK_FILE = ".slimtorch.lock"


class RunLock:
    """``with RunLock(run_dir):`` owns ``run_dir`` or raises ConfigError naming the pid that does.

    A run directory that did not exist before and holds nothing but the lock afterwards is removed
    again. The lock file itself stays (unlinking a locked file would let two later runs lock two
    different files); it is only a pid.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None
        self._created = False

    def __enter__(self) -> RunLock:
        self._created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError("out", f"{self.run_dir} is in use by pid {owner} (another slimtorch run); wait for "
                                     "it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is None:
            return
        path = self.run_dir / LOCK_FILE
        if self._created and [p.name for p in self.run_dir.iterdir()] == [LOCK_FILE]:
            path.unlink()
            self.run_dir.rmdir()
        os.close(self._fd)
        self._fd = None


def clean_orphans(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temp files of atomic writes (``.NAME.*.tmp``) that a killed run left behind.

    Only call this while holding the run's lock: no writer of this directory is alive then.
    """
    removed = [p for p in Path(run_dir).rglob(".*.tmp") if p.is_file()]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
