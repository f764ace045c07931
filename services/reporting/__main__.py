"""Run the reporting service: `python -m services.reporting`."""

from services.reporting.app import SPEC
from shared.service import serve

if __name__ == "__main__":
    serve(SPEC)
