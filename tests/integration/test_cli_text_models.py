"""A text encoder (minilm) takes token ids: `bench` and `prune` say so instead of asking for a float shape, and
a pruned encoder does not record its example sentence's length as if it were the model's input shape."""

import json

import pytest

import slimtorch as st
from slimtorch.cli import main


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enc") / "minilm"
    model = st.models.build("minilm", pretrained=False, num_layers=1)
    st.save(model, folder, extra={"input_shape": [12]})  # the sentence length older prunes recorded
    return str(folder)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bench_text_encoder_on_image_data_asks_for_text(encoder, capsys):
    assert main(["bench", encoder, "--data", "digits", "--repeats", "1", "--batch-sizes", "1"]) == 2
    err = _one_line(capsys)
    assert "minilm is a text encoder, which takes token ids: give --data text:FILE" in err
    assert "[12]" not in err  # a sentence's length is not a shape to ask for


def test_bench_text_encoder_with_an_input_shape_says_token_ids(encoder, capsys):
    assert main(["bench", encoder, "--input-shape", "8", "--repeats", "1", "--batch-sizes", "1"]) == 2
    assert "--input-shape: minilm takes token ids" in _one_line(capsys)


def test_pruned_text_encoder_records_no_input_shape(encoder, tmp_path, capsys):
    assert main(["prune", encoder, "--ratio", "0.25", "--out", str(tmp_path / "small")]) == 0
    extra = json.loads((tmp_path / "small" / "model.json").read_text())["extra"]
    assert "input_shape" not in extra
