"""`python -m anomaly` runs the CLI."""

from anomaly.cli import run

if __name__ == "__main__":
    run()
