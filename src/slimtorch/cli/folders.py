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
    if (path / "stages").is_dir() or _metrics(path):
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
    if (path / "trials").is_dir() or (path / "latest.json").is_file():  # an interrupted optimize / train --out
        what = ("an optimize --out whose search has not written its model" if (path / "trials").is_dir() else
                "a train --out whose training has not finished")
        raise UsageError(f"{flag}: {path} is {what} (interrupted?); rerun that command with --out {path} --resume "
                         f"to finish it, then give this folder; {ALLOWED}")
    pickles = sorted(d.name for d in path.iterdir() if d.is_file() and d.suffix.lower() in PICKLES)[:3]
    if pickles:  # a user's own torch.save checkpoint: say why it is not read and the way in
        raise UsageError(f"{flag}: {path} holds no saved model (no model.json); {', '.join(pickles)} "
                         f"{'is a pickled PyTorch file' if len(pickles) == 1 else 'are pickled PyTorch files'}, "
                         "which slimtorch never opens (unpickling runs code); load the weights into your model "
                         f"(torch.load(..., weights_only=True)) and st.save(model, DIR, spec=...); {ALLOWED}")
    raise UsageError(f"{flag}: {path} holds no saved model (no model.json); {ALLOWED}")


def _metrics(run: Path, strict: bool = True) -> dict | None:
    """A run directory's ``metrics.json`` (written when the run finished), or None; ``strict``: only one that
    says it is a run's (a folder of someone else's metrics.json is no run)."""
    try:
        metrics = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or (strict and metrics.get("format") != "slimtorch-metrics"):
        return None
    return metrics


def run_input(path: str | Path) -> dict | None:
    """The recipe of a finished run whose final model is its input (no stage saved a model: a recipe that only
    measures or exports), else None. That model is the recipe's, built afresh: ``rebuild_input`` makes it again."""
    path = Path(path)
    metrics = _metrics(path) if path.is_dir() and not (path / "model.json").is_file() else None
    recipe = (metrics or {}).get("recipe")
    if not metrics or metrics.get("final_stage") != "input" or not isinstance(recipe, dict):
        return None
    return recipe if isinstance(recipe.get("model"), dict) else None


def _describe(spec: dict) -> str:
    what = spec.get("name") or f"factory {spec.get('factory')!r}"
    kwargs = spec.get("kwargs") or {}
    return what + (f" ({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else "")


def rebuild_input(run: Path, recipe: dict, dest: Path, trust_factory: bool) -> Path:
    """Build a measure-only run's model as the run did (the recipe's model, seeded by ``train.seed``) and save it in
    ``dest`` with the input shape of the run's ``model.onnx``; returns ``dest``.

    Raises:
        UsageError: the recipe's model is a factory and ``trust_factory`` is False, or it no longer builds.
    """
    from .. import io
    from ..config import ConfigError
    from ..pipeline.prepare import build_model

    spec = recipe["model"]
    if "factory" in spec and not trust_factory:
        raise UsageError(f"path: {run}'s recipe builds its model with the factory {spec['factory']!r}, which imports "
                         "and runs that code; allowed: --trust-factory to rebuild it")
    try:
        with io.trusting(trust_factory):  # as `slimtorch run --trust-factory` built it
            model = build_model(spec, seed=int((recipe.get("train") or {}).get("seed", 0)))
    except ConfigError as err:
        raise UsageError(f"path: {run}'s recipe model no longer builds: {err}") from None
    shape = _onnx_input_shape(run / "model.onnx")
    io.save(model, dest, extra={"stage": "input", **({"input_shape": shape} if shape else {})})
    return dest


def _onnx_input_shape(path: Path) -> list[int] | None:
    """The per-sample input shape of a run's ``model.onnx`` (its batch axis is dynamic), or None."""
    try:
        import onnx

        dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    except Exception:  # no file, no onnx package, an odd graph: bench then asks for --data or --input-shape
        return None
    shape = [d.dim_value for d in dims[1:]]
    return shape if shape and all(d > 0 for d in shape) else None


def _final_stage(run: Path, flag: str) -> Path:
    """The folder of a run's final stage, read from ``metrics.json``; otherwise one line saying what is missing."""
    saved = [d for d in sorted((run / "stages").iterdir()) if (d / "model.json").is_file()] if (
        run / "stages").is_dir() else []
    metrics = _metrics(run, strict=False) or {}
    final = metrics.get("final_stage")
    for d in saved:
        try:
            stage = json.loads((d / "model.json").read_text()).get("extra", {}).get("stage")
        except (OSError, ValueError, AttributeError):
            continue
        if final is not None and stage == final:
            return d
    names = ", ".join(str(d) for d in saved) or "none"
    recipe = run_input(run)
    if recipe is not None:
        stages = [next(iter(s)) if isinstance(s, dict) else str(s) for s in recipe.get("stages") or []]
        raise UsageError(f"{flag}: {run} is a finished run whose stages saved no model (its recipe: "
                         f"{', '.join(stages)}): its model is the recipe's {_describe(recipe['model'])}, built "
                         f"afresh; allowed: `slimtorch bench {run}` (rebuilds it), that zoo model itself, or a folder "
                         "written by st.save")
    if final is not None:
        records = [r for r in metrics.get("stages") or [] if isinstance(r, dict) and r.get("label") == final]
        where = f"{records[-1].get('index', 0):02d}-{records[-1].get('name')}" if records else "its folder"
        raise UsageError(f"{flag}: {run}'s final stage {final!r} has no saved model ({where} deleted or moved?); "
                         f"rerun its recipe (slimtorch run RECIPE --out {run}) to rebuild it, or give one of its "
                         f"saved stages: {names}")
    raise UsageError(f"{flag}: {run} is a run that has not finished (no final stage in metrics.json); "
                     f"give one of its saved stages: {names}")
