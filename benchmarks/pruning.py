"""Pruning benchmark: is the pruned model really faster, and does it keep its accuracy?

Four measurements, all in one process (speed figures are ratios against the dense model timed
interleaved with the candidates, median of repeats, threads pinned and stated):

1. Speed: ``resnet_cifar`` (32x32) and pretrained ``mobilenet_v2`` (224x224) with 30/50/70% of the
   channels of every group removed, batch 1 and 16, torch eager. The MAC ratio is printed beside the
   measured speedup. Peer in the same run: ``torch-pruning`` (if installed) at the same ratio.
2. Han et al. (2015) Table 1 yardstick on real MNIST: LeNet-300-100 and LeNet-5 pruned iteratively
   (global magnitude, prune-retrain rounds) to <= 8% of the weights; test error beside the paper's.
3. Peer for (2): ``torch.nn.utils.prune`` global L1 at the same sparsity, fine-tuned the same epochs:
   accuracy, latency and bytes on disk beside ours.
4. Structural: LeNet-5 and resnet_cifar on MNIST with 50% of the channels removed and fine-tuned:
   accuracy drop (target <= 0.3 points), with torch-pruning's model fine-tuned the same way if installed.

Usage: ``python benchmarks/pruning.py [--quick] [--threads N] [--sections speed,han,structural]``.
Prints markdown tables and writes benchmarks/results/pruning.json (sections not run keep their last numbers).
``--quick``: one ratio, 3 timing repeats, few epochs, and the conv nets of section 4 on 10,000 training images.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

import slimtorch as st
from slimtorch.bench import compare, count_macs, count_nonzero, evaluate, saved_bytes, threads_note
from slimtorch.models import build
from slimtorch.prune import ChannelPrune, IterativePrune
from slimtorch.prune.masks import prunable
from slimtorch.train import TrainConfig, fit, recalibrate_bn

RESULTS = Path(__file__).parent / "results" / "pruning.json"
PAPER = {"lenet300": {"error": 1.59, "weights_kept": 8.0}, "lenet5": {"error": 0.77, "weights_kept": 8.0}}

try:
    import torch_pruning as tp
except ImportError:  # a benchmark-only dependency
    tp = None


def tp_prune(model: nn.Module, x: torch.Tensor, ratio: float, round_to: int | None = None) -> nn.Module | None:
    """The peer: torch-pruning's group L2 magnitude pruner at the same per-group ratio (classifier kept)."""
    if tp is None:
        return None
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    pruner = tp.pruner.MagnitudePruner(
        model,
        x,
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=[last],
        round_to=round_to,
    )
    pruner.step()
    return model


def ours(model: nn.Module, x: torch.Tensor, ratio: float, round_to: int | None = None) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return st.prune(model, ChannelPrune(ratio=ratio, round_to=round_to), example_inputs=x)


def train(model: nn.Module, data, epochs: int, lr: float, hooks=()) -> float:
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=128,
        optimizer="sgd",
        lr=lr,
        momentum=0.9,
        nesterov=True,
        schedule="cosine",
        weight_decay=1e-4 if lr > 0.02 else 0.0,
        seed=0,
        quiet=True,
    )
    t0 = time.perf_counter()
    fit(model, data, cfg, hooks=list(hooks))
    return time.perf_counter() - t0


