"""Recipes: parsing into the API's own configs, round-trips, --set overrides, error field paths."""

import copy

import pytest

from slimtorch.config import ConfigError
from slimtorch.recipe import Recipe, apply_override, load_recipe, parse_recipe, parse_scalar, read_recipe_file
from slimtorch.training import TrainConfig

BASE = {
    "model": {"name": "mlp", "widths": [64, 16, 10]},
    "data": {"name": "digits", "batch_size": 32, "train_subset": 200},
    "train": {"epochs": 2, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9},
    "stages": [
        "train",
        {"distill": {"teacher": "baseline", "temperature": 2.0, "epochs": 1}, "fit": {"lr": 0.05}},
        {"fold_bn": None},
        {"int8": {"calib_batches": 4}},
        "export_onnx",
        {"measure": {"repeats": 3, "batch_sizes": [1, 8]}},
    ],
    "report": {"title": "tiny"},
}


def raw():
    return copy.deepcopy(BASE)


def test_stages_become_the_registered_configs():
    from slimtorch.distillation import DistillConfig
    from slimtorch.quantization import Int8

    r = parse_recipe(raw())
    assert [s.name for s in r.stages] == ["train", "distill", "fold_bn", "int8", "export_onnx", "measure"]
    assert [s.kind for s in r.stages] == ["train", "hook", "transform", "quantize", "export", "measure"]
    assert isinstance(r.stages[1].config, DistillConfig) and r.stages[1].config.temperature == pytest.approx(2.0)
    assert isinstance(r.stages[3].config, Int8) and r.stages[3].config.calib_batches == 4
    assert isinstance(r.train, TrainConfig)
    assert r.train.batch_size == 32  # data.batch_size is the default batch size of every training stage
    assert r.model == {"name": "mlp", "kwargs": {"widths": [64, 16, 10]}}


def test_hook_stage_training_config_merges_epochs_and_fit():
    r = parse_recipe(raw())
    distill = r.stages[1]
    assert distill.train.epochs == 1  # from distill.epochs
    assert distill.train.lr == pytest.approx(0.05)  # from fit
    assert distill.train.momentum == pytest.approx(0.9)  # from the recipe's train section
    assert r.stages[0].train == r.train
    assert r.stages[3].train is None  # int8 does not train


def test_round_trip_dict_configs_dict():
    r = parse_recipe(raw())
    d = r.to_dict()
    again = Recipe.from_dict(d)
    assert again == r
    assert again.to_dict() == d


def test_round_trip_through_yaml_and_toml(tmp_path):
    import yaml

    r = parse_recipe(raw())
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(r.to_dict()))
    assert load_recipe(tmp_path / "r.yaml").stages == r.stages
    toml = """
[model]
name = "mlp"
widths = [64, 16, 10]
[data]
name = "digits"
batch_size = 32
[train]
epochs = 2
lr = 0.1
[[stages]]
train = {}
[[stages]]
int8 = {calib_batches = 4}
"""
    (tmp_path / "r.toml").write_text(toml)
    t = load_recipe(tmp_path / "r.toml")
    assert [s.name for s in t.stages] == ["train", "int8"] and t.stages[1].config.calib_batches == 4


def test_train_stage_fields_override_the_train_section():
    d = raw()
    d["stages"][0] = {"train": {"epochs": 5, "lr": 0.01}}
    s = parse_recipe(d).stages[0]
    assert (s.config.epochs, s.config.lr, s.config.momentum) == (5, pytest.approx(0.01), pytest.approx(0.9))


@pytest.mark.parametrize("text, expected", [
    ("0.05", 0.05), ("1e-3", 1e-3), ("3", 3), ("true", True), ("null", None), ("", None),
    ("[1, 64]", [1, 64]), ("cosine", "cosine"), ("'3'", "3"), ("-2.5E2", -250.0),
])
def test_parse_scalar(text, expected):
    got = parse_scalar(text)
    assert got == (pytest.approx(expected) if isinstance(expected, float) else expected)
    assert type(got) is type(expected)


@pytest.mark.parametrize("expr, check", [
    ("train.lr=0.05", lambda r: r.train.lr == pytest.approx(0.05)),
    ("data.name=moons", lambda r: r.data.name == "moons"),
    ("model.widths=[64, 8, 10]", lambda r: r.model["kwargs"]["widths"] == [64, 8, 10]),
    ("stages[3].int8.calib_batches=8", lambda r: r.stages[3].config.calib_batches == 8),
    ("stages[3].calib_batches=2", lambda r: r.stages[3].config.calib_batches == 2),
    ("stages[1].fit.lr=0.2", lambda r: r.stages[1].train.lr == pytest.approx(0.2)),
    ("stages[4].export_onnx.check=false", lambda r: r.stages[4].config.check is False),
    ("report.out=runs/x", lambda r: r.report.out == "runs/x"),
])
def test_overrides(expr, check):
    d = raw()
    apply_override(d, expr)
    assert check(parse_recipe(d))


