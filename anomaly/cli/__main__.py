"""`python -m anomaly.cli`."""

from anomaly.cli import main

main()
