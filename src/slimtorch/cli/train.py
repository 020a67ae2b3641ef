"""``slimtorch train``: train a zoo model on a dataset, evaluate, save, print a results table."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..distillation.config import FEATURE_LOSSES, OUTPUT_LOSSES, DistillConfig
from ..distillation.hints import HINTS
from ..training.config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from .flags import add_config_flags
from .inputs import data_flag, data_options
from .outputs import check_writable, refuse_empty, refuse_foreign, refuse_overwrite


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model (optimizers, schedules, clipping, checkpoints)",
                       description="Train a zoo model on a dataset, evaluate it on the test split, save it "
                                   "(safetensors + JSON) into OUT/model and print a results table.")
    p.add_argument("--model", required=True, help="zoo model name (see `slimtorch list`)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model keyword argument, value parsed as YAML: --model-arg widths=[2,16,2]")
    p.add_argument("--data", required=True, help="dataset name (see `slimtorch list`)")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of the --data loader, value parsed as YAML (e.g. size=32 for images:DIR)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows of each split (quick runs)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice; 1 is fastest on a busy machine)")
    p.add_argument("--trust-factory", action="store_true",
                   help="allow a --teacher folder whose model.json names a factory ('package.module:function'): "
                        "that imports and runs the named code (default: zoo models only)")
    p.add_argument("--force", action="store_true",
                   help="start over in an --out that holds a finished run's model (replacing it)")
    p.set_defaults(_train_flags=add_config_flags(p.add_argument_group("training (TrainConfig)"), TrainConfig,
                                                 extra=_TRAIN_FLAGS))
    p.set_defaults(_distill_flags=add_config_flags(p.add_argument_group("distillation (DistillConfig)"),
                                                   DistillConfig, prefix="distill_", skip=("epochs",),
                                                   options=_DISTILL_OPTIONS, extra=_DISTILL_FLAGS))
    return p


# Refinements of the generated flags: choices, the README's spellings, the CLI's own defaults.
_TRAIN_FLAGS = {
    "epochs": {"default": 3},  # a quick first run from the command line (TrainConfig's default is 10)
    "optimizer": {"choices": OPTIMIZERS}, "schedule": {"choices": SCHEDULES}, "loss": {"choices": LOSSES},
    "warmup_epochs": {"aliases": ["--warmup"], "metavar": "EPOCHS"},
    "early_stopping": {"metavar": "PATIENCE"},
    "out": {"help": "run directory (default: runs/MODEL-DATA)"},
}


def _alpha(text: str) -> float | str:
    """``--alpha``: a number in [0, 1] (checked by the config) or 'auto'."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; allowed: a number in [0, 1] or 'auto'") from None


_DISTILL_OPTIONS = {"loss": "--distill-loss", "features": "--distill-feature", "feature_loss": "--distill-feature-loss",
                    "feature_weight": "--distill-feature-weight", "cache": "--teacher-cache",
                    "val_fraction": "--distill-val-fraction", "patience": "--distill-patience",
                    "compare": "--distill-compare", "hints": "--distill-hints",
                    "mask_padding": "--distill-mask-padding", "skip_rows": "--distill-skip-rows"}
_DISTILL_FLAGS = {
    "teacher": {"default": None, "metavar": "PATH_OR_ZOO_NAME",
                "help": "distil from this teacher: a folder written by st.save or a zoo model with weights"},
    "features": {"metavar": "STUDENT=TEACHER"},
    "loss": {"choices": OUTPUT_LOSSES}, "feature_loss": {"choices": FEATURE_LOSSES}, "hints": {"choices": HINTS},
    "alpha": {"type": _alpha, "metavar": "ALPHA|auto"},
}


def run(args: argparse.Namespace) -> int:
    from .. import data as data_mod
    from .. import io
    from ..training import fit
    from ..training.run import seed_all
    from . import UsageError
    from .train_checks import (
        check_alpha,
        check_fits,
        check_teacher,
        check_teacher_given,
        check_train_flags_used,
        model_error,
    )

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit: got {args.limit}; allowed: a positive number of rows")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads: got {args.threads}; allowed: 1 or more")
        import torch

        torch.set_num_threads(args.threads)
    refuse_empty(args.out, "--out")
    check_teacher_given(args)
    model_kwargs = _parse_kv(args.model_arg)
    out = Path(args.out or f"runs/{_slug(args.model)}-{_slug(args.data)}")
    cfg = args._train_flags.build(args, out=str(out))
    check_train_flags_used(args)  # after the values' own checks: a wrong value is named as wrong first
    refuse_foreign(out, "--out", {"model", "latest.json", "metrics.jsonl", "ckpt-"}, "model/ and checkpoints")
    if not cfg.resume:
        refuse_overwrite(out / "model", "--out", args.force, other="--resume to continue its training")
    check_writable(out / "model" / "model.json", "--out")  # before training, not at its first checkpoint
    options = data_options(args.data_option)
    for key in set(options) & {"seed", "limit"}:
        raise UsageError(f"--data-option {key}: has its own flag here; use --{key}")
    no_labels = (f"--data: {args.data} has no labels (every row is -1); training without --teacher needs them: "
                 "images:DIR with one subfolder per class (DIR/<label>/*.png), or a csv/npz with labels")
    if not args.distill_teacher and args.data.startswith("text:") and Path(args.data[5:]).is_file():
        raise UsageError(no_labels)  # sentences never have labels: said before a short file's split advice
    try:
        train, test = data_mod.load(args.data, seed=cfg.seed, limit=args.limit, **options)
    except (ValueError, TypeError, OSError) as err:  # OSError: a csv:/npz:/text: file that is not there
        raise UsageError(f"{data_flag(str(err), options)}: {err}") from None
    if not args.distill_teacher and not train.y.is_floating_point() and bool((train.y == -1).all()):
        raise UsageError(no_labels)
    seed_all(cfg.seed)  # right before the initial weights are drawn (as `slimtorch run`): one --seed, one run
    model = _build_model(args.model, model_kwargs, train, cfg.loss, test)
    from ..pipeline.prepare import check_device, check_forward  # bad labels/model/device: one line, before training

    check_device(cfg.device, "--device")
    check_fits(model, train, args, model_kwargs)
    try:
        check_forward(model, train, args.data, loss=cfg.loss, test=test)
    except ConfigError as err:
        raise model_error(err, args.model, model_kwargs) from None
    hooks = [_distill_hook(args)] if args.distill_teacher else []
    for hook in hooks:
        check_teacher(hook, model, train, _DISTILL_OPTIONS)
        check_alpha(hook.cfg.alpha, train, args.data)
    if hooks:  # as st.distill: never silently worse than the student alone (a NaN loss: one line, exit 1)
        final, history = _distill(hooks[0], model, train, test, cfg)
    else:
        history = fit(model, train, cfg, eval_data=test, hooks=hooks)  # a NaN loss: main() prints one line, exit 1
        final = history.model
    saved = io.save(final, out / "model", extra={"train": cfg.to_dict(), "history": history.to_dict(),
                                                  "classes": list(getattr(train, "classes", None) or []) or None,
                                                  "input_shape": list(train.x.shape[1:])})  # as `run` records it
    print(_table(args, train, test, history, final, saved))
    return 0


