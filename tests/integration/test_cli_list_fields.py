"""`slimtorch list NAME`: a newcomer writing a recipe sees a stage's (or train's, or a zoo model's) fields and
defaults, the same vocabulary the recipe checks against; before, `slimtorch list channel_prune` was refused."""

import dataclasses

import slimtorch as st
from slimtorch.cli import main
from slimtorch.registry import config_class


def test_list_a_stage_prints_every_field_with_its_default(capsys):
    assert main(["list", "channel_prune"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("channel_prune (prune stage; recipe: - channel_prune: {FIELD: VALUE})")
    names = [f.name for f in dataclasses.fields(config_class("channel_prune"))]
    for name in names:  # every field, none invented
        assert f"\n  {name}: " in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == len(names)


def test_list_train_and_a_zoo_model(capsys):
    assert main(["list", "train"]) == 0
    assert "\n  lr: " in capsys.readouterr().out
    assert main(["list", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lenet5 (zoo model; --model-arg KEY=VALUE, recipe model: {name: lenet5, KEY: VALUE})")
    assert [line.strip() for line in out.splitlines()[1:]] == [f"{k}: {v!r}" for k, v in
                                                               st.models.signature("lenet5").items()]


def test_list_an_unknown_name_is_one_line_with_the_close_match(capsys):
    assert main(["list", "chanel_prune"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("slimtorch: error: list: unknown name 'chanel_prune' (did you mean "
                                               "'channel_prune'?); allowed: ")
