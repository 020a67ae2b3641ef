"""Post-training compression without labels: the runner of its two sections, one key each in the results.

``mobilenet_v2`` (benchmarks/post_training_images.py): MobileNetV2 with ImageNet weights on crops of
bundled photos (calibration and held-out crops from different photos). ``minilm``
(benchmarks/post_training_text.py): all-MiniLM-L6-v2 on sentences. Each section rewrites only its own
key of results/post_training.json; torch pinned to 2 threads.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/post_training.py [--quick] [--only mobilenet_v2|minilm]
        [--mobilenet-cases alloc] [--recipe-ratios] [--no-peer] [--no-int8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import post_training_images  # noqa: E402  (the MobileNetV2 section: benchmarks/post_training_images.py)
import post_training_text  # noqa: E402  (the MiniLM section: benchmarks/post_training_text.py)

THREADS = 2
OUT = Path(__file__).parent / "results" / "post_training.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one ratio, fewer photos")
    ap.add_argument("--only", choices=("mobilenet_v2", "minilm"), help="run one section (the other key is kept)")
    ap.add_argument("--mobilenet-cases", default=None, help="MobileNetV2 cases, e.g. 'alloc' or 'plain:0.3,alloc'")
    ap.add_argument("--recipe-ratios", action="store_true", help="MobileNetV2 'alloc': the recipe's per-block ratios "
                    "instead of measuring the sensitivity again")
    ap.add_argument("--no-peer", action="store_true", help="MobileNetV2: no torch-pruning peer")
    ap.add_argument("--no-int8", action="store_true", help="MobileNetV2: no int8 timing")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    if args.only in (None, "mobilenet_v2"):
        cases = [(c.split(":")[0], float(c.split(":")[1]) if ":" in c else post_training_images.HIDDEN_RATIO)
                 for c in args.mobilenet_cases.split(",")] if args.mobilenet_cases else None
        images = post_training_images.section(args.quick, THREADS, cases, peer=not args.no_peer,
                                              sensitivity=not args.recipe_ratios, int8=not args.no_int8)
        post_training_images.write(images, OUT)
        post_training_images.table(images)
    if args.only in (None, "minilm"):
        text = post_training_text.run(args.quick)  # written under its own key "minilm" (read-modify-write)
        post_training_text.write(text)
        post_training_text.table(text)


if __name__ == "__main__":
    main()
