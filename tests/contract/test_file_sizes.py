"""Gate: no source file over 400 lines (one concept per file keeps files short)."""

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LIMIT = 400


def test_no_source_file_exceeds_400_lines():
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert sizes, f"no Python files found under {SRC}"
    too_long = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not too_long, f"files over {LIMIT} lines (split them by concept): {too_long}"
