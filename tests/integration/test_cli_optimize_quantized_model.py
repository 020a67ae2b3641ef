"""`slimtorch optimize` on a saved int8 model (a run's int8 stage): it said "the model has no channel group that
can be pruned"; it now says the model is quantized and that the search takes the float one (and tries int8
itself), as `slimtorch prune` does."""

import torch

import slimtorch as st
from slimtorch.cli import main


def test_a_quantized_model_is_named_as_such(tmp_path, capsys):
    torch.manual_seed(0)
    model = st.models.build("mlp", widths=[64, 16, 10]).eval()
    st.save(st.quantize(model, st.Int8(backend="integer"), torch.randn(32, 64)), tmp_path / "q")
    code = main(["optimize", str(tmp_path / "q"), "--data", "digits", "--minutes", "0.05",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"slimtorch: error: model: {tmp_path / 'q'} is quantized (int8); optimize searches the float "
                   "model (and tries int8 itself): give the float model (a run's earlier stage folders hold it)\n")
