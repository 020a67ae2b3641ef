"""A one-sentence `text:` file: the loader's advice "or test_fraction=0 to keep all in train" is right only for a
command that does not need test rows (train). bench, run (every run ends in a measure stage on the test rows) and
optimize (text is not searched at all) each say what is right for them, in one line, exit 2, before any work."""

import pytest
import torch
import yaml

import slimtorch as st
from slimtorch.cli import main

KEEP_ALL = "test_fraction=0 to keep all in train"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "one.txt").write_text("a single sentence is all I have\n")
    (tmp_path / "five.txt").write_text("".join(f"sentence number {i} of five\n" for i in range(5)))
    torch.manual_seed(0)
    st.save(st.models.build("minilm", pretrained=False, num_layers=1), tmp_path / "mini")
    return tmp_path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _recipe(tmp_path, data):
    recipe = {"model": {"name": "minilm", "pretrained": False, "num_layers": 1}, "data": data,
              "stages": [{"channel_prune": {"ratio": 0.5}}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(recipe))
    return str(tmp_path / "t.yaml")


def test_bench_does_not_advise_an_empty_test_split(files, capsys):
    assert main(["bench", str(files / "mini"), "--data", f"text:{files / 'one.txt'}"]) == 2
    err = _one_line(capsys)
    assert KEEP_ALL not in err and "needs at least 3 sentences" in err
    assert "bench measures on the test split" in err


def test_run_does_not_advise_an_empty_test_split(files, capsys):
    out = files / "run"
    assert main(["run", _recipe(files, {"name": f"text:{files / 'one.txt'}"}), "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys)
    assert KEEP_ALL not in err and "needs at least 3 sentences" in err and "measure" in err
    assert not out.exists()


def test_run_refuses_an_empty_test_split_before_any_stage(files, capsys):
    out = files / "run"  # before: the prune stage ran, then "evaluate: the dataset is empty" at the measure stage
    data = {"name": f"text:{files / 'five.txt'}", "options": {"test_fraction": 0}}
    assert main(["run", _recipe(files, data), "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys)
    assert err.startswith("slimtorch: error: data.options.test_fraction: ")
    assert "no test rows" in err and "allowed: test_fraction in (0, 1)" in err
    assert not out.exists()


def test_optimize_says_text_is_not_searched_before_loading_it(files, capsys):
    assert main(["optimize", str(files / "mini"), "--data", f"text:{files / 'one.txt'}",
                 "--out", str(files / "o")]) == 2
    err = _one_line(capsys)
    assert KEEP_ALL not in err and "token ids" in err and "slimtorch prune" in err


def test_train_with_a_teacher_keeps_the_advice_it_can_follow(files, capsys):
    assert main(["train", "--model", "minilm", "--model-arg", "pretrained=false", "--model-arg", "num_layers=1",
                 "--teacher", str(files / "mini"), "--data", f"text:{files / 'one.txt'}",
                 "--out", str(files / "t")]) == 2
    assert KEEP_ALL in _one_line(capsys)


def test_train_without_a_teacher_says_text_has_no_labels_before_the_split_advice(files, capsys):
    # before: "... or test_fraction=0 to keep all in train", and following it gave "has no labels"
    assert main(["train", "--model", "minilm", "--model-arg", "pretrained=false", "--data",
                 f"text:{files / 'one.txt'}", "--out", str(files / "t")]) == 2
    err = _one_line(capsys)
    assert KEEP_ALL not in err and "has no labels" in err and "--teacher" in err


def test_optimize_of_a_missing_text_file_says_it_is_missing(files, capsys):
    assert main(["optimize", str(files / "mini"), "--data", f"text:{files / 'nope.txt'}",
                 "--out", str(files / "o")]) == 2
    err = _one_line(capsys)
    assert "not found" in err and "nope.txt" in err and "token ids" not in err
