"""The run's measure stage scores every model's fidelity to the baseline beside its accuracy."""

import copy

import pytest
import torch

import slimtorch as st
from slimtorch.bench.report import table_rows
from slimtorch.data.arrays import ArrayDataset
from slimtorch.pipeline.measure import measure_models


def test_each_model_gets_its_agreement_with_the_baseline_and_the_table_shows_it(tmp_path):
    torch.manual_seed(0)
    base = st.models.build("mlp", widths=[8, 16, 3])
    other = copy.deepcopy(base)
    with torch.no_grad():
        other.fc2.bias += torch.tensor([0.0, 0.0, 1.5])  # pushes some rows to class 2
    x = torch.randn(60, 8)
    data = ArrayDataset(x, torch.full((60,), -1))  # unlabeled: fidelity is the only quality measure
    with torch.no_grad():
        expected = (base(x).argmax(1) == other(x).argmax(1)).float().mean().item()
    assert 0.0 < expected < 1.0  # the oracle can tell a wrong answer from a right one

    res = measure_models({"base": base, "other": other}, "base", x[:4], eval_data=data, batch_sizes=(2,),
                         backends=("eager",), repeats=1, warmup=0, work_dir=tmp_path)
    rows = {r["label"]: r for r in res["rows"]}
    assert rows["base"]["fidelity"] is None
    assert rows["other"]["fidelity"]["agreement_top1"] == pytest.approx(expected)
    assert rows["other"]["fidelity"]["kl"] > 0

    header, cells = table_rows({"measure": res})
    col = header.index("top-1 agreement")
    assert [c[col] for c in cells] == ["-", f"{100 * expected:.2f}%"]


def test_without_fidelity_the_table_has_no_fidelity_columns(tmp_path):
    model = st.models.build("mlp", widths=[8, 4, 3])
    res = measure_models({"m": model}, "m", torch.randn(4, 8), eval_data=None, batch_sizes=(1,),
                         backends=("eager",), repeats=1, warmup=0, work_dir=tmp_path)
    header, _ = table_rows({"measure": res})
    assert "top-1 agreement" not in header and "cosine mean" not in header
