"""Recipe typos a newcomer makes: each is one line naming the field path, the close match and what is allowed;
none is silently ignored."""

import pytest

from slimtorch.config import ConfigError
from slimtorch.pipeline.recipe import parse_recipe


def raw(**changes):
    r = {"model": {"name": "mlp", "widths": [6, 16, 2]}, "data": {"name": "digits"}, "stages": [{"train": {}}]}
    r.update(changes)
    return r


@pytest.mark.parametrize("recipe, message", [
    (raw(stages=[{"trian": {}}]), r"^stages\[0\]: unknown stage 'trian' \(did you mean 'train'\?\); allowed: "),
    (raw(stages=["train", "chanel_prune"]), r"^stages\[1\]: unknown stage 'chanel_prune' \(did you mean "
                                            r"'channel_prune'\?\)"),
    (raw(stagse=["train"]), r"^stagse: unknown section \(did you mean 'stages'\?\); allowed: model, data"),
    # a key beside the stage that is not fit: was "must name exactly one stage (plus optional 'fit')"
    (raw(stages=["train", {"channel_prune": {"ratio": 0.5}, "fitt": {"lr": 0.1}}]),
     r"^stages\[1\]\.fitt: unknown key beside stage 'channel_prune' \(did you mean 'fit'\?\); allowed: fit"),
    # model arguments both in kwargs and beside it: the ones beside it were silently dropped
    (raw(model={"name": "mlp", "kwargs": {"widths": [6, 16, 2]}, "dropout": 0.5}),
     r"^model\.dropout: beside kwargs; allowed: name, kwargs \(put every model argument inside kwargs\)"),
])
def test_typos_are_named_with_the_close_match(recipe, message):
    with pytest.raises(ConfigError, match=message):
        parse_recipe(recipe)


def test_two_stage_names_in_one_entry_still_say_one_stage_per_entry():
    with pytest.raises(ConfigError, match=r"^stages\[0\]: must name exactly one stage"):
        parse_recipe(raw(stages=[{"train": {}, "measure": {}}]))


@pytest.mark.parametrize("recipe, message", [
    (raw(model={"name": "LeNet5"}), r"^model\.name: unknown model 'LeNet5' \(did you mean 'lenet5'\?\); allowed: "),
    (raw(model={"name": "mlpp"}), r"^model\.name: unknown model 'mlpp' \(did you mean 'mlp'\?\)"),
])
def test_model_names_say_the_close_match(recipe, message):
    with pytest.raises(ConfigError, match=message):
        parse_recipe(recipe)


def test_dataset_names_say_the_close_match():
    from slimtorch.pipeline.prepare import load_data
    from slimtorch.pipeline.recipe import DataConfig

    with pytest.raises(ConfigError, match=r"^data\.name: unknown dataset 'mnits' \(did you mean 'mnist'\?\); allowed"):
        load_data(DataConfig(name="mnits"))


def test_a_bad_data_option_value_names_its_field(tmp_path):
    import numpy as np
    from PIL import Image

    from slimtorch.pipeline.prepare import load_data
    from slimtorch.pipeline.recipe import DataConfig

    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(ConfigError, match=r"^data\.options\.size: images:.*got size='abc'"):  # was "data: ..."
        load_data(DataConfig(name=f"images:{tmp_path}", options={"size": "abc"}))


def test_toml_stages_after_a_table_say_where_they_went(tmp_path):
    from slimtorch.pipeline.overrides import read_recipe_file

    # TOML puts keys after a [table] header inside that table: stages became data.stages
    (tmp_path / "r.toml").write_text('[model]\nname = "mlp"\n[data]\nname = "digits"\nstages = ["train"]\n')
    with pytest.raises(ConfigError, match=r"^stages: missing at the top level; it is inside \[data\] \(in TOML"):
        parse_recipe(read_recipe_file(tmp_path / "r.toml"))
