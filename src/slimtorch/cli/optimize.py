"""``slimtorch optimize MODEL --data D``: the fastest (or smallest) pruned model within an accuracy budget.

MODEL is a zoo name (trained here first, on the training rows the search does not validate on, with
the demo's training settings; on unlabeled data nothing can train it, so its shipped weights are the original:
``--model-arg pretrained=true``) or a folder written by ``st.save``, the ``--out`` of ``slimtorch train``/``optimize``
or a run directory (its final model; used as it is). Writes to ``--out`` (``model/`` records its input shape):
``model/``, ``optimized.yaml`` (``slimtorch run`` rebuilds the chosen model from it; not for a saved
folder, whose weights a recipe cannot load: the file and the last line say so), ``candidates.json``
and ``report.md`` / ``report.html``; ``original/`` (a trained zoo MODEL) and ``trials/`` (every finished
trial) let ``--resume`` continue an interrupted search. Ctrl-C keeps the best candidate found so far.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from . import UsageError
from .folders import model_dir
from .inputs import data_flag, data_options
from .outputs import check_writable, refuse_empty, refuse_foreign, refuse_overwrite
from .prune import zoo_input
from .train import _parse_kv
from .train_checks import check_model_args

TRAIN = {"epochs": 3, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
         "schedule": "cosine", "warmup_epochs": 0.2}  # the demo's baseline training
_FLOATS = ("data of float inputs (images, features): token ids are not searched; for a text encoder `slimtorch "
           "prune MODEL --ratio R` or a recipe's channel_prune + distill stages (slimtorch run)")
RECOVERY_LR = 0.01  # distillation's T^2-scaled loss diverges at the baseline's lr (as in the demo)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("optimize", help="search per-layer channel counts for the fastest/smallest model "
                                        "within an accuracy budget (measured latency)")
    p.add_argument("model", help="a zoo name (trained first; on unlabeled data its shipped weights, --model-arg "
                                 "pretrained=true), a folder written by st.save, the --out of train/optimize, or a "
                                 "run directory")
    p.add_argument("--data", required=True, help="dataset name for st.data.load (mnist, digits, ...)")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of the --data loader, value parsed as YAML (e.g. size=32 for images:DIR)")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="points of test accuracy the result may lose (unlabeled data: of top-1 agreement with the "
                        "original)")
    p.add_argument("--objective", default="latency", help="latency | size")
    p.add_argument("--batch-size", type=int, default=64, help="batch the latency is measured at")
    p.add_argument("--minutes", type=float, default=15.0,
                   help="time budget of the search, its setup included (timing the original, latency table, "
                        "sensitivity scan: cut when they would overrun, as the report's notes say); training a zoo "
                        "MODEL comes before it")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"baseline training epochs (zoo MODEL; default: {TRAIN['epochs']})")
    p.add_argument("--recovery-epochs", type=int, default=1, help="distillation epochs after the cuts")
    p.add_argument("--val-rows", type=int, default=None, help="validation rows split off the end of the training data")
    p.add_argument("--train-subset", type=int, default=None, help="use only the first N training rows (quick runs)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="zoo model argument, e.g. --model-arg depth=20 --model-arg in_channels=1")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/optimize-MODEL)")
    p.add_argument("--trust-factory", action="store_true", help="allow a saved folder that names a factory")
    p.add_argument("--no-int8", action="store_true", help="do not try the chosen model in int8 (per-layer fp32 "
                                                           "fallback; kept when smaller/faster within the budget)")
    p.add_argument("--safety", type=float, default=1.0,
                   help="standard errors of its validation drop a candidate must clear (the validation drop plus "
                        "safety x its paired standard error must stay within --max-drop); 0: the drop alone")
    p.add_argument("--no-share", action="store_true", help="objective size: do not try weight sharing (5/4 bits, "
                                                            "packed) of the chosen model")
    p.add_argument("--force", action="store_true", help="start over in an --out that holds an earlier result "
                                                         "(replacing its model)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search in --out: its trained "
                                                          "original and finished trials are reused (by hash)")
    return p


def _check(args: argparse.Namespace) -> None:
    from ..search import OBJECTIVES

    checks = [("--objective", args.objective in OBJECTIVES, f"one of {', '.join(OBJECTIVES)}"),
              ("--max-drop", 0 <= args.max_drop < 100, "a number in [0, 100)"),
              ("--batch-size", args.batch_size >= 1, "an integer >= 1"),
              ("--minutes", args.minutes > 0, "a number > 0"),
              ("--safety", args.safety >= 0, "a number >= 0 (standard errors)"),
              ("--epochs", args.epochs is None or args.epochs >= 1, "an integer >= 1"),
              ("--recovery-epochs", args.recovery_epochs >= 0, "an integer >= 0"),
              ("--val-rows", args.val_rows is None or args.val_rows >= 2, "an integer >= 2 (a standard error needs 2)"),
              ("--train-subset", args.train_subset is None or args.train_subset >= 2, "an integer >= 2")]
    for flag, ok, allowed in checks:
        if not ok:
            raise UsageError(f"{flag}: got {getattr(args, flag[2:].replace('-', '_'))!r}; allowed: {allowed}")


def _recipe(args: argparse.Namespace, saved: bool) -> dict[str, Any]:
    data = {"name": args.data, **({"options": data_options(args.data_option)} if args.data_option else {})}
    if args.train_subset:
        data["train_subset"] = args.train_subset
    raw = {"model": {"name": args.model, "kwargs": _parse_kv(args.model_arg)}, "data": data,
           "train": {**TRAIN, "epochs": args.epochs or TRAIN["epochs"]}, "stages": [] if saved else [{"train": {}}]}
    return raw


def _shipped(args: argparse.Namespace, raw: dict[str, Any], train: Any) -> str:
    """Unlabeled data cannot train a zoo MODEL: its shipped weights are the original (``pretrained: true`` in the
    recipe, which then has no train stage), or, for a model without any, one line says what would work. On
    labelled data ``pretrained=true`` also keeps the shipped weights as the original (training them from scratch's
    lr 0.1 would wreck them), and ``--epochs N`` fine-tunes them at the recovery's lr instead.
    Returns why the shipped weights are used as they are ("": they are trained here, or there are none)."""
    from .. import models
    from ..bench.fidelity import unlabeled

    name, kwargs = args.model, raw["model"]["kwargs"]
    if not unlabeled(train):
        if kwargs.get("pretrained") is not True:
            return ""
        if args.epochs is not None:  # fine-tune the shipped weights (the recipe trains at this lr too)
            raw["train"]["lr"] = RECOVERY_LR
            return ""
        _untrained(raw, args)
        return "pretrained=true: not retrained here; --epochs N fine-tunes them"
    shipped = [m for m in models.names() if "pretrained" in models.signature(m)]
    if not kwargs.get("pretrained", models.signature(name).get("pretrained", False)):
        hint = f" (--model-arg pretrained=true for {', '.join(shipped)})" if shipped else ""
        raise UsageError(f"--data: {args.data} has no labels, so the zoo {name} cannot be trained on it; allowed: "
                         f"labelled data, a trained model folder (slimtorch train --out, st.save), or a zoo model "
                         f"with shipped weights{hint}")
    if args.epochs is not None:
        raise UsageError(f"--epochs: nothing is trained here: on unlabeled data the original is {name}'s shipped "
                         "weights (pretrained); allowed: no --epochs")
    kwargs["pretrained"] = True  # explicit, so that `slimtorch run` knows the recipe's input is its own baseline
    _untrained(raw, args)
    return "unlabeled data: nothing to train it on"


def _untrained(raw: dict[str, Any], args: argparse.Namespace) -> None:
    """No stage trains the shipped weights: ``train:`` is then what the recovery stages ran with (lr 0.01, its
    epochs), not from-scratch training's lr 0.1, which a ``- train`` added to optimized.yaml would run on them."""
    raw["stages"] = []
    raw["train"] = {**TRAIN, "lr": RECOVERY_LR, "epochs": max(args.recovery_epochs, 1)}


