"""One section of a benchmark's results JSON, replaced in place: other sections (other scripts' or other runs') stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_section(path: Path, key: str, section: Any, default: Any = None) -> None:
    """Read ``path`` late (another run may have written it), set ``key`` to ``section``, write it back."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=default))
