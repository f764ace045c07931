"""The platform's services, in one place: their names and the HTTP port each listens on by default.

Everything that walks over the services (the local runner, the CLI, migrations, the AsyncAPI generator,
the deployment tests) reads this module, so adding a service is one line here and its own package.
"""

from __future__ import annotations

SERVICE_PORTS: dict[str, int] = {"registration": 8001, "matching": 8002, "notification": 8003, "reporting": 8004}
SERVICES: tuple[str, ...] = tuple(SERVICE_PORTS)
