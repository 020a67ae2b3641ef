import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from slimtorch.bench import evaluate
from slimtorch.data import ArrayDataset


def _fixed_model():
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        model.bias.zero_()
    return model


def _data():
    x = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-1.0, -1.0], [3.0, 1.0], [0.0, 1.0]])
    # argmax of the logits: 0, 1, 2, 0, 1; labels get 3 of 5 right
    y = torch.tensor([0, 1, 0, 2, 1])
    return x, y


@pytest.mark.parametrize("batch_size", [1, 2, 512])
def test_accuracy_and_loss_hand_count(batch_size):
    x, y = _data()
    model = _fixed_model()
    result = evaluate(model, ArrayDataset(x, y), batch_size=batch_size)
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["loss"] == pytest.approx(float(nn.functional.cross_entropy(model(x).detach(), y)), rel=1e-6)


def test_generic_dataset_path_matches_fast_path():
    x, y = _data()
    model = _fixed_model()
    fast = evaluate(model, ArrayDataset(x, y), batch_size=2)
    slow = evaluate(model, TensorDataset(x, y), batch_size=2)
    assert fast["accuracy"] == pytest.approx(slow["accuracy"]) and fast["loss"] == pytest.approx(slow["loss"])


def test_eval_mode_during_and_training_mode_restored():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((self.training, torch.is_grad_enabled()))
            return torch.zeros(len(x), 2)

    model = Probe().train()
    evaluate(model, ArrayDataset(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long)))
    assert seen == [(False, False)] and model.training
    model.eval()
    evaluate(model, ArrayDataset(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long)))
    assert not model.training


def test_binary_outputs_threshold():
    # XOR-style: a single sigmoid output against float (N, 1) targets
    x = torch.zeros(4, 1)
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    probs = torch.tensor([[0.1], [0.9], [0.4], [0.2]])
    model = nn.Module()
    model.forward = lambda inp: probs
    result = evaluate(model, ArrayDataset(x, y))
    assert result["accuracy"] == pytest.approx(3 / 4)
    assert result["loss"] == pytest.approx(float(((probs - y) ** 2).mean()))


def test_custom_loss_and_errors():
    x, y = _data()
    model = _fixed_model()
    result = evaluate(model, ArrayDataset(x, y), batch_size=2, loss_fn=lambda out, t: out.sum() * 0 + 2.0)
    assert result["loss"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, ArrayDataset(x[:0], y[:0]))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, ArrayDataset(x, y), batch_size=0)