def timed(models: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Interleaved median seconds per forward of each model on ``x``."""
    return compare({k: (lambda m=m: m.eval()(x)) for k, m in models.items()}, repeats=repeats, warmup=2)


def acc(model: nn.Module, data) -> float:
    return 100.0 * evaluate(model.eval(), data)["accuracy"]


# ---- 1. speed ---------------------------------------------------------------------------------
def speed(quick: bool) -> list[dict]:
    rows = []
    cases = [("resnet_cifar", {}, (3, 32, 32)), ("mobilenet_v2", {"pretrained": True}, (3, 224, 224))]
    ratios = (0.5,) if quick else (0.3, 0.5, 0.7)
    repeats = 3 if quick else 15
    for name, kwargs, shape in cases:
        dense = build(name, **kwargs).eval()
        x1 = torch.randn(1, *shape)
        macs0 = count_macs(dense, x1)
        for ratio in ratios:
            variants = {
                "slimtorch": ours(copy.deepcopy(dense), x1, ratio),
                "slimtorch round_to=8": ours(copy.deepcopy(dense), x1, ratio, round_to=8),
                "torch-pruning": tp_prune(copy.deepcopy(dense), x1, ratio),
            }
            variants = {k: v.eval() for k, v in variants.items() if v is not None}
            macs = {k: count_macs(v, x1) / macs0 for k, v in variants.items()}
            for batch in (1, 16):
                x = torch.randn(batch, *shape)
                t = timed({"dense": dense, **variants}, x, repeats)
                for k in variants:
                    rows.append(
                        {
                            "model": name,
                            "ratio": ratio,
                            "batch": batch,
                            "pruner": k,
                            "mac_ratio": round(macs[k], 3),
                            "speedup": round(t["dense"] / t[k], 2),
                            "dense_ms": round(1000 * t["dense"], 2),
                            "pruned_ms": round(1000 * t[k], 2),
                        }
                    )
    return rows


# ---- 2 + 3. Han et al. iterative pruning, torch.nn.utils.prune peer -----------------------------
def torch_prune_peer(dense: nn.Module, sparsity: float, data, epochs: int, lr: float) -> nn.Module:
    import torch.nn.utils.prune as tprune

    peer = copy.deepcopy(dense)
    params = [(mod, "weight") for mod in peer.modules() if isinstance(mod, (nn.Linear, nn.Conv2d))]
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=sparsity)
    train(peer, data, epochs, lr)
    return peer


def raw_bytes(model: nn.Module) -> int:
    """Bytes of the state dict as torch leaves it (weight_orig + weight_mask), plain safetensors."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        return path.stat().st_size


def han(quick: bool, train_data, test_data) -> list[dict]:
    rows = []
    plans = {
        "lenet300": dict(epochs=2 if quick else 10, rounds=3 if quick else 5, per_round=1 if quick else 2),
        "lenet5": dict(epochs=2 if quick else 8, rounds=3 if quick else 5, per_round=1 if quick else 2),
    }
    target = 0.92
    for name, p in plans.items():
        torch.manual_seed(0)
        dense = build(name)
        train(dense, train_data, p["epochs"], 0.05)
        dense_acc = acc(dense, test_data)
        mine = copy.deepcopy(dense)
        ft_epochs = p["rounds"] * p["per_round"]
        hook = IterativePrune(
            final_sparsity=target, rounds=p["rounds"], epochs_per_round=p["per_round"], scope="global"
        )
        train(mine, train_data, ft_epochs, 0.01, hooks=[hook])
        weights = list(prunable(mine).values())
        kept = sum(int((w != 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        peer = torch_prune_peer(dense, target, train_data, ft_epochs, 0.01)
        x = test_data.x[:64]
        t = timed({"dense": dense, "slimtorch": mine, "torch.nn.utils.prune": peer}, x, 10)
        rows.append(
            {
                "model": name,
                "dense_error": round(100 - dense_acc, 2),
                "error": round(100 - acc(mine, test_data), 2),
                "paper_error": PAPER[name]["error"],
                "weights_kept_pct": round(100 * kept, 2),
                "paper_weights_kept_pct": PAPER[name]["weights_kept"],
                "peer_error": round(100 - acc(peer, test_data), 2),
                "bytes_dense": saved_bytes(dense),
                "bytes": saved_bytes(mine),
                "bytes_peer": raw_bytes(peer),
                "speedup_b64": round(t["dense"] / t["slimtorch"], 2),
                "peer_speedup_b64": round(t["dense"] / t["torch.nn.utils.prune"], 2),
                "nonzero_params": count_nonzero(mine),
                "fine_tune_epochs": ft_epochs,
            }
        )
    return rows


# ---- 4. structural + fine-tune -------------------------------------------------------------------
def structural(quick: bool, train_data, test_data) -> list[dict]:
    rows = []
    cases = [
        ("lenet5", {}, 3 if quick else 6, 1 if quick else 3),
        ("resnet_cifar", {"in_channels": 1, "depth": 8 if quick else 20}, 2 if quick else 4, 1 if quick else 2),
    ]
    x1 = test_data.x[:2]
    for name, kwargs, epochs, ft in cases:
        torch.manual_seed(0)
        dense = build(name, **kwargs)
        train(dense, train_data, epochs, 0.05)
        dense_acc = acc(dense, test_data)
        macs0 = count_macs(dense, x1)
        for pruner in ("slimtorch", "torch-pruning"):
            model = copy.deepcopy(dense).eval()
            model = ours(model, x1, 0.5) if pruner == "slimtorch" else tp_prune(model, x1, 0.5)
            if model is None:
                continue
            if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
                recalibrate_bn(model, train_data, batches=20)
            before_ft = acc(model, test_data)
            train(model, train_data, ft, 0.01)
            after = acc(model, test_data)
            rows.append(
                {
                    "model": name,
                    "pruner": pruner,
                    "dense_acc": round(dense_acc, 2),
                    "pruned_acc": round(before_ft, 2),
                    "fine_tuned_acc": round(after, 2),
                    "drop_points": round(dense_acc - after, 2),
                    "fine_tune_epochs": ft,
                    "mac_ratio": round(count_macs(model, x1) / macs0, 3),
                }
            )
    return rows


def table(rows: list[dict], keys: list[str]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


HEADERS = {
    "speed": ["model", "ratio", "batch", "pruner", "mac_ratio", "speedup", "dense_ms", "pruned_ms"],
    "han": [
        "model",
        "dense_error",
        "error",
        "paper_error",
        "weights_kept_pct",
        "paper_weights_kept_pct",
        "peer_error",
        "bytes_dense",
        "bytes",
        "bytes_peer",
        "speedup_b64",
        "peer_speedup_b64",
        "fine_tune_epochs",
    ],
    "structural": [
        "model",
        "pruner",
        "dense_acc",
        "pruned_acc",
        "fine_tuned_acc",
        "drop_points",
        "fine_tune_epochs",
        "mac_ratio",
    ],
}
TITLES = {
    "speed": "Speed (torch eager, {threads}; speedup = dense time / pruned time, interleaved medians)",
    "han": "Han et al. 2015 yardstick: iterative global magnitude pruning on MNIST (error %, weights kept %); "
    "peer = torch.nn.utils.prune global L1 at the same sparsity and fine-tuning, its bytes = its state dict "
    "as torch leaves it (weight_orig + weight_mask)",
    "structural": "Structural: 50% of channels removed, BN re-estimated, fine-tuned (MNIST test accuracy %)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run: one ratio, few epochs, a training subset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", default="speed,han,structural", help="comma-separated subset to run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train_data, test_data = st.data.load("mnist")
    small = train_data.subset(10000) if args.quick else train_data  # for the costly conv nets in quick mode
    out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # sections not run keep their last numbers
    out.update(threads=threads_note(), quick=args.quick, peer_torch_pruning=getattr(tp, "__version__", "not installed"))
    runners = {
        "speed": lambda: speed(args.quick),
        "han": lambda: han(args.quick, train_data, test_data),
        "structural": lambda: structural(args.quick, small, test_data),
    }
    for name in args.sections.split(","):
        out[name] = runners[name]()
        print(f"\n## {TITLES[name].format(threads=threads_note())}\n")
        print(table(out[name], HEADERS[name]), flush=True)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2))  # after every section: an interrupted run keeps its numbers
    print(f"\nwrote {RESULTS} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
