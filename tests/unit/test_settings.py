"""Settings split by concern: each service reads its own class, secrets never show, and the environment
variables are the same ones deployments and the README have always used."""

from __future__ import annotations

import importlib

import pytest
from pydantic import SecretStr, ValidationError

from deploy.cli import CliSettings
from deploy.local.settings import LocalSettings
from services.notification.settings import NotificationSettings
from services.registration.settings import RegistrationSettings
from services.reporting.settings import ReportingSettings
from shared.registry import SERVICES
from shared.service import Runtime, ServiceSpec
from shared.settings import AbuseLimitSettings, FmfSettings, OperatorSettings, Settings

# Every variable the services read (the one flat class's before the split, and those added since): none may
# be renamed or lost.
FLAT_NAMES = {
    *("FMF_DATABASE_URL", "FMF_KAFKA_BOOTSTRAP", "FMF_HTTP_HOST", "FMF_HTTP_PORT", "FMF_TOPIC_PARTITIONS"),
    *("FMF_TOPIC_REPLICATION", "FMF_CONSUMER_GROUP_PREFIX", "FMF_KAFKA_SESSION_TIMEOUT_MS"),
    *("FMF_KAFKA_HEARTBEAT_INTERVAL_MS", "FMF_OUTBOX_POLL_INTERVAL_S", "FMF_OUTBOX_BATCH_SIZE", "FMF_LAG_INTERVAL_S"),
    *("FMF_CONSUMER_MAX_ATTEMPTS", "FMF_OPERATOR_TOKEN", "FMF_DB_POOL_MIN", "FMF_DB_POOL_MAX", "FMF_SMTP_HOST"),
    *("FMF_SMTP_PORT", "FMF_SMTP_USERNAME", "FMF_SMTP_PASSWORD", "FMF_SMTP_STARTTLS", "FMF_SMTP_TIMEOUT_S"),
    *("FMF_MAIL_FROM", "FMF_SENDER_POLL_INTERVAL_S", "FMF_SENDER_WORKERS", "FMF_SENDER_MAX_ATTEMPTS"),
    *("FMF_SENDER_BACKOFF_BASE_S", "FMF_SENDER_BACKOFF_CAP_S", "FMF_MANAGE_LINK_WAIT_S", "FMF_PUBLIC_BASE_URL"),
    *("FMF_SMS_GATEWAY_URL", "FMF_SMS_GATEWAY_KEY", "FMF_SMS_SENDER", "FMF_SMS_TIMEOUT_S", "FMF_PHONE_COUNTRIES"),
    *("FMF_LINK_EXPIRY_INTERVAL_S", "FMF_REGISTRATION_CLOSE_INTERVAL_S", "FMF_RETENTION_INTERVAL_S", "FMF_CSRF_SECRET"),
    *("FMF_MAX_BODY_BYTES", "FMF_TRUSTED_PROXIES", "FMF_RATE_LIMITS_ENABLED", "FMF_RATE_LIMIT_STORAGE"),
    *("FMF_LIMIT_SIGNUP_PER_CLIENT", "FMF_LIMIT_SIGNUP_PER_MEETING", "FMF_LIMIT_SIGNUP_PER_CONTACT"),
    *("FMF_LIMIT_CONFIRM_FAILURES_PER_CLIENT", "FMF_LIMIT_CONFIRM_FAILURES_PER_TARGET"),
    *("FMF_LIMIT_MANAGE_FAILURES_PER_CLIENT", "FMF_LIMIT_MANAGE_FAILURES_PER_TARGET"),
    *("FMF_LIMIT_INVITATION_FAILURES_PER_CLIENT", "FMF_LIMIT_INVITATION_FAILURES_PER_MEETING"),
    *("FMF_LIMIT_BEARER_FAILURES_PER_CLIENT", "FMF_LOG_LEVEL", "FMF_LOG_JSON"),
    *("FMF_OUTBOX_RETENTION_HOURS", "FMF_BROKER_CHECK_INTERVAL_S"),
    *("FMF_CONSUMER_BATCH", "FMF_CONSUMER_BATCH_MAX_RECORDS", "FMF_CONSUMER_BATCH_MAX_WAIT_MS"),
    *("FMF_SMTP_POOL_SIZE", "FMF_SMTP_MESSAGES_PER_CONNECTION", "FMF_SMTP_IDLE_S", "FMF_SENDER_BATCH_SIZE"),
    *("FMF_DB_ACQUIRE_TIMEOUT_S", "FMF_DB_CONNECT_TIMEOUT_S", "FMF_DB_STATEMENT_TIMEOUT_S", "FMF_DB_RETRY_AFTER_S"),
    *("FMF_CONSOLE_IDLE_TIMEOUT_S", "FMF_CONSOLE_COOKIE_SECURE", "FMF_REPORTING_URL"),
}
COMMON = Settings.env_names()
SMTP_AND_SMS = {name for name in FLAT_NAMES if name.startswith(("FMF_SMTP_", "FMF_SMS_", "FMF_SENDER_"))}
ABUSE_LIMITS = {name for name in FLAT_NAMES if name.startswith(("FMF_LIMIT_", "FMF_RATE_LIMIT"))}
REGISTRATION_JOBS = {"FMF_LINK_EXPIRY_INTERVAL_S", "FMF_REGISTRATION_CLOSE_INTERVAL_S", "FMF_RETENTION_INTERVAL_S"}
CONSOLE = {"FMF_CONSOLE_IDLE_TIMEOUT_S", "FMF_CONSOLE_COOKIE_SECURE", "FMF_REPORTING_URL"}


