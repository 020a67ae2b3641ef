"""``slimtorch prune MODEL --ratio R [--explain]``: channel-prune a zoo model or a saved one, verified.

MODEL is a zoo name (``slimtorch list`` shows them), a folder written by ``st.save``, the ``--out``
of ``slimtorch train``/``optimize`` or a run directory (its final stage: see ``folders.model_dir``). The model
is traced and verified on a random batch of ``--input-shape`` (default: the zoo model's own input,
or the shape the folder records). Prints the parameter counts before and after; ``--explain``
adds the coverage report (every group: pruned or kept, and why); ``--out DIR`` saves the result.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import UsageError
from .folders import ALLOWED, model_dir
from .inputs import TEXT_MODELS, random_batch, sentence_batch
from .outputs import check_writable, refuse_empty, refuse_foreign, refuse_overwrite, write_error

# per-sample input of the zoo models that take images or feature vectors
ZOO_INPUTS = {"mlp": "784", "lenet300": "784", "lenet5": "1,28,28", "lenet5_caffe": "1,28,28",
              "mnist_cnn": "1,28,28", "resnet_cifar": "3,32,32", "mobilenet_v2": "3,32,32"}


def zoo_input(name: str) -> list[int] | None:
    """The per-sample input shape a zoo model takes by default (None: not recorded)."""
    shape = ZOO_INPUTS.get(name)
    return [int(d) for d in shape.split(",")] if shape else None


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("prune", help="channel-prune a zoo model or a saved model (verified); --explain says why")
    p.add_argument("model", help="a zoo name (see `slimtorch list`), a folder written by st.save, the --out of "
                                 "train/optimize, or a run directory (its final stage)")
    p.add_argument("--ratio", type=float, default=0.5, help="fraction of each group's channels removed, in [0, 1)")
    p.add_argument("--importance", default="l2", choices=["l1", "l2", "bn_scale", "random"],
                   help="how channels are ranked (taylor needs labelled data: Python API only) (default: l2)")
    p.add_argument("--input-shape", default=None, metavar="C,H,W", help="per-sample input shape (batch of 2 traced)")
    p.add_argument("--explain", action="store_true", help="print, per group of layers, pruned or kept and why")
    p.add_argument("--out", default=None, metavar="DIR", help="save the pruned model there")
    p.add_argument("--force", action="store_true", help="let --out replace a model saved there earlier")
    p.add_argument("--trust-factory", action="store_true", help="allow a saved folder that names a factory")
    return p


def _model(args: argparse.Namespace):
    from .. import io, models

    if Path(args.model).is_dir() or args.model not in models.names():
        path = _folder(args.model, models.names())
        try:  # load first: it checks model.json (a list or broken JSON is one line) before anything reads it
            model = io.load(path, trust_factory=args.trust_factory)
        except ValueError as err:
            raise UsageError(f"model: cannot load {path}: {err}") from None
        _check_float(model, path)
        meta = json.loads((path / "model.json").read_text())
        known = ",".join(map(str, meta.get("extra", {}).get("input_shape") or []))
        extra = {k: v for k, v in meta.get("extra", {}).items() if k != "input_shape"}  # class names & co.
        return model, known, extra
    return models.build(args.model), ZOO_INPUTS.get(args.model), {}


def _check_float(model, path: Path) -> None:
    """A quantized model has no float channels to rank: pruning it would report a verified no-op."""
    from ..quantization.dynamic import is_int8

    if is_int8(model):
        raise UsageError(f"model: {path} is quantized (int8); channel pruning works on the float model: prune "
                         "before quantizing (a run's earlier stage folders hold the float models)")


def _folder(given: str, zoo: list[str]) -> Path:
    """The saved-model folder MODEL names; a name that is neither a folder nor a zoo model lists both."""
    if not Path(given).exists():
        raise UsageError(f"model: {given!r} is neither a zoo model nor a folder; allowed: {', '.join(zoo)}, "
                         f"or {ALLOWED.removeprefix('allowed: ')}")
    return model_dir(given, "model")


def _example(model, shape: str | None, given: str | None):
    """A batch of 2 the model takes: token ids of two sentences for the text encoder (random floats would
    reach its embedding), else seeded random samples of ``shape``."""
    from .. import io

    name = (io.get_spec(model) or {}).get("name")
    if name in TEXT_MODELS and not given:
        return sentence_batch(2)
    if name in TEXT_MODELS:
        raise UsageError(f"--input-shape: {name} takes token ids, not random floats of a shape; leave --input-shape "
                         "out (two sample sentences are traced)")
    return random_batch(shape, 2, "the model does not record its input shape; give e.g. --input-shape 3,32,32")


def run(args: argparse.Namespace) -> int:
    import warnings

    import torch

    from .. import api, bench
    from ..config import ConfigError
    from ..pruning import ChannelPrune, PruneWarning, report
    from .shapes import check_inputs

    try:
        cfg = ChannelPrune(ratio=args.ratio, importance=args.importance)
    except ConfigError as err:  # its field is the flag's name: ratio -> --ratio, importance -> --importance
        raise UsageError(f"--{err}") from None
    refuse_empty(args.out, "--out")
    if args.out:
        refuse_foreign(args.out, "--out", {"model.json", "model.safetensors"}, "model.json and model.safetensors")
        refuse_overwrite(args.out, "--out", args.force)
        check_writable(Path(args.out) / "model.json", "--out")
    model, known, extra = _model(args)  # known: the input shape the folder records, or the zoo model's own
    from_zoo = not (Path(args.model).is_dir() or args.model not in ZOO_INPUTS)
    x = _example(model, args.input_shape or known, args.input_shape)
    check_inputs(model.eval(), x, "--input-shape", [int(d) for d in known.split(",")] if known else None,
                 why=f"the zoo {args.model}'s input" if from_zoo else "the input shape saved with it")
    before = bench.count_params(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PruneWarning)
        try:
            model = api.prune(model.eval(), cfg, example_inputs=x)
        except ValueError as err:
            if not str(err).startswith("example_inputs"):  # not about the inputs: main() prints it as it is
                raise
            raise UsageError(f"--input-shape: {str(err).splitlines()[0]}") from None
    after = bench.count_params(model)
    print(f"params {before:,} -> {after:,} ({after / before:.3f} of the original); verified on input {tuple(x.shape)}")
    if args.explain:
        print(report(model))
    else:
        print(f"{len(caught)} parts kept with a warning; --explain lists every group and why")
    if args.out:
        from .. import io

        try:
            shape = {} if x.dtype == torch.long else {"input_shape": list(x.shape[1:])}  # token ids: no fixed length
            io.save(model, args.out, extra={**extra, **shape})
        except OSError as err:
            raise write_error(err, args.out, "--out") from None
        print(f"saved to {args.out}")
    return 0
