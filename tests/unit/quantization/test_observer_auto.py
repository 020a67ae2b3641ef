"""Int8(observer="auto"): the candidate observer whose int8 outputs are closest to the float model's."""

import pytest
import torch

from slimtorch.config import ConfigError
from slimtorch.quantization import Int8, quantize
from slimtorch.quantization.observer_auto import CANDIDATES, sqnr_db


def _outlier_data():
    # a few pixels of the later calibration rows are 50x the rest: min/max ranges spend the uint8 codes on them,
    # a percentile clips them; auto compares on the first 256 rows (CHECK_ROWS), which are typical
    x = torch.rand(512, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    x[256:].view(-1)[:: 997] = 50.0
    return x


def test_auto_keeps_the_observer_closest_to_the_float_model(tiny):
    x = _outlier_data()
    with torch.no_grad():
        ref = [tiny(x[:256])]
    sqnr = {name: sqnr_db(ref, [quantize(tiny, Int8(backend="integer", observer=name), x).simulate(x[:256])])
            for name in CANDIDATES}
    best = max(sqnr, key=sqnr.get)
    assert best != "minmax" and sqnr[best] > sqnr["minmax"] + 3  # the data makes the choice matter
    auto = quantize(tiny, Int8(backend="integer", observer="auto"), x)
    assert auto.observer_note.startswith(f"observer auto: {best} (output SQNR")
    fixed = quantize(tiny, Int8(backend="integer", observer=best), x)
    assert torch.equal(auto.simulate(x), fixed.simulate(x))


def test_a_fixed_observer_leaves_no_note_and_auto_is_validated(tiny, tiny_x):
    assert quantize(tiny, Int8(backend="integer"), tiny_x).observer_note == ""
    with pytest.raises(ConfigError, match="observer: got 'best'"):
        Int8(observer="best")
