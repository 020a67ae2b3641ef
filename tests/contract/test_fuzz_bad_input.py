"""Fuzzing the front door: every generated bad recipe or CLI argument is one line, exit 2, nothing written.

Each example takes a valid recipe (or ``slimtorch train`` command) and breaks it in one way:
NaN/inf, out-of-range or wrongly typed values, unknown fields and stages, bad ``--set`` overrides,
arbitrary bytes as the recipe file. ``slimtorch.cli.main`` runs in-process, so the default variant
stays fast; the long one is marked slow.
"""

import math
import tempfile
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from slimtorch.cli import main  # noqa: E402

PREFIX = "slimtorch: error: "
BASE = {"model": {"name": "mlp", "widths": [64, 16, 10]}, "data": {"name": "digits", "train_subset": 64},
        "train": {"epochs": 1, "lr": 0.1}, "stages": ["train", {"channel_prune": {"ratio": 0.5}}]}
# numeric fields whose every negative, non-finite or non-numeric value is invalid
TRAIN_NUMBERS = ("lr", "momentum", "weight_decay", "epochs", "batch_size", "label_smoothing", "grad_accum",
                 "clip_norm", "warmup_epochs", "gamma")
# capsys is read (and so emptied) after every example, so sharing it across examples is safe
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=QUIET, derandomize=True)
LONG = settings(max_examples=400, deadline=None, suppress_health_check=QUIET)

non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
bad_number = st.one_of(non_finite, st.floats(max_value=-1e-6, allow_nan=False), st.integers(max_value=-1))
wrong_type = st.one_of(st.text(max_size=8), st.lists(st.integers(), max_size=3), st.booleans(),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
name = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)


@st.composite
def bad_recipes(draw):
    """A recipe dict with exactly one mistake."""
    import copy

    r = copy.deepcopy(BASE)
    kind = draw(st.sampled_from(["train_value", "ratio", "unknown_field", "unknown_stage", "unknown_section",
                                 "model_kwarg", "data_value"]))
    if kind == "train_value":
        r["train"][draw(st.sampled_from(TRAIN_NUMBERS))] = draw(st.one_of(bad_number, wrong_type))
    elif kind == "ratio":  # channel_prune.ratio lives in (0, 1)
        r["stages"][1]["channel_prune"]["ratio"] = draw(st.one_of(bad_number, wrong_type,
                                                                  st.floats(min_value=1.0, allow_infinity=False)))
    elif kind == "unknown_field":
        section = draw(st.sampled_from(["train", "data"]))
        r[section][draw(name.filter(lambda n: n not in _fields(section)))] = 1
    elif kind == "unknown_stage":
        r["stages"].append(draw(name.filter(lambda n: n not in _stage_names())))
    elif kind == "unknown_section":
        r[draw(name.filter(lambda n: n not in ("model", "data", "train", "stages", "report")))] = {}
    elif kind == "model_kwarg":
        r["model"]["widths"] = [64, draw(non_finite), 10]
    else:
        r["data"][draw(st.sampled_from(["train_subset", "batch_size"]))] = draw(st.one_of(bad_number, wrong_type))
    return r


def _fields(section):
    from slimtorch.recipe import DataConfig, train_config_class

    return (train_config_class() if section == "train" else DataConfig).field_names()


def _stage_names():
    from slimtorch.recipe import import_algorithms
    from slimtorch.registry import names

    import_algorithms()
    return set(names()) | {"train"}


def _check(argv, capsys, out: Path, before: dict) -> str:
    """Run the CLI on a bad input; the checks of the contract; the one error line."""
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (argv, captured.err)
    assert len(lines) == 1 and lines[0].startswith(PREFIX), (argv, captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(out) == before, argv
    return lines[0]


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _run_recipe(text: bytes, capsys, extra=()) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        recipe, out = Path(tmp) / "r.yaml", Path(tmp) / "run"
        recipe.write_bytes(text)
        (out / "stages").mkdir(parents=True)
        (out / "state.json").write_text('{"stages": {}}')
        return _check(["run", str(recipe), "--out", str(out), "--quiet", *extra], capsys, out, _snapshot(out))


@FAST
@given(recipe=bad_recipes())
def test_bad_recipe_is_one_line(recipe, capsys):
    assert _run_recipe(yaml.safe_dump(recipe).encode(), capsys).startswith(PREFIX)


@FAST
@given(field=st.sampled_from(TRAIN_NUMBERS),
       value=st.sampled_from([".nan", ".inf", "-.inf", "-1", "-0.5", "[1, 2]", "{a: 1}", "abc", "true", "null"]))
def test_bad_set_override_is_one_line(field, value, capsys):
    if value == "null" and field == "clip_norm":  # null means "no clipping": valid
        value = ".nan"
    assert f"train.{field}" in _run_recipe(yaml.safe_dump(BASE).encode(), capsys, ["--set", f"train.{field}={value}"])


@FAST
@given(blob=st.binary(max_size=64))
def test_arbitrary_bytes_as_recipe_is_one_line(blob, capsys):
    assert _run_recipe(blob, capsys).startswith(PREFIX)


TRAIN_FLAGS = ("--lr", "--momentum", "--weight-decay", "--clip-norm", "--epochs", "--batch-size")


@FAST
@given(flag=st.sampled_from(TRAIN_FLAGS),
       value=st.one_of(st.sampled_from(["nan", "inf", "-inf", "NaN", "-1", "0", "x", ""]),
                       st.floats(max_value=-1e-6, allow_nan=False).map(repr)))
def test_bad_train_flag_is_one_line(flag, value, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if flag in ("--momentum", "--weight-decay") and value == "0":
            value = "-2"  # 0 is valid for these two, out of range for the others
        line = _check(["train", "--model", "mlp", "--data", "xor", "--quiet", "--out", str(out), f"{flag}={value}"],
                      capsys, out, {})
        assert flag in line, line  # the error names the flag


@pytest.mark.slow
@LONG
@given(recipe=bad_recipes())
def test_bad_recipe_is_one_line_long(recipe, capsys):
    assert _run_recipe(yaml.safe_dump(recipe).encode(), capsys).startswith(PREFIX)
