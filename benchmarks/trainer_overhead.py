"""Trainer overhead: ``st.fit`` against minimal hand-written torch loops (and PyTorch Lightning).

Every candidate trains the same LeNet-5, from the same initial weights, for one epoch of MNIST
with the same batch size, optimizer (SGD, momentum 0.9), seeded shuffling and thread count:

- ``hand_dataloader``: ``for x, y in DataLoader(TensorDataset, shuffle=True, generator=g)`` + the 5-line step
- ``hand_slicing``: a seeded ``randperm`` each epoch and ``x[idx]`` slices of the in-memory tensors
- ``st_fit_arrays``: ``st.fit`` on the ArrayDataset (its fast path slices tensors directly)
- ``st_fit_dataset``: ``st.fit`` on the same data as a ``TensorDataset`` (sliced like arrays, no DataLoader)
- ``hand_dataloader_mapstyle`` / ``st_fit_mapstyle``: both on a ``Subset`` of it, a plain map-style dataset
  (per-row ``__getitem__``), where ``st.fit`` goes through a DataLoader too
- ``lightning``: ``lightning.Trainer(max_epochs=1)`` with the TensorDataset DataLoader, when installed

Candidates run round-robin (start rotated each round), median samples/s over the rounds. Ratios
are taken in this one process. Targets: st_fit_arrays >= hand_slicing, st_fit_dataset >= hand_dataloader,
st_fit_mapstyle within 2% of hand_dataloader_mapstyle.

Usage: ``python benchmarks/trainer_overhead.py [--quick] [--threads N]``; writes
benchmarks/results/trainer_overhead.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset

import slimtorch as st

RESULTS = Path(__file__).parent / "results" / "trainer_overhead.json"
LR, MOMENTUM = 0.05, 0.9


def hand_dataloader(model, data, bs, seed):
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loader = DataLoader(data, batch_size=bs, shuffle=True, generator=torch.Generator().manual_seed(seed))
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def hand_slicing(model, data, bs, seed):
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    x_all, y_all = data.tensors
    perm = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed))
    model.train()
    for start in range(0, len(x_all), bs):
        idx = perm[start:start + bs]
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def st_fit(model, data, bs, seed):
    cfg = st.TrainConfig(epochs=1, batch_size=bs, optimizer="sgd", lr=LR, momentum=MOMENTUM, seed=seed,
                         quiet=True, device="cpu")
    st.fit(model, data, cfg)


def make_lightning(bs):
    """A Lightning runner, or the reason it is not available."""
    try:
        import lightning as L
    except ImportError as err:
        return None, f"not installed ({err.name})"
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.net.parameters(), lr=LR, momentum=MOMENTUM)

    def run(model, data, bs_, seed):
        loader = DataLoader(data, batch_size=bs_, shuffle=True, generator=torch.Generator().manual_seed(seed))
        trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(Module(model), loader)

    return run, f"lightning {L.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3k rows, 7 rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    rows = args.rows or (3000 if args.quick else None)
    rounds = args.rounds or (7 if args.quick else 5)

    train, _ = st.data.load("mnist", limit=rows)
    plain = TensorDataset(train.x, train.y)
    mapstyle = Subset(plain, range(len(plain)))  # a plain map-style dataset: one Python call per row
    torch.manual_seed(0)
    init = st.models.build("lenet5")
    lightning_run, lightning_note = make_lightning(args.batch_size)
    candidates = {
        "hand_dataloader": (hand_dataloader, plain),
        "hand_slicing": (hand_slicing, train),
        "st_fit_arrays": (st_fit, train),
        "st_fit_dataset": (st_fit, plain),
        "hand_dataloader_mapstyle": (hand_dataloader, mapstyle),
        "st_fit_mapstyle": (st_fit, mapstyle),
    }
    if lightning_run is not None:
        candidates["lightning"] = (lightning_run, plain)

    names = list(candidates)
    speeds: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds + 1):  # round 0 warms up (lazy imports, allocator) and is not counted
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, data = candidates[name]
            model = copy.deepcopy(init)
            t0 = time.perf_counter()
            fn(model, data, args.batch_size, r)
            seconds = time.perf_counter() - t0
            if r > 0:
                speeds[name].append(len(data) / seconds)
    med = {n: statistics.median(v) for n, v in speeds.items()}
    ratios = {
        "st_fit_arrays / hand_slicing": med["st_fit_arrays"] / med["hand_slicing"],
        "st_fit_dataset / hand_dataloader": med["st_fit_dataset"] / med["hand_dataloader"],
        "st_fit_mapstyle / hand_dataloader_mapstyle": med["st_fit_mapstyle"] / med["hand_dataloader_mapstyle"],
        "hand_slicing / hand_dataloader": med["hand_slicing"] / med["hand_dataloader"],
    }
    if "lightning" in med:
        ratios["lightning / hand_dataloader"] = med["lightning"] / med["hand_dataloader"]

    note = (f"LeNet-5, MNIST {len(train)} rows, batch {args.batch_size}, 1 epoch per run, "
            f"torch threads={args.threads}, median of {rounds} interleaved rounds")
    print(f"## Trainer overhead ({note})\n")
    print("| candidate | samples/s (median) | vs hand_dataloader |")
    print("| --- | ---: | ---: |")
    for n in names:
        print(f"| {n} | {med[n]:.0f} | {med[n] / med['hand_dataloader']:.3f} |")
    if lightning_run is None:
        print(f"| lightning | {lightning_note} | - |")
    print("\n| ratio | value | target |")
    print("| --- | ---: | --- |")
    targets = {"st_fit_arrays / hand_slicing": ">= 1.00", "st_fit_dataset / hand_dataloader": ">= 1.00",
               "st_fit_mapstyle / hand_dataloader_mapstyle": ">= 0.98"}
    for k, v in ratios.items():
        print(f"| {k} | {v:.3f} | {targets.get(k, '')} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"note": note, "lightning": lightning_note, "samples_per_s": med,
                                   "all_samples_per_s": speeds, "ratios": ratios}, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
