"""check_outputs: a model's output shape against the targets' shape for the loss (it was a reshape
RuntimeError mid-training: ``shape '[128, 2]' is invalid for input of size 128``)."""

import pytest
import torch

from slimtorch.data.labels import check_outputs
from slimtorch.training.losses import make_loss

IDS = torch.tensor([0, 1])


@pytest.mark.parametrize("out, y, loss", [
    (torch.zeros(2, 1), IDS, "bce"),
    (torch.zeros(2, 1), IDS, "mse"),
    (torch.zeros(2, 3), torch.zeros(2, 3), "mse"),
    (torch.zeros(2, 2), IDS, "cross_entropy"),
    (torch.zeros(2, 3), torch.full((2, 3), 1 / 3), "cross_entropy"),
    (torch.zeros(2, 5), IDS, lambda out, y: out.sum()),  # a callable loss: the caller's business
])
def test_accepted_shapes_are_ones_the_loss_computes(out, y, loss):
    check_outputs(out, y, loss)
    if not callable(loss):  # the oracle: the loss itself runs on these shapes
        assert torch.isfinite(make_loss(loss)(out, y))


@pytest.mark.parametrize("out, y, loss, message", [
    (torch.zeros(2, 2), IDS, "mse", r"loss 'mse' needs one output per target, but the model gives 2 outputs per "
                                    r"sample and data 1 target; give the model 1 output, or use loss 'cross_entropy'"),
    (torch.zeros(2, 2), IDS, "bce", "loss 'bce' needs one output per target"),
    (torch.zeros(2, 1), torch.zeros(2, 3), "mse", "gives 1 outputs per sample and data 3 targets; give the model 3 "
                                                  "outputs$"),
    (torch.zeros(2, 2), torch.full((2, 3), 1 / 3), "cross_entropy", r"rows of class probabilities .* give the model 3"),
])
def test_rejected_shapes_are_ones_the_loss_cannot_compute(out, y, loss, message):
    with pytest.raises(ValueError, match=message):
        check_outputs(out, y, loss)
    with pytest.raises(RuntimeError):  # the oracle: the loss itself fails on these shapes
        make_loss(loss)(out, y)