def _original(args: argparse.Namespace, recipe: Any, fit_data: Any, test: Any, out: Path,
              expected: list[int] | None, shipped: str = "") -> Any:
    """Train the zoo original (kept in ``out/original`` so that ``--resume`` finds the same weights, whose
    hash names the finished trials), or with ``--resume`` load the one trained before; ``shipped`` (why): build
    it with its pretrained weights, untrained here."""
    from .. import io
    from ..config import ConfigError
    from ..pipeline.prepare import build_model
    from ..training import fit

    trained_with = _trained_with(recipe)
    if args.resume and not shipped and (out / "original" / "model.json").is_file():
        _same_training(out / "original", trained_with)
        print(f"resuming: the original trained before ({out / 'original'})", flush=True)
        return io.load(out / "original")
    try:
        model = build_model(recipe.model, seed=recipe.train.seed)
    except ConfigError as err:
        raise UsageError(f"--model-arg: {str(err).split(': ', 1)[-1]}" if args.model_arg else str(err)) from None
    _accepts(model, fit_data, args, expected, f"the zoo {args.model}'s input")
    _classes(model, (fit_data, test), args, saved=False)
    if shipped:
        _scores_the_labels(model, fit_data, args)
        print(f"the original: {args.model}'s shipped weights ({shipped})", flush=True)
        return model
    pretrained = (recipe.model.get("kwargs") or {}).get("pretrained")
    how = f"fine-tuning the shipped weights (lr {recipe.train.lr}) of" if pretrained else "training the original"
    print(f"{how} {args.model} on {len(fit_data)} rows ({recipe.train.epochs} epochs)", flush=True)
    fit(model, fit_data, recipe.train.replace(quiet=True))
    io.save(model, out / "original", extra={"trained_with": trained_with})
    return model


