"""`python -m services.reporting` runs the service; `python -m services.reporting rebuild` rebuilds its read model."""

from services.reporting.cli import app

if __name__ == "__main__":
    app()
