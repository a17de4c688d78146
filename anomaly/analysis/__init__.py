"""What the dashboard computes, free of Streamlit.

The pages in `dashboards/` are thin scripts: they read widgets and draw charts; everything they
show is computed here, so it can be tested without a browser. Large inputs are reduced here
(binned series, capped tables, thinned curves) so that the browser never receives millions of
points. By topic:

* `workspace` — the workspace folder, safe paths inside it, the files it offers, uploads;
* `scored` — a scored file: its check against the model, headline counts, the threshold slider's
  grid, flagged rows;
* `items` — one scored item (a row, a timestamp, a log session): which input files may hold it,
  how to find it there for the drill-down, labels joined on its keys;
* `explained` — what the drill-down shows of an explanation: a sentence, a table, raw lines;
* `timeline` — scores over time: parsed timestamps, time bins, flagged points, axis labels;
* `training` — diagnostics of a bundle's training history, what the model was trained on;
* `threshold` — what a threshold would do: counts, histograms, the precision-recall curve;
* `monitoring` — the run ledger as the Monitoring page reads it, and the drift signal.

Nothing in this package imports Streamlit (nor torch: the pages load detectors themselves).
"""
