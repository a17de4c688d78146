"""kinds/logs."""
