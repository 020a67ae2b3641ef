"""The README's Python quickstart is repeatable: it seeds torch before the zoo draws initial weights
(an unseeded LeNet-5 at lr 0.1 / momentum 0.9 sometimes never leaves chance accuracy)."""

import ast
import re
from pathlib import Path

import torch

import slimtorch as st

README = Path(__file__).resolve().parents[2] / "README.md"


def _quickstart_calls() -> list[str]:
    text = README.read_text()
    block = re.search(r"## Python quickstart\s+```python\n(.*?)```", text, re.S).group(1)
    return [ast.unparse(n.func) for n in ast.walk(ast.parse(block)) if isinstance(n, ast.Call)]


def test_quickstart_seeds_before_building_the_model():
    calls = _quickstart_calls()
    assert "torch.manual_seed" in calls and "st.models.build" in calls
    assert calls.index("torch.manual_seed") < calls.index("st.models.build")


def test_the_seed_fixes_the_initial_weights_and_fit_does_not():
    torch.manual_seed(0)
    a = st.models.build("lenet5")
    torch.manual_seed(0)
    b = st.models.build("lenet5")
    c = st.models.build("lenet5")  # no reseed: other weights, which TrainConfig.seed cannot undo
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.allclose(b.features[0].weight, c.features[0].weight)
