"""kinds/timeseries."""