def _scores_the_labels(model: Any, data: Any, args: argparse.Namespace) -> None:
    """Shipped weights kept as the original on labelled data must know these labels: an ImageNet head scored
    against a folder's class ids 0, 1 is at 0% whatever the search does, and a budget on it means nothing."""
    import torch

    from ..bench.evaluate import evaluate
    from ..bench.fidelity import unlabeled
    from ..data.arrays import ArrayDataset
    from ..data.labels import num_classes

    classes = num_classes(data.y) if isinstance(getattr(data, "y", None), torch.Tensor) else None
    if unlabeled(data) or not classes:
        return
    rows = ArrayDataset(data.x[:512], data.y[:512], "check")
    acc = evaluate(model, rows)["accuracy"]
    if acc <= 1 / classes:
        raise UsageError(f"--data: {args.model}'s shipped weights score {100 * acc:.1f}% on these labels (chance "
                         f"{100 / classes:.1f}%): its classes are not your labels; allowed: --epochs N to fine-tune "
                         "them on your labels, unlabeled data (fidelity to the shipped model), or pretrained=false")


def _trained_with(recipe: Any) -> dict[str, Any]:
    """How the original is trained (model, data, training settings), as its model.json records it (JSON types)."""
    import json

    return json.loads(json.dumps({"model": recipe.model, "data": recipe.data.to_dict(),
                                  "train": recipe.train.to_dict()}, default=str))


def _same_training(folder: Path, now: dict[str, Any]) -> None:
    """``--resume`` reuses the original only when it was trained as this call would train it: other flags
    (--epochs 2 after 1) would leave an original that the written optimized.yaml does not reproduce."""
    import json

    then = json.loads((folder / "model.json").read_text()).get("extra", {}).get("trained_with")
    if then is None or then == now:  # an original saved before this was recorded: as before, reused
        return
    diff = [f"{part}.{k}: {then.get(part, {}).get(k)} there, {now[part].get(k)} now" for part in now
            for k in sorted(set(now[part]) | set(then.get(part, {}))) if then.get(part, {}).get(k) != now[part].get(k)]
    raise UsageError(f"--resume: {folder} was trained with other settings ({'; '.join(diff)}); allowed: the flags "
                     "of the search it continues, or --force to start over")


def _accepts(model: Any, data: Any, args: argparse.Namespace, expected: list[int] | None, why: str) -> None:
    """One forward pass on one row of ``data``: rows the model cannot take are one ``--data`` line, not a
    traceback from deep inside the search. Run in eval mode: a training-mode pass would move BatchNorm
    statistics. ``expected``: the input shape a saved folder records, or the zoo model's own; ``why`` says which."""
    from .shapes import check_inputs, zoo_fit_advice

    x = getattr(data, "x", None)
    x = x[:1] if x is not None else data[0][0].unsqueeze(0)
    advice = None if Path(args.model).exists() else (  # a zoo model: flags that fit it, not "its training data"
        lambda err: zoo_fit_advice(args.model, expected, list(x.shape[1:]), args.data, err))
    training = model.training
    try:
        check_inputs(model.eval(), x, "--data", expected, args.data, why, advice)
    finally:
        model.train(training)


