"""Tests of anomaly.analysis: what the dashboard computes."""
