"""Tests of the Streamlit dashboard (AppTest and a real browser)."""
