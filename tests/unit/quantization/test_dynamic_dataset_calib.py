"""Dynamic int8 calibration from a dataset (what a recipe passes): batches of its rows, not single rows."""

import torch
from torch import nn

from slimtorch.data import ArrayDataset
from slimtorch.quantization.dynamic import input_absmax


def test_absmax_over_a_dataset_equals_the_max_over_its_rows():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 4))
    x = torch.randn(70, 8)
    stats = input_absmax(model, ["0"], ArrayDataset(x, torch.full((70,), -1), "calib"), batches=8)
    torch.testing.assert_close(stats["0"], x.abs().amax(0))


def test_a_dataset_of_token_ids_reaches_the_model_as_2d_batches():
    seen = []

    class Ids(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.out = nn.Embedding(20, 4), nn.Linear(4, 2)

        def forward(self, ids):
            seen.append(ids.dim())
            return self.out(self.emb(ids).mean(1))

    ids = torch.randint(0, 20, (40, 6))
    input_absmax(Ids(), ["out"], ArrayDataset(ids, torch.full((40,), -1), "text"), batches=2)
    assert seen == [2, 2]
