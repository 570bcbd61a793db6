"""``python -m instrumentarium.bootstrap``: the same as ``instrumentarium-bootstrap``."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
