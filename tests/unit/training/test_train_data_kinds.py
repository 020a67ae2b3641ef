"""What st.fit takes as data: a dataset, or an (x, y) pair of tensors as st.distill takes it; anything else
is one TypeError naming what is allowed (a tuple was a "too many values to unpack" traceback mid-epoch)."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close
from torch.utils.data import DataLoader, TensorDataset

import slimtorch as st

X = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long()
CFG = st.TrainConfig(epochs=2, batch_size=8, lr=0.1, quiet=True)


def _net():
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def test_an_x_y_pair_trains_as_the_same_rows_in_a_dataset():
    a, b = _net(), _net()
    ha = st.fit(a, (X, Y), CFG, eval_data=(X, Y))
    hb = st.fit(b, TensorDataset(X, Y), CFG, eval_data=TensorDataset(X, Y))
    assert_close(a.weight, b.weight)
    assert ha.loss == pytest.approx(hb.loss) and ha.eval_accuracy == pytest.approx(hb.eval_accuracy)


@pytest.mark.parametrize("data, words", [(X, "has no labels"), (DataLoader(TensorDataset(X, Y)), "DataLoader"),
                                         ([X, Y, Y], "list"), ("mnist", "str")])
def test_other_data_is_one_line_naming_what_is_allowed(data, words):
    with pytest.raises(TypeError) as err:
        st.fit(_net(), data, CFG)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("train_data:") and words in msg and "(x, y)" in msg


def test_a_pair_of_different_lengths_is_refused_before_training():
    with pytest.raises(ValueError, match="24 rows but y has 23"):
        st.fit(_net(), (X, Y[:-1]), CFG)
