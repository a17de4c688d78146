"""`python -m anomaly.cli`."""

from anomaly.cli import main

if __name__ == "__main__":
    main()
