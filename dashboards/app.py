"""The `anomaly` dashboard: `anomaly dashboard --workspace DIR` (or `streamlit run` this file).

The workspace comes from the ANOMALY_WORKSPACE environment variable (the CLI sets it), else the
current folder. Pages are thin: what they compute lives in `anomaly.analysis` (no Streamlit there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Import the `anomaly` package of this checkout (not another installed copy).
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

HERE = Path(__file__).resolve().parent  # pages live in views/: a folder named pages/ would make
# Streamlit serve deep links (/monitoring) as stand-alone scripts before st.navigation runs

st.set_page_config(page_title="anomaly", layout="wide")
pages = [
    st.Page(HERE / "views" / "anomalies.py", title="Anomalies", default=True),
    st.Page(HERE / "views" / "training.py", title="Training"),
    st.Page(HERE / "views" / "threshold.py", title="Threshold tuning"),
    st.Page(HERE / "views" / "monitoring.py", title="Monitoring"),
]
st.navigation(pages).run()
