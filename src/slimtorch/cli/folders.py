"""Which saved-model folder a path on the command line means.

Users pass whatever folder a command wrote: a model folder (``st.save``: ``model.json`` inside), the
``--out`` of ``slimtorch train`` or ``slimtorch optimize`` (the model is its ``model/``), or the run
directory of ``slimtorch run`` / ``slimtorch demo`` (several stages: the final stage's model).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import UsageError

ALLOWED = ("allowed: a folder written by st.save (holding model.json), the --out of `slimtorch train`/"
           "`optimize` (its model/), or a `slimtorch run` directory (its final stage)")


PICKLES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


def model_dir(path: str | Path, flag: str = "path") -> Path:
    """The saved-model folder ``path`` names.

    Args:
        path: a model folder, a ``train``/``optimize`` output folder, or a run directory.
        flag: the argument's name for the error line.

    Returns:
        The folder holding the ``model.json`` to load.

    Raises:
        UsageError: the path does not exist or is none of the allowed folders (one line naming them).

    Example:
        >>> model_dir("runs/lenet5")  # doctest: +SKIP
        PosixPath('runs/lenet5/model')
    """
    if not str(path).strip():  # Path("") is the current folder: an unset shell variable, not a choice
        raise UsageError(f"{flag}: got an empty path; {ALLOWED}")
    path = Path(path)
    if (path / "model.json").is_file():
        return path
    if (path / "model" / "model.json").is_file():
        return path / "model"
    if not path.exists():
        raise UsageError(f"{flag}: {path} does not exist; {ALLOWED}")
    if not path.is_dir():
        if path.suffix.lower() in PICKLES:
            raise UsageError(f"{flag}: {path} is a pickled PyTorch file, which slimtorch never opens (unpickling runs "
                             "code); load its weights into your model (torch.load(..., weights_only=True)) and "
                             f"st.save(model, DIR, spec=...); {ALLOWED}")
        raise UsageError(f"{flag}: {path} is a file; give the folder that holds it ({ALLOWED})")
    if (path / "stages").is_dir():
        return _final_stage(path, flag)
    if (path / "config.json").is_file():
        raise UsageError(f"{flag}: {path} looks like a Hugging Face save_pretrained folder (config.json), which "
                         "slimtorch does not rebuild; load it with transformers and st.save(model, DIR, spec="
                         f"{{'factory': ...}}); {ALLOWED}")
    saved = ("model.json", "model/model.json")
    inside = sorted(str(d) for d in path.iterdir() if any((d / m).is_file() for m in saved))[:5]
    if inside:  # e.g. a run's stages/ folder: name the saved models in it
        raise UsageError(f"{flag}: {path} holds no saved model itself (no model.json); its folders do: "
                         f"{', '.join(inside)}")
    raise UsageError(f"{flag}: {path} holds no saved model (no model.json); {ALLOWED}")


def _final_stage(run: Path, flag: str) -> Path:
    """The folder of a run's final stage, read from ``metrics.json``; an unfinished run names its stages."""
    saved = [d for d in sorted((run / "stages").iterdir()) if (d / "model.json").is_file()]
    try:
        final = json.loads((run / "metrics.json").read_text()).get("final_stage")
    except (OSError, ValueError, AttributeError):
        final = None
    for d in saved:
        try:
            stage = json.loads((d / "model.json").read_text()).get("extra", {}).get("stage")
        except (OSError, ValueError, AttributeError):
            continue
        if final is not None and stage == final:
            return d
    names = ", ".join(str(d) for d in saved) or "none yet"
    raise UsageError(f"{flag}: {run} is a run that has not finished (no final stage in metrics.json); "
                     f"give one of its saved stages: {names}")
