"""XOR with a 2-4-1 network (tanh hidden layer, sigmoid output), trained by SGD with momentum.

The classic first neural network, written correctly: the update is v <- mu*v + grad, w <- w - lr*v
(torch.optim.SGD) on the mean squared error of the four points (one batch), applied by st.fit.
Run: python examples/xor_momentum.py [--seed 0]
"""

from __future__ import annotations

import argparse

import torch

import slimtorch as st


def train_xor(seed: int = 0, epochs: int = 400, lr: float = 0.5, momentum: float = 0.9) -> torch.Tensor:
    """Train the 2-4-1 network on the four XOR points; returns its four predictions in (0, 1)."""
    train, _ = st.data.load("xor")  # x: the four corners, y: float (4, 1) targets 0, 1, 1, 0
    torch.manual_seed(seed)
    model = st.models.build("mlp", widths=[2, 4, 1], activation="tanh", output_activation="sigmoid")
    cfg = st.TrainConfig(
        epochs=epochs,
        batch_size=4,
        optimizer="sgd",
        lr=lr,
        momentum=momentum,
        loss="mse",
        seed=seed,
        quiet=True,
        device="cpu",
    )
    st.fit(model, train, cfg)
    with torch.no_grad():
        return model(train.x).reshape(-1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    preds = train_xor(args.seed)
    for (a, b), p in zip([(0, 0), (0, 1), (1, 0), (1, 1)], preds.tolist()):
        print(f"{a} xor {b} -> {p:.3f} (rounds to {round(p)})")


if __name__ == "__main__":
    main()
