"""Entry point of one benchmark worker process; ``run.py`` starts it (see ``harness/worker.py``)."""

from harness.worker import main

raise SystemExit(main())
