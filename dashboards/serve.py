"""Start Streamlit with the heavy imports (torch, the detector) done before the server opens.

`anomaly dashboard` runs ``python dashboards/serve.py run dashboards/app.py [streamlit flags]``:
the first visitor then does not wait for torch to import (seconds on a small machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import altair  # noqa: E402, F401  (warm-up: the pages' heavy imports)
from streamlit.web.cli import main  # noqa: E402

import anomaly.core.detector  # noqa: E402
import anomaly.kinds.tabular.kind  # noqa: E402, F401

if __name__ == "__main__":
    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(main())
