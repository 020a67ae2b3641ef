"""st.distill on an (x, y) pair whose lengths differ: one ValueError naming both, not an IndexError mid-run."""

import pytest
import torch

import slimtorch as st


def test_inputs_and_labels_of_different_lengths_are_refused_up_front():
    torch.manual_seed(0)
    teacher = st.models.build("mlp", widths=[16, 8, 10]).eval()
    x, y = torch.randn(40, 16), torch.randint(0, 10, (39,))
    with pytest.raises(ValueError, match=r"40 inputs but 39 labels"):
        st.distill(st.models.build("mlp", widths=[16, 4, 10]), (x, y), st.Distill(teacher), st.TrainConfig(epochs=1))
