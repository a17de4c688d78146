"""`python -m anomaly.cli`."""

from anomaly.cli import run

if __name__ == "__main__":
    run()
