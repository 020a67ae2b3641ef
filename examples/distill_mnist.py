"""Distil the pretrained MNIST CNN (99% test accuracy) into LeNet-5, and compare with LeNet-5 trained alone.

Run: ``python examples/distill_mnist.py [--rows 10000] [--epochs 1]`` (1-3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import copy

import torch

import slimtorch as st
from slimtorch.bench import evaluate
from slimtorch.distillation import resolve_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="training rows used")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    train, test = st.data.load("mnist")
    train = train.subset(args.rows)
    teacher = resolve_teacher("mnist_cnn")  # zoo weights shipped offline; frozen, eval mode
    torch.manual_seed(0)
    alone = st.models.build("lenet5")
    distilled = copy.deepcopy(alone)  # same initial weights: the only difference is the teacher
    cfg = st.TrainConfig(epochs=args.epochs, batch_size=128, lr=0.05, momentum=0.9, schedule="cosine", quiet=True)

    st.fit(alone, train, cfg)
    # Fixed, unaugmented data: cache the teacher's logits so epochs after the first skip the teacher.
    st.fit(distilled, train, cfg, hooks=[st.Distill(teacher, temperature=4.0, alpha=0.9, cache=True)])

    for name, model in (("teacher (mnist_cnn)", teacher), ("LeNet-5 alone", alone), ("LeNet-5 distilled", distilled)):
        print(f"{name:22s} test accuracy {evaluate(model, test)['accuracy']:.2%}")


if __name__ == "__main__":
    main()
