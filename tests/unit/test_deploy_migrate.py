"""What the migration job (``deploy/migrate.py``) decides without a server: which database each service
migrates, and which folder its migrations come from. The job run against real PostgreSQL and a real broker
is in ``tests/integration/test_deploy_migrate.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy import migrate
from shared import db

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registration", "matching", "notification", "reporting")


def test_services_that_would_share_one_database_are_refused() -> None:
    only_shared = {"FMF_DATABASE_URL": "postgresql://postgres@db.invalid:5432/fmf"}
    with pytest.raises(migrate.ConfigurationError, match="share one database"):
        migrate.database_urls(
            ["matching", "reporting"],
            {
                "FMF_MATCHING_DATABASE_URL": "postgresql://a@db:5432/one",
                "FMF_REPORTING_DATABASE_URL": "postgresql://b@db:5432/one",
            },
        )
    urls = migrate.database_urls(
        SERVICES,
        {
            **only_shared,
            "FMF_REGISTRATION_DATABASE_URL": "postgresql://postgres@db:5432/fmf_registration",
            "FMF_MATCHING_DATABASE_URL": "postgresql://postgres@db:5432/fmf_matching",
            "FMF_NOTIFICATION_DATABASE_URL": "postgresql://postgres@db:5432/fmf_notification",
        },
    )
    assert urls["reporting"] == only_shared["FMF_DATABASE_URL"]
    assert urls["matching"].endswith("/fmf_matching")


def test_migrations_folders_are_the_services_own() -> None:
    for service in SERVICES:
        assert migrate.migrations_folder(service) == ROOT / "services" / service / "migrations"
        assert db.migration_files(migrate.migrations_folder(service))