def _classes(model: Any, splits: tuple[Any, Any], args: argparse.Namespace, saved: bool) -> None:
    """Labels past the model's outputs (class 11 of the zoo's default 10), negative or fractional ones are one line
    before any training, not an IndexError from the loss."""
    import torch

    from ..data.labels import bad_class_id, num_classes
    from ..distillation.validation import has_labels

    for d in splits:  # a negative or fractional label among real ones: the loss would raise mid-training
        if isinstance(d.y, torch.Tensor) and d.y.ndim == 1 and has_labels(d.y):
            value = bad_class_id(d.y)
            if value is not None:
                raise UsageError(f"--data: {args.data}: label {value:g} is not a class id; allowed: class "
                                 "ids 0, 1, ... (or no labels: -1 on every row)")
    classes = max((num_classes(d.y) or 0 for d in splits), default=0)  # unlabeled (all -1): 0
    if classes == 0:
        return
    training = model.training
    try:
        with torch.no_grad():
            out = model.eval()(splits[0].x[:1])
    finally:
        model.train(training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] >= classes:
        return
    what = f"--data: {args.data} has {classes} classes but the model gives {out.shape[1]} outputs per sample"
    if saved:
        raise UsageError(f"{what}; allowed: data of at most {out.shape[1]} classes (the saved model's)")
    from ..io import get_spec
    from .train_checks import class_advice

    kwargs = (get_spec(model) or {}).get("kwargs", {})
    raise UsageError(f"{what}; {class_advice(args.model, classes, out.shape[1], kwargs)}")


def _mlp_widths(raw: dict[str, Any], train: Any) -> bool:
    """Size a zoo ``mlp`` without ``widths`` to the data, as ``slimtorch train`` does: [inputs, 128, classes]
    (its default 784 inputs fit only MNIST). Returns whether it did (the recipe is then parsed again)."""
    import math

    kwargs = raw["model"]["kwargs"]
    if raw["model"]["name"] != "mlp" or "widths" in kwargs or train.y.is_floating_point() or len(train) == 0:
        return False
    if int(train.y.max()) < 0:  # unlabeled (text:FILE, images:DIR without subfolders): no class count to size to
        return False
    kwargs["widths"] = [math.prod(train.x.shape[1:]), 128, int(train.y.max()) + 1]
    return True


