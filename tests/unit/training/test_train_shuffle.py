"""Seeded per-epoch shuffling as the trainer actually applies it (observed through state.indices)."""

import pytest
import torch
from train_helpers import blobs, mlp, params

from slimtorch.hooks import Hook
from slimtorch.training import TrainConfig, fit
from slimtorch.training.batching import Batches, epoch_order, shard


class RecordRows(Hook):
    def __init__(self):
        self.rows: dict[int, list[int]] = {}

    def on_step_start(self, state):
        self.rows.setdefault(state.epoch, []).extend(state.indices.tolist())


def _run(seed=0, shuffle=True, data=None, epochs=2):
    rec = RecordRows()
    model = mlp()
    fit(model, data if data is not None else blobs(n=40), TrainConfig(epochs=epochs, batch_size=8, lr=0.05,
        seed=seed, shuffle=shuffle, quiet=True, device="cpu"), hooks=[rec])
    return rec.rows, model


def test_each_epoch_is_a_different_permutation_of_all_rows():
    rows, _ = _run()
    assert sorted(rows[0]) == list(range(40)) and sorted(rows[1]) == list(range(40))
    assert rows[0] != rows[1]
    assert rows[0] != list(range(40))


def test_same_seed_same_order_and_bit_identical_weights():
    rows_a, model_a = _run(seed=3)
    rows_b, model_b = _run(seed=3)
    rows_c, _ = _run(seed=4)
    assert rows_a == rows_b and rows_a != rows_c
    for a, b in zip(params(model_a), params(model_b)):
        assert torch.equal(a, b)


def test_no_shuffle_keeps_dataset_order():
    rows, _ = _run(shuffle=False)
    assert rows[0] == list(range(40)) and rows[1] == list(range(40))


def map_style(x, y):
    """A plain map-style dataset (per-row __getitem__): st.fit must take the DataLoader path for it."""
    return torch.utils.data.Subset(torch.utils.data.TensorDataset(x, y), range(len(x)))


@pytest.mark.parametrize("wrap", [map_style, torch.utils.data.TensorDataset])
def test_other_datasets_see_the_same_order_and_train_identically(wrap):
    data = blobs(n=40)
    rows_arr, model_arr = _run(data=data)
    rows_other, model_other = _run(data=wrap(data.x, data.y))
    assert rows_arr == rows_other
    for a, b in zip(params(model_arr), params(model_other)):
        torch.testing.assert_close(a, b)


def test_tensor_datasets_are_sliced_and_other_datasets_use_a_dataloader():
    data = blobs(n=40)
    assert Batches(torch.utils.data.TensorDataset(data.x, data.y), 8, torch.device("cpu")).arrays is not None
    assert Batches(map_style(data.x, data.y), 8, torch.device("cpu")).arrays is None


def test_shard_splits_evenly_and_covers_every_row():
    order = epoch_order(10, epoch=0, seed=0, shuffle=True)
    parts = [shard(order, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]  # padded by wrapping, as DistributedSampler
    assert set(torch.cat(parts).tolist()) == set(range(10))
