"""``slimtorch train``: train a zoo model on a dataset, evaluate, save, print a results table."""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

from ..training.config import LOSSES, OPTIMIZERS, SCHEDULES


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model (optimizers, schedules, clipping, checkpoints)",
                       description="Train a zoo model on a dataset, evaluate it on the test split, save it "
                                   "(safetensors + JSON) into OUT/model and print a results table.")
    p.add_argument("--model", required=True, help="zoo model name (see `slimtorch list`)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model keyword argument, value parsed as YAML: --model-arg widths=[2,16,2]")
    p.add_argument("--data", required=True, help="dataset name (see `slimtorch list`)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows of each split (quick runs)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--clip-norm", type=float, default=None)
    p.add_argument("--clip-value", type=float, default=None)
    p.add_argument("--clip-adaptive", type=float, default=None)
    p.add_argument("--schedule", choices=SCHEDULES, default="constant")
    p.add_argument("--warmup", type=float, default=0.0, metavar="EPOCHS", help="linear warmup length in epochs")
    p.add_argument("--loss", choices=LOSSES, default="cross_entropy")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE")
    p.add_argument("--no-shuffle", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice; 1 is fastest on a busy machine)")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    from ..distillation.cli_args import add_distill_arguments

    add_distill_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from .. import data as data_mod
    from .. import io
    from ..training import NonFiniteLossError, TrainConfig, fit
    from . import UsageError

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit: got {args.limit}; allowed: a positive number of rows")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads: got {args.threads}; allowed: 1 or more")
        import torch

        torch.set_num_threads(args.threads)
    model_kwargs = _parse_kv(args.model_arg)
    out = Path(args.out or f"runs/{_slug(args.model)}-{_slug(args.data)}")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                      momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
                      clip_norm=args.clip_norm, clip_value=args.clip_value, clip_adaptive=args.clip_adaptive,
                      schedule=args.schedule, warmup_epochs=args.warmup, loss=args.loss,
                      label_smoothing=args.label_smoothing, grad_accum=args.grad_accum, bf16=args.bf16,
                      early_stopping=args.early_stopping, shuffle=not args.no_shuffle, seed=args.seed,
                      device=args.device, quiet=args.quiet, out=str(out), resume=args.resume)
    try:
        train, test = data_mod.load(args.data, seed=args.seed, limit=args.limit)
    except ValueError as err:
        raise UsageError(f"--data: {err}") from None
    model = _build_model(args.model, model_kwargs, train)
    from ..pipeline.prepare import check_device, check_forward  # bad labels/model/device: one line, before training

    check_device(cfg.device, "--device")
    check_forward(model, train, args.data, loss=cfg.loss, test=test)
    hooks = [_distill_hook(args)] if args.teacher else []
    try:
        history = fit(model, train, cfg, eval_data=test, hooks=hooks)
    except NonFiniteLossError as err:
        print(f"slimtorch: error: {err}", file=sys.stderr)
        return 1
    final = history.model
    saved = io.save(final, out / "model", extra={"train": cfg.to_dict(), "history": history.to_dict(),
                                                  "classes": list(getattr(train, "classes", None) or []) or None})
    print(_table(args, train, test, history, final, saved))
    return 0


def _parse_kv(items: list[str]) -> dict[str, Any]:
    import yaml

    from . import UsageError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--model-arg: got {item!r}; expected KEY=VALUE, e.g. widths=[2,16,2]")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UsageError(f"--model-arg {key}: cannot parse {value!r} (YAML: a number, list or string)") from None
    return out


def _build_model(name: str, kwargs: dict[str, Any], train: Any):
    from .. import models
    from . import UsageError

    if name not in models.names():
        raise UsageError(f"--model: unknown model {name!r}; allowed: {', '.join(models.names())}")
    if name == "mlp" and "widths" not in kwargs:  # size the MLP to the data: [inputs, 128, classes]
        x, y = train.tensors if hasattr(train, "tensors") else train[0]
        classes = int(y.max()) + 1 if not y.is_floating_point() else (y.shape[1] if y.ndim > 1 else 1)
        kwargs["widths"] = [math.prod(x.shape[1:]), 128, classes]
    try:
        return models.build(name, **kwargs)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--model {name}: {err}") from None


def _distill_hook(args: argparse.Namespace):
    from ..config import ConfigError
    from ..distillation.cli_args import distill_hook_from_args
    from . import UsageError

    try:
        return distill_hook_from_args(args)
    except ConfigError as err:
        raise UsageError(f"--{err.path or 'teacher'}: {str(err).split(': ', 1)[-1]}") from None
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"--teacher: {err}") from None


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
