"""Run the matching service: `python -m services.matching`."""

from services.matching.app import SPEC
from shared.service import serve

if __name__ == "__main__":
    serve(SPEC)