def _parse_kv(items: list[str]) -> dict[str, Any]:
    from ..config import check_finite_tree
    from .inputs import key_values

    out = key_values(items, "--model-arg", "widths=[2,16,2]")
    for key, value in out.items():
        check_finite_tree(f"--model-arg {key}", _spelled_floats(value))
    return out


def _spelled_floats(value: Any) -> Any:
    """``value`` with strings that spell a number as floats: YAML reads ``nan`` and ``inf`` as text."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _spelled_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_spelled_floats(v) for v in value]
    return value


def _build_model(name: str, kwargs: dict[str, Any], train: Any, loss: str, test: Any = None):
    from .. import models
    from . import UsageError
    from .train_checks import check_model_args

    if name not in models.names():
        raise UsageError(f"--model: unknown model {name!r}; allowed: {', '.join(models.names())}")
    check_model_args(name, kwargs)
    if name == "mlp" and "widths" not in kwargs:  # size the MLP to the data: [inputs, 128, classes]
        x, y = train.tensors if hasattr(train, "tensors") else train[0]
        per_row = y[0].numel()  # mse and bce compare one output with one target, even for class ids
        labels = [d.y for d in (train, test) if d is not None and len(d)]  # --limit 1 may see class 0 alone
        classes = max(int(t.max()) for t in labels) + 1 if loss == "cross_entropy" and not y.is_floating_point() \
            else per_row
        kwargs["widths"] = [math.prod(x.shape[1:]), 128, classes]
    try:
        return models.build(name, **kwargs)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--model {name}: {err}") from None
    except (RuntimeError, MemoryError) as err:  # widths=[64,10**11,10]: the allocation fails, say why in one line
        raise UsageError(f"--model-arg: building {name} with {kwargs} failed: {str(err).splitlines()[0]}") from None


def _distill_hook(args: argparse.Namespace):
    """The Distill hook the distillation flags describe (``--teacher`` given)."""
    from pathlib import Path

    from .. import io
    from ..config import ConfigError
    from ..distillation import Distill
    from . import UsageError
    from .folders import model_dir

    if Path(args.distill_teacher).is_dir():  # the --out of an earlier train, or a run directory, as prune/bench
        args.distill_teacher = str(model_dir(args.distill_teacher, "--teacher"))
    flags = args._distill_flags
    cfg = flags.build(args)
    try:
        with io.trusting(args.trust_factory):
            return Distill.from_config(cfg)
    except ConfigError as err:
        raise flags.usage_error(err) from None
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"--teacher: {err}") from None


def _distill(hook: Any, model: Any, train: Any, test: Any, cfg: Any) -> tuple[Any, Any]:
    """``st.distill`` with the flags' settings; its warning (distillation lost to the student alone) is one line."""
    import sys
    import warnings

    from ..training import fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        final = hook.drive(model, train, cfg, fit, test)
    for w in caught:
        if str(w.message).startswith("distillation was not better"):
            print(f"slimtorch: warning: {w.message}", file=sys.stderr, flush=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return final, hook.history


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem if ":" in name else name)


def _table(args: argparse.Namespace, train: Any, test: Any, history: Any, model: Any, saved: Path) -> str:
    from ..bench import count_params

    last = history.last()
    rows = [("model", args.model), ("data", f"{args.data} (train {len(train)}, test {len(test)})"),
            ("epochs", f"{len(history)}" + (" (stopped early)" if history.stopped_early else "")),
            ("optimizer", f"{args.optimizer} lr={args.lr} momentum={args.momentum}"
                          + (" nesterov" if args.nesterov else "") + f", schedule {args.schedule}"),
            ("train loss", f"{last['loss']:.4f}"), ("train accuracy", _pct(last["accuracy"])),
            ("test loss", f"{last['eval_loss']:.4f}"), ("test accuracy", _pct(last["eval_accuracy"])),
            ("parameters", f"{count_params(model):,}"), ("train seconds", f"{sum(history.seconds):.1f}"),
            ("samples/s (last epoch)", f"{last['samples_per_s']:.0f}"), ("saved to", str(saved))]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'metric'.ljust(width)} | value |", f"| {'-' * width} | ----- |"]
    return "\n".join(lines + [f"| {k.ljust(width)} | {v} |" for k, v in rows])


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.2f}%"
