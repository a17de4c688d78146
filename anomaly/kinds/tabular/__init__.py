"""kinds/tabular."""
