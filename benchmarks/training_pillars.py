"""Training pillars on MNIST: each technique shown doing what it claims, within a fixed budget.

1. Optimizers: GD (one full-batch step per epoch) vs SGD vs momentum vs Nesterov vs Adam: test
   accuracy after the same number of epochs and the training time to first reach 97%.
2. Batch normalization: a 3x100 sigmoid MLP with and without BatchNorm, accuracy after 1 epoch.
3. Shuffling: seeded per-epoch shuffling vs the same data sorted by class and not shuffled.
4. Learning-rate decay: constant vs cosine-decayed learning rate (same peak).
5. Gradient clipping: a deliberately too-high learning rate, without clipping (diverges) and with
   clip_norm=1 (trains).
6. (full mode) LeNet-5, 3 epochs, SGD + Nesterov + clipping + cosine with warmup: target >= 99.0%.

Full mode uses LeNet-5 on all 60k rows for (1); quick mode uses a 784-128-10 MLP on a 10k-row subset
(numbers are then only comparable within the run). Usage:
``python benchmarks/training_pillars.py [--quick] [--threads N]``; writes
benchmarks/results/training_pillars.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.data.arrays import ArrayDataset
from slimtorch.training import NonFiniteLossError

RESULTS = Path(__file__).parent / "results" / "training_pillars.json"


def run(pillar: str, setting: str, model: torch.nn.Module, train, test, **cfg) -> dict:
    """Train with st.fit; returns final test accuracy/loss, seconds, time to 97%, or the divergence."""
    config = st.TrainConfig(quiet=True, device="cpu", seed=0, **cfg)
    row = {"pillar": pillar, "setting": setting, "epochs": config.epochs}
    try:
        hist = st.fit(model, train, config, eval_data=test)
    except NonFiniteLossError as err:
        return {**row, "accuracy": math.nan, "loss": math.nan, "seconds": math.nan, "to_97_s": None,
                "note": f"diverged: loss {err.value} at epoch {err.epoch}, step {err.step}"}
    elapsed, to97 = 0.0, None
    for acc, sec in zip(hist.eval_accuracy, hist.seconds):
        elapsed += sec
        if to97 is None and acc >= 0.97:
            to97 = elapsed
    return {**row, "accuracy": hist.eval_accuracy[-1], "loss": hist.eval_loss[-1], "seconds": sum(hist.seconds),
            "to_97_s": to97, "note": f"train loss {hist.loss[0]:.3f} -> {hist.loss[-1]:.3f}"}


def mlp(widths, seed=0, **kw):
    torch.manual_seed(seed)
    return st.models.build("mlp", widths=widths, **kw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test = st.data.load("mnist", limit=10000 if args.quick else None)
    if args.quick:
        test = test.subset(2000)
    epochs = 3 if args.quick else 5
    rows = []

    def base_model():
        if args.quick:
            return mlp([784, 128, 10])
        torch.manual_seed(0)
        return st.models.build("lenet5")

    opt = dict(epochs=epochs, batch_size=128)
    rows.append(run("optimizer", "GD (full batch, lr 0.5)", base_model(), train, test,
                    **{**opt, "batch_size": 2048}, optimizer="gd", lr=0.5))
    rows.append(run("optimizer", "SGD (lr 0.05)", base_model(), train, test, **opt, lr=0.05))
    rows.append(run("optimizer", "SGD + momentum 0.9 (lr 0.05)", base_model(), train, test, **opt, lr=0.05,
                    momentum=0.9))
    rows.append(run("optimizer", "SGD + Nesterov 0.9 (lr 0.05)", base_model(), train, test, **opt, lr=0.05,
                    momentum=0.9, nesterov=True))
    rows.append(run("optimizer", "Adam (lr 1e-3)", base_model(), train, test, **opt, optimizer="adam", lr=1e-3))

    deep = [784, 100, 100, 100, 10]
    for bn in (False, True):
        rows.append(run("batchnorm", f"3x100 sigmoid MLP, {'with' if bn else 'no'} BatchNorm, 1 epoch",
                        mlp(deep, activation="sigmoid", batchnorm=bn), train, test, epochs=1, batch_size=64,
                        lr=0.1, momentum=0.9))

    order = torch.argsort(train.y, stable=True)
    sorted_train = ArrayDataset(train.x[order], train.y[order], "mnist-sorted")
    rows.append(run("shuffling", "seeded shuffle every epoch", mlp([784, 128, 10]), train, test, epochs=2,
                    batch_size=128, lr=0.05, momentum=0.9))
    rows.append(run("shuffling", "class-sorted, shuffle=False", mlp([784, 128, 10]), sorted_train, test, epochs=2,
                    batch_size=128, lr=0.05, momentum=0.9, shuffle=False))

    lr_cfg = dict(epochs=epochs, batch_size=128, lr=0.2, momentum=0.9)
    rows.append(run("lr decay", "constant lr 0.2", mlp([784, 128, 10]), train, test, **lr_cfg))
    rows.append(run("lr decay", "cosine 0.2 -> 0", mlp([784, 128, 10]), train, test, **lr_cfg, schedule="cosine"))

    hot = dict(epochs=2, batch_size=128, lr=3.0, momentum=0.9)
    rows.append(run("clipping", "lr 3.0, no clipping", mlp([784, 128, 10]), train, test, **hot))
    rows.append(run("clipping", "lr 3.0, clip_norm 0.1", mlp([784, 128, 10]), train, test, **hot, clip_norm=0.1))

    if not args.quick:
        torch.manual_seed(0)
        rows.append(run("lenet5 target", "LeNet-5 3 epochs, Nesterov + clip 1 + cosine, warmup 0.5",
                        st.models.build("lenet5"), train, test, epochs=3, batch_size=128, lr=0.1, momentum=0.9,
                        nesterov=True, clip_norm=1.0, schedule="cosine", warmup_epochs=0.5))

    what = "MLP 784-128-10, 10k train rows, 2k test rows" if args.quick else "LeNet-5, full MNIST"
    print(f"## Training pillars (optimizers: {what}; torch threads={args.threads})\n")
    print("| pillar | setting | epochs | test acc | test loss | train s | s to 97% | note |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        to97 = "not reached" if r["to_97_s"] is None else f"{r['to_97_s']:.1f}"
        print(f"| {r['pillar']} | {r['setting']} | {r['epochs']} | {100 * r['accuracy']:.2f}% | {r['loss']:.4f} | "
              f"{r['seconds']:.1f} | {to97} | {r['note']} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"mode": "quick" if args.quick else "full", "threads": args.threads, "rows": rows},
                                  indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
