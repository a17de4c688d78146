"""`python -m anomaly.cli`."""

from anomaly.cli.main import main

main()
