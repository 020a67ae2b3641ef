"""A recipe with a syntax error: one line naming the file, the line and column, and what is wrong."""

import re

import pytest

from slimtorch.cli import main
from slimtorch.config import ConfigError
from slimtorch.pipeline.overrides import read_recipe_file

CASES = [
    # unclosed flow mapping: the parser notices at the next line
    ("open.yaml", "model: {name: lenet5\ndata: {name: mnist}\nstages: [train]\n", r"line 2, column \d+"),
    # a key indented under a scalar value
    ("indent.yaml", "model:\n  name: lenet5\n   data: x\n", r"line 3, column 8: mapping values are not allowed"),
    # a tab as indentation
    ("tab.yaml", "model: {name: lenet5}\nstages:\n\t- train\n", r"line 3, column 1: .*tab"),
    ("bad.toml", '[model]\nname = "mlp"\nwidths = [1, 2\n', r"line \d+, column \d+"),
    # YAML keeps the last of two equal keys without a word: the first model: was silently dropped
    ("dup.yaml", "model: {name: lenet5}\nmodel: {name: mlp}\nstages: [train]\n",
     r"line 2, column 1: duplicate key 'model' \(first at line 1\)"),
    ("dupinner.yaml", "model: {name: lenet5}\ntrain:\n  lr: 0.1\n  lr: 0.2\n",
     r"line 4, column 3: duplicate key 'lr' \(first at line 3\)"),
    # a line indented less than its neighbours: PyYAML says "expected <block end>"
    ("dedent.yaml", "stages:\n  - train:\n      lr: 0.1\n     epochs: 2\n",
     r"line 4, column 6: .*indentation does not line up"),
]


@pytest.mark.parametrize("name, text, where", CASES, ids=[c[0] for c in CASES])
def test_syntax_error_names_file_line_and_column(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_recipe_file(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"recipe: {path}")
    assert re.search(where, msg), msg


def test_cli_syntax_error_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "open.yaml"
    path.write_text(CASES[0][1])
    code = main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "open.yaml" in err[0] and "line 2, column" in err[0], err
    assert not (tmp_path / "run").exists()
