"""Run the notification service: `python -m services.notification`."""

from services.notification.app import SPEC
from shared.service import serve

if __name__ == "__main__":
    serve(SPEC)
