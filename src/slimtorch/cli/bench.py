"""``slimtorch bench PATH [--data NAME]``: measure a saved model on every available backend.

PATH is a folder written by ``st.save`` (a run's ``stages/NN-name`` folders are such folders), the
``--out`` of ``slimtorch train``/``optimize`` (its ``model/``) or a run directory (its final model). Prints params,
bytes on disk, MACs, accuracy when data is given, and latency per backend and batch size (interleaved,
median of repeats).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..bench.limits import check_batch_sizes
from . import UsageError
from .folders import model_dir, rebuild_input, run_input
from .inputs import TEXT_MODELS, data_flag, data_options, random_batch, sentence_batch
from .outputs import check_writable, refuse_empty, write_error
from .shapes import check_inputs


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="measure a saved model: size, MACs, accuracy, latency per backend")
    p.add_argument("path", help="folder written by st.save, the --out of train/optimize, or a run directory")
    p.add_argument("--data", default=None, help="dataset for accuracy and real inputs (e.g. mnist, digits)")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of the --data loader, value parsed as YAML (e.g. size=96 for images:DIR)")
    p.add_argument("--input-shape", default=None, metavar="C,H,W",
                   help="per-sample input shape when no --data is given and the model does not record it")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64], metavar="N",
                   help="batch sizes to time (default: 1 64)")
    p.add_argument("--backends", nargs="+", default=["eager", "onnxruntime"], choices=["eager", "onnxruntime"],
                   help="where to run it besides torch eager (default: eager onnxruntime)")
    p.add_argument("--repeats", type=int, default=20, help="interleaved timing rounds per batch size (default: 20)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the measurements as JSON")
    p.add_argument("--trust-factory", action="store_true",
                   help="allow a saved model whose model.json names a factory ('package.module:function'): "
                        "that imports and runs the named code (default: zoo models only)")
    return p


def _example(args: argparse.Namespace, meta: dict):
    if args.data:
        from ..config import ConfigError
        from ..pipeline.prepare import load_data
        from ..recipe import DataConfig

        try:
            _, test = load_data(DataConfig(name=args.data, options=data_options(args.data_option)),
                                "bench measures on the test split")
        except ConfigError as err:
            text = str(err).split(": ", 1)[-1]
            raise UsageError(f"{data_flag(str(err), data_options(args.data_option))}: {text}") from None
        if len(test.x) == 0:  # text:FILE takes test_fraction=0: an empty batch would "reject" the model
            given = data_options(args.data_option).get("test_fraction")
            why = "" if given is None else f" (test_fraction={given})"
            raise UsageError(f"--data: {args.data} leaves no test rows{why}; "
                             "bench measures on the test split: give a test_fraction in (0, 1) and enough rows for "
                             "both splits")
        return test.x[:64].clone(), test
    name = meta.get("spec", {}).get("name")
    if name in TEXT_MODELS and not args.input_shape:  # token ids, not floats
        return sentence_batch(64), None
    if name in TEXT_MODELS:
        raise UsageError(f"--input-shape: {name} takes token ids, not random floats of a shape; leave --input-shape "
                         "out (two sample sentences are timed) or give --data text:FILE (one sentence a line)")
    shape = args.input_shape or ",".join(map(str, meta.get("extra", {}).get("input_shape") or [])) or None
    return random_batch(shape, 64, "the model does not record its input shape; give --data or --input-shape"), None


def _check_batch_sizes(batch_sizes: list[int], example) -> None:
    """The largest timed batch fits the random-batch bound, checked before it is built (10^9 rows of 4 values
    took the machine's memory)."""
    try:
        check_batch_sizes(batch_sizes, example.shape[1:], "--batch-sizes")
    except ValueError as err:
        raise UsageError(str(err)) from None


def _check_classes(meta: dict, test) -> None:
    """Refuse data whose string labels name other classes than the model's: the same id would mean
    another class, and the accuracy would be silently wrong."""
    mine = meta.get("extra", {}).get("classes")
    theirs = getattr(test, "classes", None)
    if mine and theirs and list(mine) != list(theirs):
        raise UsageError(f"--data: its labels are {list(theirs)} but the model was trained on {list(mine)}; "
                         "class ids would not match, so accuracy would be wrong; give data with the same labels")


def _check_label_range(model, test, data: str) -> None:
    """Refuse labels a classifier cannot score (a class id past its outputs, a negative or fractional one):
    cross-entropy would raise mid-measurement (IndexError, a traceback) or the accuracy would mean nothing.
    Unlabeled rows (all -1) and targets of a non-classifier (one output, rows of targets) pass."""
    import torch

    from ..data.labels import bad_class_id
    from ..distillation.validation import has_labels

    y = getattr(test, "y", None)
    if y is None or y.ndim != 1 or not has_labels(y):
        return
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(test.x[:1])
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] < 2:
        return
    width = out.shape[1]
    value = bad_class_id(y, width)
    if value is not None:
        what = "is not a class id, but the model" if value != round(value) else "is not a class of the model, which"
        raise UsageError(f"--data: {data}: label {value:g} {what} gives {width} class scores; "
                         f"allowed: class ids 0..{width - 1}")


