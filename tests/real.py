"""Where the real seal images lie (``../shared/data/real``, beside the project, not in it), and
the mark that skips a test where they are not there (a bare clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

needs_real = pytest.mark.skipif(not REAL.is_dir(),
                                reason="../shared/data/real is not beside the project")
