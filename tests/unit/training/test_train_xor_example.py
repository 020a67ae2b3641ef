"""The worked XOR example learns XOR for every seed 0..9 (and prints its four predictions)."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))
from xor_momentum import main, train_xor  # noqa: E402


@pytest.mark.parametrize("seed", range(10))
def test_xor_predictions_round_to_0_1_1_0(seed):
    preds = train_xor(seed)
    assert preds.round().tolist() == [0.0, 1.0, 1.0, 0.0]
    torch.testing.assert_close(preds, torch.tensor([0.0, 1.0, 1.0, 0.0]), atol=0.1, rtol=0)


def test_example_prints_the_four_predictions(capsys):
    main(["--seed", "0"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["0 xor 0", "0 xor 1", "1 xor 0", "1 xor 1"]
    assert [line.rsplit("rounds to ", 1)[1] for line in lines] == ["0)", "1)", "1)", "0)"]
