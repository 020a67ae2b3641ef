"""`slimtorch bench` on data that does not fit the saved model: one line and exit 2, never a traceback
or an accuracy computed with mismatched class ids."""

import torch

import slimtorch as st
from slimtorch.cli import main


def _csv(path, labels):
    rows = ["a,b,label"] + [f"{i % 7},{i % 5},{labels[i % len(labels)]}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return f"csv:{path}"


def _saved(tmp_path, data):
    train, _ = st.data.load(data)
    torch.manual_seed(0)
    model = st.models.build("mlp", widths=[2, 4, len(train.classes)])
    st.save(model, tmp_path / "model", extra={"classes": list(train.classes)})
    return str(tmp_path / "model")


def test_bench_refuses_data_whose_labels_name_other_classes(tmp_path, capsys):
    folder = _saved(tmp_path, _csv(tmp_path / "three.csv", ["cat", "dog", "owl"]))
    other = _csv(tmp_path / "two.csv", ["cat", "owl"])  # "owl" would be id 1 here, "dog" in the model
    assert main(["bench", folder, "--data", other, "--repeats", "1", "--batch-sizes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "['cat', 'owl']" in err and "['cat', 'dog', 'owl']" in err
    same = _csv(tmp_path / "same.csv", ["cat", "dog", "owl"])
    assert main(["bench", folder, "--data", same, "--repeats", "1", "--batch-sizes", "1",
                 "--backends", "eager"]) == 0


def test_bench_quantized_model_on_inputs_of_another_shape_is_one_line(tmp_path, capsys):
    train, _ = st.data.load("digits", limit=64)
    torch.manual_seed(0)
    model = st.models.build("mlp", widths=[64, 8, 10])
    st.save(st.quantize(model, st.Int8(), calib_data=train), tmp_path / "q")
    assert main(["bench", str(tmp_path / "q"), "--input-shape", "1,28,28", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: --input-shape: the model rejects inputs of shape [1, 28, 28]")
    assert err.count("\n") == 1 and "Traceback" not in err
