"""benchmarks/post_training_images.py: its recovery trains the deployed function (eval mode: BatchNorm statistics
kept, dropout off), its "alloc" ratios without sensitivity are the recipe's, reconstruction rows are streamed."""

import sys
from pathlib import Path

import torch
from torch import nn

import slimtorch as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import post_training_images as pti  # noqa: E402


def test_recovery_trains_in_eval_mode_so_bn_statistics_stay_and_dropout_is_off():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.9), nn.Linear(8, 3))
    seen = []
    model[2].register_forward_pre_hook(lambda m, a: seen.append(m.training))
    mean, weight = model[1].running_mean.clone(), model[0].weight.detach().clone()
    data = st.data.ArrayDataset(torch.randn(64, 4) + 3.0, torch.randint(0, 3, (64,)), "toy")
    st.fit(model, data, st.TrainConfig(epochs=1, batch_size=16, lr=0.1, quiet=True), hooks=[pti._Deployed()])
    assert seen and not any(seen)  # dropout never ran in training mode
    torch.testing.assert_close(model[1].running_mean, mean)  # inputs of mean 3 would have moved it
    assert not torch.equal(model[0].weight, weight)  # and it did train


def test_alloc_ratios_without_sensitivity_are_the_recipes():
    import yaml

    recipe = yaml.safe_load((Path(pti.__file__).parents[1] / "recipes" / "mobilenet_v2-images.yaml").read_text())
    assert pti.recipe_ratios() == recipe["stages"][0]["channel_prune"]["ratios"]


def test_calibration_streams_new_crops_of_the_fit_photos_and_holds_out_the_validation_photos():
    calib = pti.Calib(torch.zeros(4, 3, 32, 32), torch.ones(3, 3, 32, 32), fit_photos=[0, 2])
    data = pti.calibration(calib, rows=5)
    assert data.held is calib.val and len(data.fit) == 5 and data.fit.size == 32 and len(data.fit.photos) == 2
    first, again = data.fit[0][0], data.fit[0][0]
    assert first.shape == (3, 32, 32) and not torch.equal(first, again)  # a new crop per row drawn
