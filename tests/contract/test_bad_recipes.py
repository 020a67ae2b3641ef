"""The bad-recipe corpus: every mistake is one line naming the field, exit 2, nothing overwritten.

Each file in bad_recipes/ starts with ``# expect: <the start of the error line>`` and optionally
``# args: <extra CLI arguments>``.
"""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from slimtorch.cli import main

CORPUS = Path(__file__).parent / "bad_recipes"
CASES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".toml"))
PREFIX = "slimtorch: error: "


def header(path: Path) -> tuple[str, list[str]]:
    expect, args = None, []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            expect = line[len("# expect: "):]
        elif line.startswith("# args: "):
            args = shlex.split(line[len("# args: "):])
    assert expect, f"{path.name} has no '# expect:' line"
    return expect, args


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def previous_run(tmp_path):
    """A run directory holding an earlier run's files, which a bad recipe must leave untouched."""
    out = tmp_path / "run"
    (out / "stages" / "00-train").mkdir(parents=True)
    (out / "state.json").write_text('{"stages": {"00-train": {"status": "done", "key": "abc"}}}')
    (out / "metrics.json").write_text("{}")
    (out / "stages" / "00-train" / "model.safetensors").write_bytes(b"weights")
    (out / "report.html").write_text("<html>old</html>")
    return out


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_bad_recipe(path, previous_run, capsys):
    expect, args = header(path)
    before = snapshot(previous_run)
    code = main(["run", str(path), "--out", str(previous_run), "--quiet", *args])
    captured = capsys.readouterr()
    err_lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(err_lines) == 1, captured.err
    assert err_lines[0].startswith(PREFIX + expect), f"\n got: {err_lines[0]}\nwant: {PREFIX + expect}"
    assert "Traceback" not in captured.err + captured.out
    assert snapshot(previous_run) == before


def test_missing_recipe_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"{PREFIX}recipe: file not found: {tmp_path / 'nope.yaml'}"
    assert not (tmp_path / "out").exists()


def test_bad_recipe_in_a_real_process(tmp_path):
    """Exit status and stderr as a shell sees them (no traceback), run dir not created."""
    out = tmp_path / "fresh"
    proc = subprocess.run([sys.executable, "-m", "slimtorch.cli", "run", str(CORPUS / "unknown_stage.yaml"),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(PREFIX + "stages[1]: unknown stage 'chanel_prune'")
    assert not out.exists()
