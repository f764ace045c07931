"""Run the registration service: `python -m services.registration`."""

from services.registration.app import SPEC
from shared.service import serve

if __name__ == "__main__":
    serve(SPEC)
