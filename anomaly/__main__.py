"""`python -m anomaly` runs the CLI."""

from anomaly.cli import main

if __name__ == "__main__":
    main()