def spec_of(service: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(f"services.{service}.app").SPEC
    return spec


def test_each_service_reads_its_own_class() -> None:
    assert {service: spec_of(service).settings_class for service in SERVICES} == {
        "registration": RegistrationSettings,
        "matching": Settings,
        "notification": NotificationSettings,
        "reporting": ReportingSettings,
    }


def test_the_common_settings_are_what_every_service_needs_and_nothing_of_one_service() -> None:
    assert {"FMF_DATABASE_URL", "FMF_KAFKA_BOOTSTRAP", "FMF_HTTP_PORT", "FMF_DB_POOL_MAX"} <= COMMON
    assert {"FMF_OUTBOX_POLL_INTERVAL_S", "FMF_CONSUMER_MAX_ATTEMPTS", "FMF_LOG_JSON", "FMF_MAX_BODY_BYTES"} <= COMMON
    assert not COMMON & (SMTP_AND_SMS | ABUSE_LIMITS | REGISTRATION_JOBS | CONSOLE)
    assert not COMMON & {"FMF_OPERATOR_TOKEN", "FMF_PHONE_COUNTRIES", "FMF_PUBLIC_BASE_URL", "FMF_MAIL_FROM"}


def test_each_service_carries_only_its_own_settings() -> None:
    registration = RegistrationSettings.env_names() - COMMON
    notification = NotificationSettings.env_names() - COMMON
    reporting = ReportingSettings.env_names() - COMMON
    own = {"FMF_OPERATOR_TOKEN", "FMF_PHONE_COUNTRIES", "FMF_CSRF_SECRET"}
    assert registration == own | REGISTRATION_JOBS | ABUSE_LIMITS | CONSOLE
    assert notification == SMTP_AND_SMS | {"FMF_MAIL_FROM", "FMF_MANAGE_LINK_WAIT_S", "FMF_PUBLIC_BASE_URL"}
    assert reporting == {"FMF_OPERATOR_TOKEN", "FMF_CONSOLE_COOKIE_SECURE"}  # the dashboards opened from the console


def test_the_environment_variables_are_the_ones_of_the_flat_class() -> None:
    """Names are FMF_ and the field, flat: the split renamed nothing and lost nothing."""
    services = set().union(*(spec_of(service).settings_class.env_names() for service in SERVICES))
    assert services == FLAT_NAMES


def test_settings_are_read_from_the_flat_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FMF_SMTP_PASSWORD", "smtp-secret")
    monkeypatch.setenv("FMF_SMS_GATEWAY_KEY", "sms-secret")
    monkeypatch.setenv("FMF_SENDER_WORKERS", "7")
    monkeypatch.setenv("FMF_OPERATOR_TOKEN", "operator-secret")
    monkeypatch.setenv("FMF_PHONE_COUNTRIES", "NO,SE")
    monkeypatch.setenv("FMF_DATABASE_URL", "postgresql://db.example/fmf")
    notification = NotificationSettings()
    assert notification.smtp_password.get_secret_value() == "smtp-secret"
    assert notification.sms_gateway_key.get_secret_value() == "sms-secret"
    assert notification.sender_workers == 7
    assert notification.database_url == "postgresql://db.example/fmf"
    registration = RegistrationSettings()
    assert registration.operator_token.get_secret_value() == "operator-secret"
    assert registration.phone_countries == "NO,SE"
    assert ReportingSettings().operator_token.get_secret_value() == "operator-secret"
    # Another service's variables in the same environment are not read, and are no error.
    assert not hasattr(registration, "smtp_password") and not hasattr(Settings(), "operator_token")


def test_a_setting_of_another_service_is_refused_as_a_keyword() -> None:
    with pytest.raises(ValidationError, match="smtp_port"):
        RegistrationSettings(smtp_port=25)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="operator_token"):
        NotificationSettings(operator_token="x")  # type: ignore[call-arg]


