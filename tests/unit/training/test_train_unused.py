"""A setting the chosen optimizer, schedule or loss never reads is named in one UserWarning by st.fit (the CLI
refuses it, tests/integration/test_cli_train_flags.py); the table behind both is checked against training itself:
every setting it calls ignored leaves the trained weights bit-identical."""

import copy
import json
import warnings

import pytest
import torch
from train_helpers import blobs, least_squares, mlp

from slimtorch.training import OPTIMIZERS, SCHEDULES, TrainConfig, fit
from slimtorch.training.unused import READ_BY, ignored_settings

BASE = {"epochs": 2, "batch_size": 16, "lr": 0.1, "quiet": True, "device": "cpu"}
# a non-default value of each field READ_BY knows (each one changes training where it is read)
SET = {"momentum": 0.5, "betas": (0.5, 0.9), "grad_accum": 2, "step_size": 0.5, "milestones": (1.0,), "gamma": 0.5,
       "min_lr": 0.05, "plateau_patience": 0, "label_smoothing": 0.2}
CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": ("mse", "my_loss")}


def my_loss(out, y):
    return (out - y).abs().mean()


def _fit(**kw):
    """Weights and each epoch's lr after a short fit from a fixed start: blobs for classification, least squares
    for the mse losses."""
    if kw.get("loss") in ("mse", my_loss):
        data, model = least_squares(n=48)
    else:
        data, model = blobs(n=48), mlp()
    history = fit(model, data, TrainConfig(**{**BASE, **kw}))
    return [p.detach().clone() for p in model.parameters()] + [torch.tensor(history.to_dict()["lr"])]


def _quiet_fit(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fit(**kw)


IGNORED = [(name, choice) for name, (by, readers) in READ_BY.items() for choice in CHOICES[by]
           if choice not in readers]


@pytest.mark.parametrize("name, choice", IGNORED)
def test_a_setting_called_ignored_leaves_training_bit_identical_and_is_warned(name, choice):
    by = READ_BY[name][0]
    chosen = {by: my_loss if choice == "my_loss" else choice}
    without = _quiet_fit(**chosen)
    with pytest.warns(UserWarning, match=rf"{name}=.* is ignored by {by} '{choice}'"):
        with_it = _fit(**chosen, **{name: SET[name]})
    for a, b in zip(with_it, without):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(READ_BY))
def test_every_setting_of_the_table_changes_training_where_it_is_read(name):
    by, readers = READ_BY[name]
    chosen = {by: readers[0]}
    if name == "plateau_patience":  # patience matters once the loss stops improving (a tiny lr stalls it) and
        chosen.update(lr=1e-9, epochs=3)  # only for the epochs after the drop
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read, so not warned
        with_it = _fit(**chosen, **{name: SET[name]})
    without = _fit(**chosen)
    assert any(not torch.equal(a, b) for a, b in zip(with_it, without))


def test_momentum_with_adam_is_one_warning_naming_value_and_readers():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(optimizer="adam", momentum=0.9, lr=0.01)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert messages == ["TrainConfig: momentum=0.9 is ignored by optimizer 'adam' "
                        "(momentum is read by optimizer sgd/gd only)"]
    assert caught[0].filename == __file__  # points at the caller of fit


def test_several_ignored_settings_are_named_in_one_warning_per_fit():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(optimizer="adam", lr=0.01, momentum=0.9, schedule="step", min_lr=0.01)
    assert len(caught) == 1
    assert "momentum=0.9 is ignored by optimizer 'adam'" in str(caught[0].message)
    assert "min_lr=0.01 is ignored by schedule 'step' (min_lr is read by schedule cosine/linear only)" \
        in str(caught[0].message)


@pytest.mark.parametrize("kw", [
    {},  # every default
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
    {"optimizer": "adam", "lr": 0.01, "momentum": 0.0, "betas": [0.9, 0.999]},  # defaults spelled out: not "set"
    {"schedule": "multistep", "milestones": (1.0,), "gamma": 0.5, "warmup_epochs": 0.5},
    {"schedule": "cosine", "min_lr": 0.01, "warmup_epochs": 1},  # warmup is read by every schedule
])
def test_settings_that_are_read_or_left_at_default_warn_nothing(kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(**kw)
    assert not [w for w in caught if "TrainConfig" in str(w.message)]


def test_ignored_settings_reads_a_plain_mapping_and_skips_missing_fields():
    assert ignored_settings({"momentum": 0.9}) == []  # no optimizer given: nothing to judge
    [s] = ignored_settings({"optimizer": "adamw", "momentum": 0.9, "betas": (0.8, 0.9)})
    assert (s.name, s.value, s.by, s.chosen, s.readers) == ("momentum", 0.9, "optimizer", "adamw", ("sgd", "gd"))


def test_a_recipe_stage_switching_to_adam_warns_about_the_inherited_momentum(tmp_path):
    from slimtorch.pipeline import runner
    from slimtorch.recipe import parse_recipe

    recipe = parse_recipe(json.loads(json.dumps({
        "model": {"name": "mlp", "widths": [64, 10]},
        "data": {"name": "digits", "batch_size": 32, "train_subset": 64, "test_subset": 32},
        "train": {"epochs": 1, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "quiet": True},
        "stages": ["train", {"train": {"optimizer": "adam", "lr": 0.001}}],
        "report": {"plots": False},
    })), name="tiny")
    assert recipe.stages[1].config.momentum == pytest.approx(0.9)  # inherited, accepted: the stage is valid
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner.run(copy.deepcopy(recipe), out=tmp_path / "run", quiet=True)
    ours = [str(w.message) for w in caught if "is ignored by" in str(w.message)]
    assert ours == ["TrainConfig: momentum=0.9 is ignored by optimizer 'adam' (momentum is read by optimizer sgd/gd "
                    "only)"]  # the sgd stage trains without a word
