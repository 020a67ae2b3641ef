"""End to end through the CLI: `slimtorch run` on a tiny recipe, `slimtorch bench`, `slimtorch demo`."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import slimtorch as st
from slimtorch.cli import main

RECIPE = """
model: {name: mlp, widths: [64, 32, 10]}
data: {name: digits, batch_size: 32, train_subset: 400, test_subset: 200}
train: {epochs: 2, optimizer: sgd, lr: 0.1, momentum: 0.9}
stages:
  - train
  - channel_prune: {ratio: 0.5}
  - train: {epochs: 1, lr: 0.02}
  - magnitude_prune: {sparsity: 0.5}
  - measure: {repeats: 2, warmup: 1, batch_sizes: [1, 16], sensitivity: false}
report: {title: tiny end-to-end}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (root / "tiny.yaml").write_text(RECIPE)
    out = root / "run"
    code = main(["run", str(root / "tiny.yaml"), "--out", str(out), "--quiet", "--set", "train.epochs=3"])
    assert code == 0
    return out


def test_run_dir_files(run_dir):
    stages = sorted(p.name for p in (run_dir / "stages").iterdir())
    assert stages == ["00-train", "01-channel_prune", "02-train", "03-magnitude_prune", "04-measure"]
    for s in stages[:-1]:  # one saved model per model-producing stage
        assert (run_dir / "stages" / s / "model.safetensors").is_file()
    for f in ("metrics.json", "state.json", "recipe.json", "model.onnx", "report.md", "report.html"):
        assert (run_dir / f).is_file(), f
    recipe = json.loads((run_dir / "recipe.json").read_text())
    assert recipe["train"]["epochs"] == 3  # the --set override was applied


def test_loss_goes_down_and_pruning_shrinks(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    loss = m["stages"][0]["history"]["loss"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    rows = {r["label"]: r for r in m["measure"]["rows"]}
    base, pruned = rows["train-0"], rows["channel_prune"]
    assert pruned["params"] < base["params"]
    assert [k["kept"] for k in pruned["kept"]] == [16, 10]  # half the hidden neurons, every output kept
    assert rows["magnitude_prune"]["nonzero_params"] < rows["train-2"]["nonzero_params"]
    assert rows["magnitude_prune"]["accuracy"] > 0.5


def test_onnx_is_the_final_model(run_dir):
    import onnxruntime as ort

    model = st.load(run_dir / "stages" / "03-magnitude_prune")
    x = st.data.load("digits")[1].x[:32]
    sess = ort.InferenceSession(str(run_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_report_is_self_contained_with_plots(run_dir):
    page = (run_dir / "report.html").read_text()
    srcs = re.findall(r"src='([^']*)'", page)
    assert len(srcs) >= 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"(href|src)=['\"]?(https?:|//|file:)", page)
    md = (run_dir / "report.md").read_text()
    assert "](plots/training.png)" in md and "](plots/pareto.png)" in md
    assert "| channel_prune |" in md


def test_rerun_skips_every_stage(run_dir, tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    assert main(["run", str(tmp_path / "tiny.yaml"), "--out", str(run_dir), "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert out.count("unchanged, skipped") == 5
    assert "train-0" in out and "speedup @16" in out


def test_bench_a_saved_model_and_a_run(run_dir, capsys):
    assert main(["bench", str(run_dir / "stages" / "01-channel_prune"), "--data", "digits", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy\s+\d+\.\d+%", out) and "eager" in out and "params" in out
    assert main(["bench", str(run_dir), "--repeats", "1", "--batch-sizes", "1", "4", "--backends", "eager"]) == 0
    out = capsys.readouterr().out
    assert "03-magnitude_prune" in out and "ms @4" in out


def test_bench_input_shape_from_the_flag_or_the_model(run_dir, capsys):
    folder = str(run_dir / "stages" / "01-channel_prune")
    assert main(["bench", folder, "--repeats", "1", "--batch-sizes", "2", "--backends", "eager"]) == 0  # recorded
    assert main(["bench", folder, "--input-shape", "1,8,8", "--repeats", "1", "--backends", "eager"]) == 0
    capsys.readouterr()
    assert main(["bench", folder, "--input-shape", "a,b"]) == 2
    assert capsys.readouterr().err.strip() == ("slimtorch: error: --input-shape: got 'a,b'; allowed: comma-separated "
                                               "positive integers like 3,32,32")


def test_bench_bad_path(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("slimtorch: error: path: ")


def test_demo_recipe_is_shipped(capsys):
    assert main(["demo", "--show"]) == 0
    text = capsys.readouterr().out
    recipe = st.recipe.load_recipe(Path(__file__).parents[2] / "recipes" / "mnist-demo.yaml")
    names = [s.name for s in recipe.stages]  # the optimizer's cuts: one channel_prune stage per ratio
    assert names[:2] == ["train", "channel_prune"] and names[names.index("distill") - 1] == "channel_prune"
    assert "lenet5" in text


@pytest.mark.slow
def test_full_demo(tmp_path):
    """The shipped demo end to end; the speed target is reported (timings are not asserted in tests)."""
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    final = json.loads((tmp_path / "metrics.json").read_text())["final"]
    assert final["size_ratio"] >= 8.0
    assert final["accuracy_drop"] <= 0.5
    assert set(final["speedup"]) == {"1", "64"}