def run(args: argparse.Namespace) -> int:
    import tempfile

    if any(b < 1 for b in args.batch_sizes):
        raise UsageError(f"--batch-sizes: got {args.batch_sizes}; allowed: integers >= 1")
    if args.repeats < 1:
        raise UsageError(f"--repeats: got {args.repeats}; allowed: an integer >= 1")
    if args.data and args.input_shape:  # the data's own shape is used: the flag would be silently ignored
        raise UsageError("--input-shape: given with --data, whose samples set the shape; give one of them")
    if data_options(args.data_option) and not args.data:
        raise UsageError("--data-option: given without --data; it sets an option of the --data loader")
    refuse_empty(args.json, "--json")
    if args.json:
        check_writable(args.json, "--json")  # before minutes of timing, not after
    with tempfile.TemporaryDirectory() as rebuilt:
        return _bench(args, rebuilt)


def _bench(args: argparse.Namespace, rebuilt: str) -> int:
    import tempfile

    from ..config import ConfigError
    from ..io import load
    from ..pipeline.measure import measure_models
    from ..pipeline.measure_stage import disk_bytes

    recipe = run_input(args.path)  # a run whose stages saved no model: bench the recipe's model, rebuilt
    if recipe is not None:
        folder = rebuild_input(Path(args.path), recipe, Path(rebuilt) / "input", args.trust_factory)
        name = recipe["model"].get("name") or recipe["model"].get("factory")
        print(f"{args.path}: its stages saved no model; benching the recipe's model ({name}), rebuilt from "
              f"{Path(args.path) / 'metrics.json'} as the run built it", flush=True)
    else:
        folder = model_dir(args.path)
    try:
        model = load(folder, trust_factory=args.trust_factory)
    except ValueError as err:
        raise UsageError(f"path: cannot load {folder}: {err}") from None
    meta = json.loads((folder / "model.json").read_text())  # checked by load
    example, test = _example(args, meta)
    _check_batch_sizes(args.batch_sizes, example)
    name = meta.get("spec", {}).get("name")
    text = f"{name} is a text encoder, which takes token ids: give --data text:FILE (one sentence a line)"
    check_inputs(model, example, "--data" if args.data else "--input-shape",  # a sentence's length is no shape
                 None if name in TEXT_MODELS else meta.get("extra", {}).get("input_shape"), args.data or "",
                 advice=text if name in TEXT_MODELS else None)
    _check_classes(meta, test)
    _check_label_range(model, test, args.data or "")
    label = meta.get("extra", {}).get("stage") or folder.name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure_models({label: model}, label, example, eval_data=test,
                                    batch_sizes=tuple(args.batch_sizes), backends=tuple(dict.fromkeys(
                                        ["eager", *args.backends])), repeats=args.repeats, work_dir=Path(tmp),
                                    disk_bytes={label: disk_bytes(folder)})
    except RuntimeError as err:
        raise ConfigError("--data" if args.data else "--input-shape",
                          f"the model rejects these inputs: {str(err).splitlines()[0]}") from None
    print(format_bench(Path(args.path) if recipe is not None else folder, result))
    if args.json:
        from ..io import write_json

        try:
            write_json(args.json, result)
        except OSError as err:
            raise write_error(err, args.json, "--json") from None
    return 0


def format_bench(folder: Path, result: dict) -> str:
    """A size/work summary, then latency per backend and batch size (median ±IQR, min) with the speedup
    vs eager; a batch whose timing stayed doubtful shows "doubtful" instead of ratios, and says why."""
    from ..bench.report import doubt_lines

    row = result["rows"][0]
    acc = "-" if row.get("accuracy") is None else f"{100 * row['accuracy']:.2f}%"
    lines = [f"model            {folder}", f"test accuracy    {acc}", f"params           {row['params']:,}",
             f"nonzero params   {row['nonzero_params']:,}", f"bytes on disk    {row['bytes_on_disk']:,}",
             f"MACs / sample    {'-' if row.get('macs') is None else format(row['macs'], ',')}", ""]
    batches = [str(b) for b in result["batch_sizes"]]
    doubtful = result.get("doubtful") or {}
    header = ["backend"] + [f"ms @{b}" for b in batches] + [f"vs eager @{b}" for b in batches]
    body = []
    eager = row["latency_ms"].get("eager", {})
    for backend, ms in row["latency_ms"].items():
        spread = (row.get("latency") or {}).get(backend, {})
        body.append([backend] + [_ms(ms[b], spread.get(b)) for b in batches]
                    + ["doubtful" if b in doubtful else f"{eager[b] / ms[b]:.2f}x" if eager.get(b) else "-"
                       for b in batches])
    for backend, why in (row.get("unavailable") or {}).items():
        body.append([backend] + ["n/a"] * (2 * len(batches)) + [f"({why})"])
    widths = [max(len(r[i]) for r in [header, *body] if i < len(r)) for i in range(len(header))]
    lines += ["  ".join(f"{c:<{w}}" for c, w in zip(r, widths)) + ("  " + r[-1] if len(r) > len(header) else "")
              for r in [header, *body]]
    lines.append(result["note"].split(";")[0])  # how latency was measured, threads stated
    return "\n".join(lines + doubt_lines({"measure": result}))


def _ms(median: float, timing: dict | None) -> str:
    """``median ±IQR (min m)`` in ms, or the median alone when the dispersion was not kept."""
    if not timing:
        return f"{median:.3f}"
    return f"{median:.3f} ±{timing['iqr']:.3f} (min {timing['min']:.3f})"
