"""st.distill on real MNIST (issue 11): distillation that never ends worse than the student alone, and
label-free recovery of a pruned network. Sections of benchmarks/results/distillation.json (others kept).

1. ``never_worse``: the issue's case. A 784-30-30-10 student trained alone, with
   ``st.fit(..., hooks=[st.Distill(cnn, temperature=4, alpha=0.9)])`` (the case that hurt) and with
   ``st.distill`` at the same settings (it also trains the student alone on 90% of the rows, keeps the
   better on the other 10% and retrains it on all rows); teacher: the zoo's ``mnist_cnn`` with ccexam's
   99.05% weights. Same epochs, initial weights and seed for each; three seeds. ``--auto`` adds
   ``st.distill(alpha="auto")`` (seed 0) to the section measured before.
2. ``label_free``: ``mnist_cnn`` with 70% of its channels removed (``st.ChannelPrune(ratio=0.7)``), then
   ``st.distill(..., st.Distill(cnn, alpha=1.0))`` on training images whose labels are never read; top-1
   agreement with the original and accuracy on held-out test images, before and after, and the report
   (validation fidelity per epoch, kept epoch).

Settings: Adam 1e-3, batch 256, cosine (benchmarks/distillation.py's RECIPE), torch threads pinned (--threads).
Usage: ``python benchmarks/distillation_recovery.py [--quick] [--auto] [--label-free] [--threads N]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings

import torch
from torch import nn

import slimtorch as st
from distillation import RECIPE, RESULTS, errors
from slimtorch.bench.fidelity import fidelity
from slimtorch.distillation import Distill
from slimtorch.models import build
from slimtorch.training import TrainConfig, fit


class Unflatten(nn.Module):
    """Flat 784-pixel rows -> (N, 1, 28, 28) images, so the CNN teacher reads the MLP student's inputs."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(len(x), 1, 28, 28))


def never_worse(train_set, test, epochs: int, seeds: tuple[int, ...], log) -> dict:
    """The issue's case: a 30-30 MLP student from a 99% CNN; st.distill's default must not end worse than alone."""
    teacher = Unflatten(build("mnist_cnn", pretrained=True)).eval()
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        init = build("mlp", widths=[784, 30, 30, 10])
        cfg = TrainConfig(epochs=epochs, seed=seed, quiet=True, **RECIPE)
        alone, naive = copy.deepcopy(init), copy.deepcopy(init)
        fit(alone, train_set, cfg)
        fit(naive, train_set, cfg, hooks=[Distill(teacher, temperature=4.0, alpha=0.9, cache=True)])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kd = Distill(teacher, temperature=4.0, alpha=0.9, cache=True)
            ours = st.distill(copy.deepcopy(init), train_set, kd, cfg)
        report = st.distill_report(ours)
        row = {"seed": seed, "alone": errors(alone, test), "st.fit + Distill": errors(naive, test),
               "st.distill (default)": errors(ours, test), "choice": report["choice"],
               "val_accuracy": report["val_accuracy"], "warned": any("distillation" in str(w.message) for w in caught)}
        rows.append(row)
        log(f"never-worse seed {seed}: {row}")
    return {"teacher": "mnist_cnn (ccexam, 99.05%)", "teacher_errors": errors(teacher, test), "student": "784-30-30-10",
            "temperature": 4.0, "alpha": 0.9, "epochs": epochs, "recipe": RECIPE, "rows": rows,
            "never_worse": all(r["st.distill (default)"] <= r["alone"] for r in rows)}


def auto_alpha(train_set, test, epochs: int, seed: int) -> dict:
    """st.distill(alpha="auto") on the issue's case: the student alone and four (alpha, T) pairs on the val split."""
    teacher = Unflatten(build("mnist_cnn", pretrained=True)).eval()
    torch.manual_seed(seed)
    student = build("mlp", widths=[784, 30, 30, 10])
    cfg = TrainConfig(epochs=epochs, seed=seed, quiet=True, **RECIPE)
    out = st.distill(student, train_set, Distill(teacher, alpha="auto", cache=True), cfg)
    return {"seed": seed, "epochs": epochs, "errors": errors(out, test), **st.distill_report(out)}


