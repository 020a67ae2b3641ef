"""`slimtorch prune minilm`: the zoo's text encoder takes token ids, so the CLI traces it on two tokenised
sentences (it asked for an image --input-shape, and random floats cannot index an embedding)."""

import pytest

from slimtorch.cli import main


@pytest.mark.slow
def test_the_text_encoder_prunes_from_the_command_line(capsys):
    assert main(["prune", "minilm", "--ratio", "0.3"]) == 0
    out = capsys.readouterr().out
    before, after = (int(n.replace(",", "")) for n in out.split("params ", 1)[1].split(" (")[0].split(" -> "))
    assert after < 0.9 * before and "verified on input (2, " in out


@pytest.mark.slow
def test_a_pruned_text_encoder_folder_benches_without_data(tmp_path, capsys):
    assert main(["prune", "minilm", "--ratio", "0.3", "--out", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    assert main(["bench", str(tmp_path / "p"), "--batch-sizes", "1", "--repeats", "2"]) == 0
    assert "onnxruntime" in capsys.readouterr().out