def _load(args: argparse.Namespace, recipe: Any) -> tuple[Any, Any]:
    """The --data rows. Token ids are refused: the search times random float batches (a late crash); a text file
    is refused before it is read (a short one's split advice, test_fraction=0, would not help here)."""
    from ..config import ConfigError
    from ..pipeline.prepare import load_data

    token_ids = f"--data: {args.data} holds integer inputs (token ids); allowed: {_FLOATS}"
    if args.data.startswith("text:") and Path(args.data[5:]).is_file():
        raise UsageError(token_ids)
    try:
        train, test = load_data(recipe.data, "the chosen model is checked on the test rows")
    except ConfigError as err:
        flag = data_flag(str(err), data_options(args.data_option))
        raise UsageError(f"{flag}: {str(err).split(': ', 1)[-1]}") from None
    if not train.x.is_floating_point():
        raise UsageError(token_ids)
    return train, test


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from .. import io, models
    from ..bench.limits import check_batch_sizes
    from ..pipeline.recipe import parse_recipe
    from ..search import optimize
    from ..search.optimize import split

    _check(args)
    saved = Path(args.model).exists()  # a folder of that name wins over a zoo name, as for prune and bench
    if not saved and args.model not in models.names():
        raise UsageError(f"model: {args.model!r} is neither a folder written by st.save nor a zoo model; "
                         f"allowed: {', '.join(models.names())} or a folder")
    for flag, given in (("--model-arg", args.model_arg), ("--epochs", args.epochs is not None)):
        if saved and given:  # they build and train a zoo MODEL: a saved one would silently ignore them
            raise UsageError(f"{flag}: only for a zoo MODEL; {args.model} is a folder here (a folder wins over a "
                             "zoo name) and its saved model is used as it is")
    refuse_empty(args.out, "--out")
    out = Path(args.out or f"runs/optimize-{Path(args.model).name}")
    refuse_foreign(out, "--out", {"model", "original", "trials", "candidates.json"},
                   "model/, original/, trials/, reports and optimized.yaml")
    if not args.resume:  # an earlier search's result (minutes of work) is never silently replaced
        refuse_overwrite(out / "model", "--out", args.force, other="--resume to continue its search")
    check_writable(out / "model" / "model.json", "--out")  # before training the original, not after
    raw = _recipe(args, saved)
    check_model_args(args.model, raw["model"]["kwargs"])  # pretrained=ture: a truthy string
    # model arguments may change what it takes; pretrained=true (the shipped weights) does not
    expected = None if set(raw["model"]["kwargs"]) - {"pretrained"} else zoo_input(args.model)
    if saved:
        folder = model_dir(args.model, "model")  # a train/optimize output or a run directory: its final model
        try:
            model = io.load(folder, trust_factory=args.trust_factory)
        except ValueError as err:
            raise UsageError(f"model: cannot load {folder}: {err}") from None
        from ..quantization.dynamic import is_int8

        if is_int8(model):  # no float channels to cut: the search would find "no channel group"
            raise UsageError(f"model: {folder} is quantized (int8); optimize searches the float model (and tries "
                             "int8 itself): give the float model (a run's earlier stage folders hold it)")
        raw["model"] = {"name": (io.get_spec(model) or {}).get("name", "?"), **(io.get_spec(model) or {})}
        expected = json.loads((folder / "model.json").read_text()).get("extra", {}).get("input_shape")
    recipe = parse_recipe({**raw, "stages": raw["stages"] or [{"measure": {}}]}, name="optimize")
    train, test = _load(args, recipe)
    shipped = not saved and _shipped(args, raw, train)
    if not saved and _mlp_widths(raw, train):
        recipe = parse_recipe({**raw, "stages": raw["stages"]}, name="optimize")
        expected = None
    elif shipped:  # pretrained, and no train stage
        recipe = parse_recipe({**raw, "stages": [{"measure": {}}]}, name="optimize")
    elif raw["train"]["lr"] != recipe.train.lr:  # shipped weights fine-tuned (--epochs): at the lower lr
        recipe = parse_recipe({**raw, "stages": raw["stages"] or [{"measure": {}}]}, name="optimize")
    try:  # before the original is trained: a typo'd batch must not take the machine's memory at timing
        check_batch_sizes([args.batch_size], train.x.shape[1:], "--batch-size")
    except ValueError as err:
        raise UsageError(str(err)) from None
    if len(train) < 3:  # no --val-rows helps: 2 rows validate (a standard error), at least 1 trains
        raise UsageError(f"--data: {args.data} has {len(train)} training row{'s' * (len(train) != 1)}; allowed: at "
                         "least 3 (2 to validate the search on, 1 to train on)")
    if len(test) == 0:  # the chosen model is checked on the test rows (read once): none would crash at the end
        flag = "--data-option" if "test_fraction" in data_options(args.data_option) else "--data"
        raise UsageError(f"{flag}: {args.data} has no test rows; the chosen model is checked on them; allowed: a "
                         "test split (test_fraction in (0, 1))")
    try:
        fit_data, _ = split(train, args.val_rows)
    except ValueError as err:  # the default tenth leaves too few rows to judge with, or --val-rows does not fit
        where = f"--data: {args.data} has" if args.val_rows is None else "--val-rows:"
        raise UsageError(f"{where} {str(err).removeprefix('val_rows: ').replace('val_rows=', '--val-rows ')}") from None
    if not args.resume:
        shutil.rmtree(out / "trials", ignore_errors=True)  # the journal of an earlier search here: start over
    if saved:
        _accepts(model, fit_data, args, expected, f"the input shape saved in {folder}")
        _classes(model, (train, test), args, saved=True)
    else:
        model = _original(args, recipe, fit_data, test, out, expected, shipped)
    torch.manual_seed(0)
    res = optimize(model, (train, test), objective=args.objective, batch_size=args.batch_size,
                   max_accuracy_drop=args.max_drop, budget_minutes=args.minutes, recovery_epochs=args.recovery_epochs,
                   train=recipe.train.replace(lr=RECOVERY_LR), val_rows=args.val_rows, recipe=raw,
                   resume_dir=out / "trials", int8=not args.no_int8, share=not args.no_share, safety=args.safety,
                   log=lambda msg: print(msg, flush=True))
    # the API's advice to pass recipe= is not for the CLI, which did: a pretrained model is its own baseline, and
    # for a saved folder optimized.yaml and the last line say that it does not reproduce the model
    res.notes = [n for n in res.notes if not n.startswith("optimized.yaml has no stage that trains")]
    paths = res.write(out)
    print(res.summary())
    how = f"reproduce: slimtorch run {paths['recipe']}"
    if saved:  # a recipe cannot load a saved folder: it rebuilds the architecture with fresh weights
        how = (f"optimized.yaml does not reproduce it: it starts from untrained {raw['model']['name']} weights, "
               f"not {args.model}'s")
        text = f"# NOTE: {how}; the chosen model is {out / 'model'}\n{paths['recipe'].read_text()}"
        io.atomic_write(paths["recipe"], lambda tmp: Path(tmp).write_text(text))
    print(f"wrote {out}: model/, optimized.yaml, candidates.json, report.md, report.html ({how})")
    return 0
