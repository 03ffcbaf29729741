"""The report folder: created, ``metrics.json`` written first, every file replaced atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ._text import to_jsonable


def atomic_write(path, text):
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def start_report(results, output):
    """Create ``output`` and write ``results`` to its strict-JSON ``metrics.json``.

    Returns ``(folder, can_plot)``: whether matplotlib is installed to draw the figures.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "metrics.json", json.dumps(to_jsonable(results), indent=1, allow_nan=False))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return out, False
    return out, True
