"""Cross-package tests (real processes, the zero-code agent).

The dice example's driver modules (``examples/dice/drive.py``, ``console_telemetry.py``) are
what ``scripts/demo`` runs; the tests import the very same modules instead of copies, so the
example's directory goes on ``sys.path`` here, once.
"""

from __future__ import annotations

import sys
from pathlib import Path

DICE_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dice"

if str(DICE_EXAMPLE) not in sys.path:
    sys.path.insert(0, str(DICE_EXAMPLE))
