"""Recovery without training data: a pruned network distilled on inputs dreamed from its BatchNorm statistics.

A ResNet (``resnet_cifar``, BatchNorm after every conv) is trained on MNIST; half of its channels are removed
(``ChannelPrune(ratio=0.5)``, no reconstruction: the pruned copy agrees with the original on ~10% of the
test digits); then the pruned copy is recovered by label-free distillation from the original
(``st.Distill(alpha=1)``, Adam, a held-out fifth of the inputs picks the best epoch) on, in turn:

* ``dreamed`` - ``st.data.dream(original, N)``: no real input at all (the value range is the normalised
  pixel range [0, 1]);
* ``real`` - N training digits (what a user with data would use: the yardstick);
* ``few real`` - 64 training digits only (a user with a handful of inputs);
* ``few real + dreamed`` - those 64 and N - 64 dreamed inputs;
* ``noise`` - N Gaussian noise inputs (the control: what recovery learns from inputs that mean nothing).

Reported on the 10,000 test digits: top-1 agreement with the original and test accuracy (labels are read only
here), with the seconds dreaming and recovery took. Everything runs on one torch thread.

Usage: ``python benchmarks/data_free.py [--quick] [--n 512] [--steps 200]``; writes the ``"resnet_mnist"``
section of benchmarks/results/data_free.json.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.bench.fidelity import fidelity
from slimtorch.data import MNIST_MEAN, MNIST_STD, ArrayDataset

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_section  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "data_free.json"
FEW = 64


def teacher(depth: int, rows: int, epochs: int) -> tuple[torch.nn.Module, ArrayDataset, ArrayDataset]:
    """A resnet_cifar trained on the first ``rows`` MNIST training digits; also the train and test sets."""
    train, test = st.data.load("mnist")
    torch.manual_seed(0)
    model = st.models.build("resnet_cifar", depth=depth, in_channels=1, num_classes=10)
    cfg = st.TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, quiet=True, seed=0)
    st.fit(model, ArrayDataset(train.x[:rows], train.y[:rows], "mnist-train"), cfg)
    return model.eval(), train, test


def recover(original, inputs: torch.Tensor, epochs: int) -> torch.nn.Module:
    """The half-width copy of ``original`` distilled on ``inputs`` (labels never read)."""
    small = st.prune(copy.deepcopy(original), st.ChannelPrune(ratio=0.5), example_inputs=inputs[:2])
    cfg = st.TrainConfig(epochs=epochs, batch_size=64, optimizer="adam", lr=1e-3, quiet=True, seed=0)
    return st.distill(small, inputs, st.Distill(original, alpha=1.0), cfg).eval()


def scores(model, original, test: ArrayDataset) -> dict:
    agree = fidelity(model, original, test, kind="classifier")["agreement_top1"]
    with torch.no_grad():
        acc = float((model(test.x).argmax(1) == test.y).float().mean())
    return {"agreement_top1": round(agree, 4), "test_acc": round(acc, 4)}


def run(n: int, steps: int, depth: int, rows: int, epochs: int, recovery_epochs: int) -> dict:
    start = time.perf_counter()
    original, train, test = teacher(depth, rows, epochs)
    out = {"model": f"resnet_cifar depth {depth} (MNIST, {rows} rows, {epochs} epochs)",
           "train_s": round(time.perf_counter() - start, 1), "original": scores(original, original, test),
           "n": n, "steps": steps, "recovery_epochs": recovery_epochs, "threads": torch.get_num_threads()}
    pruned = st.prune(copy.deepcopy(original), st.ChannelPrune(ratio=0.5), example_inputs=test.x[:2])
    out["pruned, not recovered"] = scores(pruned, original, test)
    pixels = ((0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD)
    start = time.perf_counter()
    dreamed = st.data.dream(original, n, (1, 28, 28), value_range=pixels, steps=steps, batch_size=128).x
    out["dream_s"] = round(time.perf_counter() - start, 1)
    few = train.x[-FEW:]  # rows the original never trained on
    cases = {"dreamed": dreamed, "real": train.x[-n:], f"few real ({FEW})": few,
             f"few real ({FEW}) + dreamed": torch.cat([few, dreamed[:n - FEW]]),
             "noise": torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))}
    for name, inputs in cases.items():
        start = time.perf_counter()
        model = recover(original, inputs, recovery_epochs)
        out[name] = {**scores(model, original, test), "recovery_s": round(time.perf_counter() - start, 1)}
        print(name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (checks the script, not the numbers)")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if args.quick:
        out = run(n=96, steps=10, depth=8, rows=2000, epochs=1, recovery_epochs=1)
    else:
        out = run(n=args.n, steps=args.steps, depth=8, rows=20000, epochs=2, recovery_epochs=8)
        write_section(RESULTS, "resnet_mnist", out)
    print({k: v for k, v in out.items() if isinstance(v, dict)})


if __name__ == "__main__":
    main()
