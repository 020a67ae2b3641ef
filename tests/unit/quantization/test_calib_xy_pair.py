"""``st.quantize(model, st.Int8(), (x, y))`` — a new user's (inputs, labels) pair — was read as a list of two
batches, and the labels were run through the model ("Input type (long int) and bias type (float) should be the
same"). A pair of tensors with the same number of rows whose second has one value per row is (x, y) now."""

import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization.calibrate import iter_batches


def test_an_xy_pair_calibrates_on_x():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x, y = torch.randn(40, 3, 8, 8), torch.randint(0, 3, (40,))
    qm = st.quantize(model, st.Int8(backend="integer"), (x, y))
    ref = st.quantize(model, st.Int8(backend="integer"), x)
    torch.testing.assert_close(qm(x), ref(x))


def test_a_list_of_input_batches_is_still_batches():
    a, b = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    assert [t.shape[0] for t in iter_batches([a, b], 8)] == [4, 4]
    assert [t.shape[0] for t in iter_batches((a, b), 8)] == [4, 4]