SECRETS: dict[type[FmfSettings], set[str]] = {
    RegistrationSettings: {"operator_token"},
    ReportingSettings: {"operator_token"},
    NotificationSettings: {"smtp_password", "sms_gateway_key"},
    Settings: set(),
    LocalSettings: {"operator_token"},
    CliSettings: {"operator_token"},
}


@pytest.mark.parametrize("cls", list(SECRETS), ids=lambda cls: cls.__name__)
def test_every_key_token_and_password_is_a_secret_str(cls: type[FmfSettings]) -> None:
    secret = {name for name, field in cls.model_fields.items() if field.annotation is SecretStr}
    assert secret == SECRETS[cls]
    named_like_one = {name for name in cls.model_fields if any(w in name for w in ("token", "password", "key"))}
    assert named_like_one <= secret


@pytest.mark.parametrize("cls", [c for c, names in SECRETS.items() if names], ids=lambda cls: cls.__name__)
def test_a_secret_never_shows_in_repr_str_or_a_dump(cls: type[FmfSettings]) -> None:
    values = {name: f"very-secret-{name}" for name in SECRETS[cls]}
    settings = cls(**values)
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert "very-secret" not in shown
    for name, value in values.items():
        assert "**********" in repr(getattr(settings, name))
        assert getattr(settings, name).get_secret_value() == value


def test_the_building_blocks_hold_the_shared_concerns() -> None:
    assert set(OperatorSettings.model_fields) == {"operator_token"}
    assert {f"FMF_{name.upper()}" for name in AbuseLimitSettings.model_fields} == ABUSE_LIMITS
    with pytest.raises(ValidationError, match="rate limit"):
        AbuseLimitSettings(limit_signup_per_client="often")


def test_the_runtime_holds_the_services_own_settings() -> None:
    for service in SERVICES:
        spec = spec_of(service)
        runtime = Runtime(spec, spec.settings_class())
        assert type(runtime.settings) is spec.settings_class
    with pytest.raises(TypeError, match="NotificationSettings"):
        Runtime(spec_of("notification"), Settings())


def test_the_local_runner_and_the_cli_read_their_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("FMF_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("FMF_PG_PORT", "55999")
    monkeypatch.setenv("FMF_SMS_SINK_PORT", "1999")
    monkeypatch.setenv("FMF_REGISTRATION_URL", "http://registration.example:8001")
    monkeypatch.delenv("FMF_DATABASE_URL", raising=False)
    local = LocalSettings()
    assert (str(local.var_dir), local.pg_port, local.sms_sink_port, local.database_url) == (
        str(tmp_path),
        55999,
        1999,
        "",
    )
    cli = CliSettings()
    assert cli.registration_url == "http://registration.example:8001" and str(cli.var_dir) == str(tmp_path)
