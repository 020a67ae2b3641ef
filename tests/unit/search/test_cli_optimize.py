"""`slimtorch optimize`: bad input is one line and exit 2, before any training."""

import pytest

from slimtorch.cli import main


@pytest.mark.parametrize("argv,match", [
    (["optimize", "lenet5", "--data", "digits", "--objective", "speed"], "--objective: got 'speed'; allowed: one of"),
    (["optimize", "lenet5", "--data", "digits", "--max-drop", "-1"], "--max-drop"),
    (["optimize", "lenet5", "--data", "digits", "--minutes", "0"], "--minutes"),
    (["optimize", "lenet5", "--data", "digits", "--safety", "-0.5"], "--safety: got -0.5; allowed: a number >= 0"),
    (["optimize", "nosuchnet", "--data", "digits"], "neither a folder written by st.save nor a zoo model"),
    (["optimize", "lenet5", "--data", "digits", "--model-arg", "depth"], "--model-arg: got 'depth'"),
    (["optimize", "lenet5"], "--data"),
])
def test_bad_input_is_one_line_exit_2(argv, match, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err
    assert not (tmp_path / "o").exists()
