"""Architecture zoo: every model prunes at 0.5 without a crash and matches its masked original on two input shapes.

Models from ``transformers`` (tiny configs, random weights) are marked slow; our zoo and the op
families run by default. Each entry must also lose >= 20% of its parameters unless it is listed in
``LOW`` with the reason, and ``LOW`` may hold at most 10% of the zoo (the issue's target).
"""

from __future__ import annotations

import pytest
from zoo_models import prune_and_check, zoo

ZOO = zoo()
# entries allowed to lose < 20% of their parameters, and why (the coverage report says the same)
LOW = {
    "hf/PvtV2": "attention and patch embeddings reshape with the configured hidden size; heads and widths kept",
    "hf/Bit": "weight-standardised convolutions: removing input channels changes every filter's statistics",
}


def _marks(name):
    return [pytest.mark.slow] if name.startswith("hf/") else []


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in ZOO])
def test_zoo_model_prunes_without_crash_or_silent_mismatch(name):
    if name.startswith("hf/"):
        pytest.importorskip("transformers")
    model, xs, _ = ZOO[name]()
    result = prune_and_check(model, xs)
    assert result["status"] == "ok", result["detail"]
    if name in LOW:
        assert result["fraction"] > 0, "even a low entry loses some parameters"
    else:
        assert result["fraction"] >= 0.2, f"{name} lost only {result['fraction']:.1%} of its parameters"


def test_at_most_a_tenth_of_the_zoo_is_allowed_to_prune_little():
    assert set(LOW) <= set(ZOO)
    assert len(LOW) <= 0.1 * len(ZOO)
