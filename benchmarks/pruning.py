"""Pruning benchmark: is the pruned model really faster, and does it keep its accuracy?

Four measurements, all in one process (speed figures are ratios against the dense model timed
interleaved with the candidates, median of repeats, threads pinned and stated):

1. Speed: ``resnet_cifar`` (32x32) and pretrained ``mobilenet_v2`` (224x224) with 30/50/70% of the
   channels of every group removed, batch 1 and 16, torch eager. The MAC ratio is printed beside the
   measured speedup. Peer in the same run: ``torch-pruning`` (if installed) at the same ratio.
2. Han et al. (2015) Table 1 yardstick on the full MNIST training set (60k): LeNet-300-100 and the
   paper's Caffe LeNet-5 (``lenet5_caffe``, 431K weights) pruned gradually (global magnitude, Zhu & Gupta
   cubic schedule during fine-tuning) to 8% of the weights; test error beside the paper's (1.59% / 0.77%).
3. Peer for (2): ``torch.nn.utils.prune`` global L1 at the same sparsity, fine-tuned the same epochs:
   accuracy, latency and bytes on disk beside ours.
4. Structural: LeNet-5 and resnet_cifar depth 20 (60k rows; ~4 min per resnet epoch on 2 quiet cores) with
   50% of the channels removed, BN re-estimated, recovered by distillation from the dense model: accuracy
   drop (target <= 0.3 points), torch-pruning's model recovered the same way if installed (when it keeps
   exactly our channels, its row reuses our fine-tuning instead of repeating the same seeded run).
   Sections 2-4 live in ``pruning_accuracy.py``; every row carries its exact settings. Dense baselines are
   cached under the temp dir and shared between sections.

Usage: ``python benchmarks/pruning.py [--quick] [--threads N] [--sections speed,han,structural]``.
Prints markdown tables and writes benchmarks/results/pruning.json (sections not run keep their last numbers).
``--quick``: one ratio, 3 timing repeats, one dense epoch, two fine-tune epochs, section 4 on small subsets.
Running ``--sections han`` and ``--sections structural`` as two processes at once is supported (the JSON is
re-read before each write).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch import nn

import slimtorch as st
from pruning_accuracy import han, ours, structural, tp, tp_prune
from slimtorch.bench import compare, count_macs, threads_note
from slimtorch.models import build

RESULTS = Path(__file__).parent / "results" / "pruning.json"

def timed(models: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Interleaved median seconds per forward of each model on ``x``."""
    return compare({k: (lambda m=m: m.eval()(x)) for k, m in models.items()}, repeats=repeats, warmup=2)


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
        "target_met",
        "peer_error",
        "bytes_dense",
        "bytes",
        "bytes_peer",
        "speedup_b64",
        "peer_speedup_b64",
        "dense_epochs",
        "fine_tune_epochs",
    ],
    "structural": [
        "model",
        "pruner",
        "dense_acc",
        "pruned_acc",
        "fine_tuned_acc",
        "drop_points",
        "target_met",
        "fine_tune_epochs",
        "mac_ratio",
        "params_ratio",
        "same_pruned_weights_as",
    ],
}
TITLES = {
    "speed": "Speed (torch eager, {threads}; speedup = dense time / pruned time, interleaved medians)",
    "han": "Han et al. 2015 yardstick (paper, Table 1: LeNet-300-100 1.59% error, LeNet-5 (Caffe, 431K) "
    "0.77%, both at 8% of weights; targets <= 1.6% / <= 0.8% at <= 8%): gradual global magnitude pruning on "
    "full MNIST (error %, weights kept %); peer = torch.nn.utils.prune global L1 at the same sparsity and "
    "fine-tuning, its bytes = its state dict as torch leaves it (weight_orig + weight_mask)",
    "structural": "Structural: 50% of channels removed, BN re-estimated, recovered by distillation from the dense "
    "model (MNIST test accuracy %; target drop <= 0.3 points)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run: one ratio, few epochs, a training subset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", default="speed,han,structural", help="comma-separated subset to run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train_data, test_data = st.data.load("mnist")  # the full 60k training set; the 10k test set
    runners = {
        "speed": lambda: speed(args.quick),
        "han": lambda: han(args.quick, train_data, test_data, timed),
        "structural": lambda: structural(args.quick, train_data, test_data),
    }
    for name in args.sections.split(","):
        rows = runners[name]()
        print(f"\n## {TITLES[name].format(threads=threads_note())}\n")
        print(table(rows, HEADERS[name]), flush=True)
        for r in rows:
            if "settings" in r:
                print(f"- {r['model']}{' / ' + r['pruner'] if 'pruner' in r else ''}: {r['settings']}")
        # re-read just before writing: sections not run (or run by another process meanwhile) keep their numbers
        out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        out[name] = rows
        out[f"{name}_meta"] = {
            "quick": args.quick,
            "threads": threads_note(),
            "seconds": round(time.perf_counter() - t0, 1),
            "peer_torch_pruning": getattr(tp, "__version__", "not installed"),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2))  # after every section: an interrupted run keeps its numbers
    print(f"\nwrote {RESULTS} ({round(time.perf_counter() - t0, 1)} s)")


if __name__ == "__main__":
    main()
