"""Post-training channel pruning without labels: plain ChannelPrune vs ChannelPrune(reconstruct=True).

MobileNetV2 (ImageNet weights) on crops of bundled natural photos and MiniLM (all-MiniLM-L6-v2) on
sentences; calibration and held-out inputs never share a photo (or a sentence). Fidelity to the
unpruned model is measured on the held-out inputs only: top-1 agreement (MobileNetV2), embedding
cosine mean/worst and nearest-neighbour agreement (MiniLM). Wall time of each prune is measured
with torch pinned to 2 threads (the machine is shared: times are indicative, not ratios).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/post_training.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.bench.counts import count_macs, count_params
from slimtorch.bench.fidelity import fidelity
from slimtorch.data import ArrayDataset
from slimtorch.data.images import images, sample_photos

sys.path.insert(0, str(Path(__file__).parent))
import post_training_text  # noqa: E402  (the MiniLM section: benchmarks/post_training_text.py)

THREADS = 2
OUT = Path(__file__).parent / "results" / "post_training.json"


def _unlabeled(x: torch.Tensor, name: str) -> ArrayDataset:
    return ArrayDataset(x, torch.full((len(x),), -1), name)


def photos(calib_crops: int, eval_crops: int) -> tuple[torch.Tensor, ArrayDataset]:
    """Calibration crops of 4 photos, held-out crops of 4 other photos, 224x224 ImageNet-normalised."""
    with tempfile.TemporaryDirectory() as tmp:
        c = sample_photos(Path(tmp, "calib"), "calib", crops=calib_crops, size=256, seed=0)
        e = sample_photos(Path(tmp, "eval"), "eval", crops=eval_crops, size=256, seed=1)
        xc = torch.from_numpy(images(str(c), test_fraction=0)[0])
        xe = torch.from_numpy(images(str(e), test_fraction=0)[0])
    return xc, _unlabeled(xe, "photos-eval")


def run_case(build, cfg: st.ChannelPrune, example, calib, held, reference) -> dict:
    """Prune a fresh copy with ``cfg``; time it; fidelity on ``held``; size against the reference."""
    model = build()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = st.prune(model, cfg, example_inputs=example, calib_data=calib if cfg.reconstruct else None)
    seconds = time.perf_counter() - start
    ex1 = example[:1]
    row = {"ratio": cfg.ratio, "reconstruct": cfg.reconstruct, "seconds": round(seconds, 1),
           "params_ratio": count_params(pruned) / count_params(reference),
           "macs_ratio": count_macs(pruned, (ex1,)) / count_macs(reference, (ex1,))}
    row.update(fidelity(pruned, reference, held))
    return row


def mobilenet(ratios: list[float], calib_crops: int, eval_crops: int) -> list[dict]:
    xc, held = photos(calib_crops, eval_crops)
    reference = st.models.build("mobilenet_v2", pretrained=True).eval()
    build = lambda: copy.deepcopy(reference)
    rows = []
    for r in ratios:
        for rec in (False, True):
            row = run_case(build, st.ChannelPrune(ratio=r, reconstruct=rec), xc[:2], xc, held, reference)
            row.update(model="mobilenet_v2", calib=len(xc), held_out=len(held))
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one ratio, fewer photos")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    ratios = [0.1] if args.quick else [0.1, 0.2, 0.3]
    rows = mobilenet(ratios, 8 if args.quick else 16, 6 if args.quick else 12)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"threads": THREADS, "torch": torch.__version__, "rows": rows}, indent=1))
    text = post_training_text.run(args.quick)  # written under its own key "minilm" (read-modify-write)
    post_training_text.write(text)
    post_training_text.table(text)
    print(f"\n{'model':<13}{'ratio':>6}{'recon':>7}{'MACs':>7}{'agree/cos':>11}{'worst/nn':>10}{'s':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<13}{r['ratio']:>6}{r['reconstruct']!s:>7}  error: {r['error'][:60]}")
            continue
        a = r.get("agreement_top1", r.get("cosine_mean"))
        b = r.get("agreement_top5", r.get("nn_agreement"))
        print(f"{r['model']:<13}{r['ratio']:>6}{r['reconstruct']!s:>7}{r['macs_ratio']:>7.2f}{a:>11.3f}{b:>10.3f}"
              f"{r['seconds']:>7.1f}")


if __name__ == "__main__":
    main()
