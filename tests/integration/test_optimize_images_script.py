"""benchmarks/optimize.py --models mobilenet_v2 (optimize_images): the search's rows are crops of the calibration
photos in a seeded order, the held-out test crops of the other photos, all unlabeled; an unknown model is named."""

import subprocess
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import optimize_images as oi  # noqa: E402


def test_search_rows_are_calibration_crops_and_test_rows_evaluation_crops(monkeypatch):
    monkeypatch.setitem(oi.IMAGES, "tiny", {**oi.IMAGES["mobilenet_v2"], "size": 24, "crops": 4})
    train, test = oi.image_data("tiny", quick=False)
    again, _ = oi.image_data("tiny", quick=False)
    assert train.x.shape[1:] == (3, 24, 24) and len(train) == 12 * 4 and len(test) == 7 * 2
    assert bool((train.y == -1).all()) and bool((test.y == -1).all())  # unlabeled: the budget is agreement
    assert torch.equal(train.x, again.x)  # the same seeded order every run
    flat_train, flat_test = train.x.flatten(1), test.x.flatten(1)
    assert torch.cdist(flat_test, flat_train).min() > 1.0  # no held-out crop is a search row


def test_an_unknown_model_is_named_with_the_allowed_ones():
    out = subprocess.run([sys.executable, str(BENCH / "optimize.py"), "--models", "vgg"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and "vgg" in out.stderr and "mobilenet_v2" in out.stderr
    assert "Traceback" not in out.stderr
