"""Outputs of different shapes (a 3-class student, a 10-class teacher) are one clear ValueError wherever
fidelity is scored: st.measure(reference=), and st.distill's validation of a label-free student."""

import pytest
import torch

import slimtorch as st
from slimtorch.bench.fidelity import classifier_fidelity, encoder_fidelity


def test_scores_refuse_outputs_of_other_shapes():
    with pytest.raises(ValueError, match=r"shape \(3,\) per input but the reference .* gives \(10,\)"):
        classifier_fidelity(torch.zeros(4, 3), torch.zeros(4, 10))
    with pytest.raises(ValueError, match=r"shape \(8,\) per input"):
        encoder_fidelity(torch.ones(4, 8), torch.ones(4, 16))
    assert classifier_fidelity(torch.eye(3), torch.eye(3))["agreement_top1"] > 0.999  # equal shapes still score


def test_label_free_distill_from_a_teacher_of_other_classes_is_one_value_error():
    torch.manual_seed(0)
    teacher = st.models.build("mlp", widths=[16, 8, 10]).eval()
    student = st.models.build("mlp", widths=[16, 4, 3])
    with pytest.raises(ValueError, match=r"shape \(3,\) per input but the reference .* gives \(10,\)"):
        st.distill(student, torch.randn(20, 16), st.Distill(teacher, alpha=1.0), st.TrainConfig(epochs=1))
