"""Post-training compression without labels: the runner of its two sections, one key each in the results.

``mobilenet_v2`` (benchmarks/post_training_images.py): MobileNetV2 with ImageNet weights on crops of
bundled photos (calibration and held-out crops from different photos). ``minilm``
(benchmarks/post_training_text.py): all-MiniLM-L6-v2 on sentences. Each section rewrites only its own
key of results/post_training.json; torch pinned to 2 threads.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/post_training.py [--quick] [--only mobilenet_v2|minilm]
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
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    if args.only in (None, "mobilenet_v2"):
        images = post_training_images.section(args.quick, THREADS)  # its own key "mobilenet_v2" (read-modify-write)
        post_training_images.write(images, OUT)
        post_training_images.table(images)
    if args.only in (None, "minilm"):
        text = post_training_text.run(args.quick)  # written under its own key "minilm" (read-modify-write)
        post_training_text.write(text)
        post_training_text.table(text)


if __name__ == "__main__":
    main()
