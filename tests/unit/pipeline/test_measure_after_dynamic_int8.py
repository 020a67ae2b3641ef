"""A recipe whose quantize stage is dynamic_int8, measured with the default measure settings (sensitivity on):
the per-layer sensitivity is a static Int8 analysis, and it was run with the DynamicInt8 config (AttributeError:
'DynamicInt8' object has no attribute 'observer', a traceback after every stage had run). It is now skipped:
the run finishes and metrics.json says no sensitivity."""

import json

from slimtorch.pipeline import runner
from slimtorch.recipe import parse_recipe

RECIPE = {
    "model": {"name": "mlp", "widths": [64, 16, 10]},
    "data": {"name": "digits", "batch_size": 32, "train_subset": 256, "test_subset": 128},
    "train": {"epochs": 1, "quiet": True},
    "stages": ["train", {"dynamic_int8": {}},
               {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [1], "backends": ["eager"]}}],
    "report": {"plots": False},
}


def test_dynamic_int8_then_default_measure_finishes(tmp_path):
    runner.run_recipe(parse_recipe(RECIPE, name="dyn"), out=tmp_path / "run", quiet=True)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["measure"]["sensitivity"] is None
    assert [r["label"] for r in metrics["measure"]["rows"]][-1] == "dynamic_int8"