def print_never_worse(result: dict) -> None:
    print(f"\n## Distillation that never silently hurts (teacher {result['teacher']}: {result['teacher_errors']} "
          f"errors; student {result['student']}, T={result['temperature']}, alpha={result['alpha']}, "
          f"{result['epochs']} epochs)\n")
    print("| seed | alone | st.fit + Distill | st.distill (default) | kept | val acc alone / KD |")
    print("|---|---|---|---|---|---|")
    for r in result["rows"]:
        v = r["val_accuracy"]
        print(f"| {r['seed']} | {r['alone']} | {r['st.fit + Distill']} | {r['st.distill (default)']} | {r['choice']} | "
              f"{100 * v['alone']:.2f}% / {100 * v['distill']:.2f}% |")
    print(f"\nst.distill never worse than the student alone (test errors): {result['never_worse']}")
    auto = result.get("auto")
    if auto:
        print(f"\nalpha='auto', seed {auto['seed']}: {auto['errors']} test errors, kept {auto['choice']}; "
              f"validation accuracy: {auto['val_accuracy']}")


def label_free(train_img, test_img, rows: int, epochs: int, ratio: float = 0.7) -> dict:
    """Prune mnist_cnn, then recover it from unlabeled images; fidelity and accuracy on held-out test images."""
    teacher = build("mnist_cnn", pretrained=True).eval()
    unlabeled = train_img.x[:rows]  # only the inputs: st.distill never sees a label
    small = st.prune(copy.deepcopy(teacher), st.ChannelPrune(ratio=ratio), example_inputs=unlabeled[:2])
    before = {**fidelity(small, teacher, test_img), "accuracy": st.bench.evaluate(small, test_img)["accuracy"]}
    cfg = TrainConfig(epochs=epochs, seed=0, quiet=True, **RECIPE)
    t0 = time.perf_counter()
    out = st.distill(small, unlabeled, Distill(teacher, alpha=1.0, cache=True), cfg)
    seconds = time.perf_counter() - t0
    after = {**fidelity(out, teacher, test_img), "accuracy": st.bench.evaluate(out, test_img)["accuracy"]}
    return {"ratio": ratio, "unlabeled_rows": rows, "epochs": epochs, "recipe": RECIPE, "seconds": seconds,
            "params": {"original": sum(p.numel() for p in teacher.parameters()),
                       "pruned": sum(p.numel() for p in out.parameters())},
            "teacher_accuracy": st.bench.evaluate(teacher, test_img)["accuracy"], "held_out_rows": len(test_img),
            "before": before, "after": after, "report": st.distill_report(out)}


def print_label_free(r: dict) -> None:
    print(f"\n## Label-free recovery: mnist_cnn, ChannelPrune({r['ratio']}) ({r['params']['original']} -> "
          f"{r['params']['pruned']} params), {r['unlabeled_rows']} unlabeled images, {r['epochs']} epochs max\n")
    print("| model | top-1 agreement | KL | test accuracy |\n|---|---|---|---|")
    print(f"| original | 100% | 0 | {100 * r['teacher_accuracy']:.2f}% |")
    for name in ("before", "after"):
        m = r[name]
        print(f"| pruned, {name} recovery | {100 * m['agreement_top1']:.2f}% | {m['kl']:.4f} | "
              f"{100 * m['accuracy']:.2f}% |")
    rep = r["report"]
    print(f"\nkept epoch {rep['kept_epoch']} of {len(rep['val_fidelity']) - 1} "
          f"(stopped early: {rep['stopped_early']}); recovery took {r['seconds']:.0f}s; "
          f"held-out test rows {r['held_out_rows']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer rows, epochs and seeds")
    parser.add_argument("--auto", action="store_true", help="only add st.distill(alpha='auto') (seed 0) to never_worse")
    parser.add_argument("--label-free", action="store_true", help="only the label-free section")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t_start:6.0f}s] {msg}", flush=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    new = {}
    if args.label_free:
        train_img, test_img = st.data.load("mnist")
        rows, epochs = (2000, 2) if args.quick else (5000, 8)
        new["label_free"] = label_free(train_img, test_img, rows, epochs)
        new["label_free"].update(quick=args.quick, threads=args.threads)
        print_label_free(new["label_free"])
    else:
        n_train, epochs, seeds = (10_000, 2, (0,)) if args.quick else (50_000, 8, (0, 1, 2))
        train_flat, test_flat = st.data.load("mnist", flatten=True)
        if args.auto:  # added to the section measured before (same data, epochs and recipe)
            result = dict(old["never_worse"])
            result["auto"] = auto_alpha(train_flat.subset(result["train_rows"]), test_flat, result["epochs"], seeds[0])
        else:
            result = never_worse(train_flat.subset(n_train), test_flat, epochs, seeds, log)
            result.update(quick=args.quick, threads=args.threads, train_rows=n_train,
                          seconds=time.perf_counter() - t_start)
        new["never_worse"] = result
        print_never_worse(result)
    RESULTS.write_text(json.dumps({**old, **new}, indent=2, default=str))


if __name__ == "__main__":
    main()
