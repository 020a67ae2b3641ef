import pytest
import torch

from slimtorch.data.labels import bad_class_id, check_labels, num_classes


@pytest.mark.parametrize("y, loss", [
    (torch.tensor([0, 2, 1]), "cross_entropy"),
    (torch.tensor([[0.2, 0.8], [1.0, 0.0]]), "cross_entropy"),  # class probabilities
    (torch.tensor([[0.0], [1.0]]), "bce"),
    (torch.tensor([-3.5, 2.25]), "mse"),
    (torch.tensor([-1, 7]), lambda out, y: out.sum()),  # a callable loss: the caller's business
    (torch.tensor([], dtype=torch.int64), "cross_entropy"),
])
def test_accepted(y, loss):
    check_labels(y, loss)


@pytest.mark.parametrize("y, loss, message", [
    (torch.tensor([0, -1, 1]), "cross_entropy", "got label -1; allowed: class ids 0, 1"),
    (torch.tensor([0.0, 0.5, 1.0]), "cross_entropy", "needs integer class ids 0, 1, ...; got label 0.5"),
    (torch.tensor([0.0, float("nan")]), "mse", "labels hold NaN or inf"),
    (torch.tensor([[0.0], [float("inf")]]), "cross_entropy", "labels hold NaN or inf"),
    (torch.tensor([0.0, 2.0]), "bce", r"targets in \[0, 1\], got values from 0 to 2"),
])
def test_rejected(y, loss, message):
    with pytest.raises(ValueError, match=message):
        check_labels(y, loss, name="train")


@pytest.mark.parametrize("y, expected", [
    (torch.tensor([0, 4, 1]), 5), (torch.tensor([0.0, 1.0]), None), (torch.zeros(2, 2, dtype=torch.int64), None),
])
def test_num_classes(y, expected):
    assert num_classes(y) == expected


def test_bad_class_id_names_the_first_label_that_is_not_a_class_id():
    assert bad_class_id(torch.tensor([0, 2, 1])) is None
    assert bad_class_id(torch.tensor([0, -3, 1])) == -3
    assert bad_class_id(torch.tensor([0.0, 1.5, 1.0])) == 1.5
    assert bad_class_id(torch.tensor([0, 4, 1]), classes=3) == 4 and bad_class_id(torch.tensor([2]), classes=3) is None
