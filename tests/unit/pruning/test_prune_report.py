"""The coverage report: per group pruned or kept and why, from the API and from `slimtorch prune --explain`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.cli import main
from slimtorch.pruning import ChannelPrune, report


def test_report_names_every_group_with_its_status_and_reason():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 6, 1), nn.ReLU(), nn.Conv2d(6, 2, 1)).eval()
    st.prune(model, ChannelPrune(ratio=0.5, ignore=["2"]), example_inputs=torch.randn(1, 3, 4, 4))
    rows = {r.layers[0]: r for r in report(model)}
    assert (rows["0.out"].status, rows["0.out"].removed, rows["0.out"].units) == ("pruned", 4, 8)
    assert rows["2.out"].status == "kept" and "ignore" in rows["2.out"].reason
    assert rows["4.out"].status == "kept" and "network output" in rows["4.out"].reason
    text = str(report(model))
    assert "1 of 3 groups pruned; 4 of 16 units removed" in text
    assert report(model).to_dict()[0].keys() == {"layers", "units", "removed", "status", "reason"}


def test_report_on_an_unpruned_model_is_one_clear_error():
    with pytest.raises(ValueError, match="no channel-pruning report"):
        report(nn.Linear(2, 2))


def test_cli_prune_explain_prints_the_report_and_saves(tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["prune", "lenet5", "--ratio", "0.5", "--explain", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "verified against the masked original" in text and "network output" in text
    loaded = st.load(out)
    assert loaded(torch.randn(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("argv, field", [(["prune", "no_such_model"], "model"),
                                         (["prune", "lenet5", "--ratio", "1.5"], "--ratio: got 1.5"),
                                         (["prune", "lenet5", "--input-shape", "a,b"], "--input-shape"),
                                         (["prune", "lenet5", "--input-shape", "3,5,5"], "--input-shape")])
def test_cli_prune_bad_input_is_one_line_and_exit_2(argv, field, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"slimtorch: error: {field}") and "\n" not in err


def test_prune_with_report_true_returns_the_model_and_its_report():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.randn(2, 4)
    want = model(x)
    small, rep = st.prune(model, ChannelPrune(ratio=0.5), example_inputs=x, report=True)
    assert small is model and rep is report(small)  # the same report the attribute gives later
    (row,) = [r for r in rep if r.status == "pruned"]
    assert (row.layers, row.removed, row.units) == (["0.out"], 4, 8)
    assert small[0].out_features == 4 and small[2].in_features == 4
    assert small(x).shape == want.shape


def test_prune_report_true_with_a_config_that_makes_none_is_refused_before_pruning():
    model = nn.Linear(4, 4)
    weight = model.weight.detach().clone()
    with pytest.raises(ValueError, match=r"report=True: MagnitudePrune makes no coverage report; .*ChannelPrune"):
        st.prune(model, st.MagnitudePrune(sparsity=0.5), report=True)
    torch.testing.assert_close(model.weight.detach(), weight)  # refused before anything was changed
