"""Fixtures of the integration tests: a registration service of its own (a process, real PostgreSQL and
broker) for the API tests (``tests/registration_support.py``); and for notification's tests, an SMTP server
whose answers the test controls, a fake SMS gateway and a producer (``tests/notification_support.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import platform_config
from tests.notification_support import ControlledSmtp, FakeSmsGateway, kafka_producer, sms_gateway, smtp_server
from tests.registration_support import RegistrationApi, registration_service
from tests.support import RecordingSmtpHandler


@pytest.fixture(scope="module")
def registration_api(
    postgres_dsn: str,
    kafka_bootstrap: str,
    smtp: tuple[int, RecordingSmtpHandler],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistrationApi]:
    config = platform_config(postgres_dsn, kafka_bootstrap, smtp[0], Path(tmp_path_factory.mktemp("registration")))
    with registration_service(config) as api:
        yield api


@pytest.fixture
async def mailserver() -> AsyncIterator[ControlledSmtp]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def gateway() -> AsyncIterator[FakeSmsGateway]:
    async with sms_gateway() as fake:
        yield fake


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    async with kafka_producer(kafka_bootstrap) as p:
        yield p