@pytest.mark.parametrize("expr, message", [
    ("train.lr", r"^--set: expected FIELD=VALUE"),
    ("stages[9].ratio=1", r"^stages\[9\]: no such stage; the recipe has 6"),
    ("stages[3].channel_prune.ratio=0.5", r"^stages\[3\]: is 'int8'; set stages\[3\]\.int8\.FIELD"),
    ("train..lr=1", r"^--set: cannot read field path"),
    ("report.title.x=1", r"^report\.title: is not a mapping"),
    ("model=[1", r"^--set: cannot parse value '\[1'"),
    ("model=!!python/object/apply:os.system [echo]", r"^--set: cannot parse value .*could not determine a constructor"),
])
def test_bad_overrides(expr, message):
    with pytest.raises(ConfigError, match=message):
        apply_override(raw(), expr)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(optimizer="sgd"), r"^optimizer: unknown section; allowed: model, data, train, stages, report"),
    (lambda d: d.pop("stages"), r"^stages: missing"),
    (lambda d: d.update(stages=[]), r"^stages: must be a non-empty list"),
    (lambda d: d["stages"].append({"chanel_prune": {}}),
     r"^stages\[6\]: unknown stage 'chanel_prune' \(did you mean 'channel_prune'\?\); allowed: "),
    (lambda d: d["stages"][3]["int8"].update(calib_batches=0), r"^stages\[3\]\.int8\.calib_batches: got 0"),
    (lambda d: d["stages"][3]["int8"].update(calib_bathces=2), r"^stages\[3\]\.int8\.calib_bathces: unknown field"),
    (lambda d: d["stages"][1].update(fit={"lr": "fast"}), r"^stages\[1\]\.fit\.lr: wrong type str"),
    (lambda d: d["stages"][1].update(fit={"lrr": 1}), r"^stages\[1\]\.fit\.lrr: unknown field"),
    (lambda d: d["stages"][3].update(fit={"lr": 1}), r"^stages\[3\]\.fit: 'int8' does not train"),
    (lambda d: d["stages"].__setitem__(0, {"train": 5}), r"^stages\[0\]\.train: must be a mapping of fields"),
    (lambda d: d["stages"].__setitem__(0, {"train": {}, "int8": {}}), r"^stages\[0\]: must name exactly one stage"),
    (lambda d: d["train"].update(epochs=0), r"^train\.epochs: got 0; allowed range \[1, inf\]"),
    (lambda d: d["data"].update(batch_size=0), r"^data\.batch_size: got 0"),
    (lambda d: d["data"].update(shuffle=True), r"^data\.shuffle: unknown field; allowed: name, "),
    (lambda d: d.update(model={"name": "lenet6"}),
     r"^model\.name: unknown model 'lenet6' \(did you mean 'lenet5'\?\); allowed: .*lenet5"),
    (lambda d: d.update(model={"factory": "no_such_pkg.nets"}), r"^model\.factory: got 'no_such_pkg\.nets'; must look"),
    (lambda d: d.update(model={"name": "mlp", "factory": "x:y"}), r"^model: give exactly one of 'name'"),
    (lambda d: d.update(model={"factory": "math:sqrt", "widths": [1]}), r"^model\.widths: unknown field"),
    (lambda d: d.update(report={"outt": "x"}), r"^report\.outt: unknown field"),
    (lambda d: d["stages"][5]["measure"].update(backends=["tensorrt"]),
     r"^stages\[5\]\.measure\.backends\[0\]: got 'tensorrt'; allowed: eager, onnxruntime"),
])
def test_errors_name_the_field_path(mutate, message):
    d = raw()
    mutate(d)
    with pytest.raises(ConfigError, match=message):
        parse_recipe(d)


def test_recipe_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^recipe: file not found: "):
        read_recipe_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: {name: [\n")
    with pytest.raises(ConfigError, match=r"^recipe: .*bad\.yaml line 2, column 1: "):
        read_recipe_file(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"^recipe: .* must hold a mapping"):
        read_recipe_file(tmp_path / "list.yaml")


@pytest.mark.parametrize("name, text", [("w.toml", '[model]\r\nname = "mlp"\r\n'),
                                        ("w.yaml", "model: {name: mlp}\r\n")])
def test_a_recipe_saved_with_a_byte_order_mark_reads_as_without(tmp_path, name, text):
    (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode())  # Windows Notepad's UTF-8
    assert read_recipe_file(tmp_path / name) == {"model": {"name": "mlp"}}


def test_data_section_config_is_dataconfig_and_the_old_name_warns():
    import slimtorch.pipeline.recipe as pipeline_recipe
    import slimtorch.recipe as recipe_module
    from slimtorch.recipe import DataConfig, parse_recipe

    r = parse_recipe({"model": {"name": "mlp"}, "data": {"name": "digits", "batch_size": 8}, "stages": ["train"]})
    assert type(r.data) is DataConfig and r.data.batch_size == 8
    for module in (recipe_module, pipeline_recipe):
        with pytest.warns(DeprecationWarning, match="DataSpec is renamed DataConfig"):
            assert module.DataSpec is DataConfig
        with pytest.raises(AttributeError, match=f"module '{module.__name__}' has no attribute 'DataSpek'"):
            module.DataSpek  # noqa: B018
