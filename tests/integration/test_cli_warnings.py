"""A warning slimtorch raises reaches a CLI user as one line, `slimtorch: warning: ...`, not Python's
`/path/to/stages.py:155: UserWarning: ...` followed by the source line of the warn call."""

import warnings
from pathlib import Path

import pytest

import slimtorch
from slimtorch.cli import list as list_cmd
from slimtorch.cli import main


def _warns(filename):
    def run(args):
        warnings.warn_explicit("distillation was not better than training alone", UserWarning, filename, 155)
        return 0
    return run


def test_a_slimtorch_warning_is_one_line(monkeypatch, capsys):
    inside = str(Path(slimtorch.__file__).parent / "pipeline" / "stages.py")
    monkeypatch.setattr(list_cmd, "run", _warns(inside))
    assert main(["list"]) == 0
    err = capsys.readouterr().err
    assert err == "slimtorch: warning: distillation was not better than training alone\n"


def test_a_warning_from_another_package_keeps_its_origin(monkeypatch, capsys):
    monkeypatch.setattr(list_cmd, "run", _warns("/somewhere/torch/nn/modules/module.py"))
    assert main(["list"]) == 0
    err = capsys.readouterr().err
    assert "torch/nn/modules/module.py:155: UserWarning: distillation" in err


def test_debug_leaves_warnings_to_python(monkeypatch, capsys):
    inside = str(Path(slimtorch.__file__).parent / "pipeline" / "stages.py")
    monkeypatch.setattr(list_cmd, "run", _warns(inside))
    with pytest.warns(UserWarning, match="distillation was not better") as record:
        assert main(["--debug", "list"]) == 0
    assert record[0].filename == inside and "slimtorch: warning" not in capsys.readouterr().err
