"""deploy/compose/docker-compose.yml against what the code reads: settings, ports, commands, databases."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from deploy import migrate
from shared.settings import SERVICE_PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"


def settings_of(service: str) -> type[Settings]:
    """The settings class the service reads."""
    settings_class: type[Settings] = importlib.import_module(f"services.{service}.app").SPEC.settings_class
    return settings_class


SETTINGS = set().union(*(settings_of(service).env_names() for service in SERVICE_PORTS))
# Read by deploy/migrate.py only: each service's own database for the one-shot job.
MIGRATION_ONLY = {migrate.database_url_variable(service) for service in SERVICE_PORTS}
# What each service cannot run without (beyond the defaults that only suit a laptop).
REQUIRED = {"FMF_DATABASE_URL", "FMF_KAFKA_BOOTSTRAP", "FMF_HTTP_HOST"}
REQUIRED_BY = {
    "registration": {"FMF_OPERATOR_TOKEN"},
    "reporting": {"FMF_OPERATOR_TOKEN"},
    "notification": {"FMF_SMTP_HOST", "FMF_SMTP_PORT", "FMF_PUBLIC_BASE_URL"},
    "matching": set(),
}

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>\w+)")


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and ${VAR?error}."""

    def substitute(match: re.Match[str]) -> str:
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op in (":-", "-"):
            return arg
        raise MissingVariable(f"{name}: {arg or 'required'}")

    return _VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def resolved(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolved(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolved(value, env) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    config: dict[str, Any] = resolved(raw, env_example())
    return config


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("a${SET}b$SET$$", env) == "axbx$"
    assert interpolate("${UNSET:-d}${EMPTY:-e}${EMPTY-f}", env) == "de"
    with pytest.raises(MissingVariable):
        interpolate("${UNSET:?set it}", env)
    with pytest.raises(MissingVariable):
        interpolate("${EMPTY:?}", env)


def test_every_variable_the_file_needs_is_in_the_env_example() -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    resolved(raw, env_example())  # raises MissingVariable
    with pytest.raises(MissingVariable, match="FMF_OPERATOR_TOKEN"):
        resolved(raw, {k: v for k, v in env_example().items() if k != "FMF_OPERATOR_TOKEN"})


@pytest.mark.parametrize("name", list(SERVICE_PORTS))
def test_each_service_runs_its_module_from_the_project_image(compose: dict[str, Any], name: str) -> None:
    service, migration = compose["services"][name], compose["services"]["migrate"]
    assert service["command"] == ["python", "-m", f"services.{name}"]
    assert service["image"] == migration["image"]
    build = service["build"]
    assert (COMPOSE_DIR / build["context"]).resolve() == ROOT
    assert (ROOT / build.get("dockerfile", "Dockerfile")).is_file()


@pytest.mark.parametrize("name", list(SERVICE_PORTS))
def test_each_service_gets_every_setting_it_needs_and_only_real_ones(compose: dict[str, Any], name: str) -> None:
    env = environment(compose["services"][name])
    fmf = {key for key in env if key.startswith("FMF_")}
    own = settings_of(name)
    assert fmf - own.env_names() == set(), f"{name}: not settings of {own.__name__}"
    assert (REQUIRED | REQUIRED_BY[name]) - fmf == set(), f"{name}: missing"
    assert all(env[key].strip() for key in REQUIRED | REQUIRED_BY[name]), f"{name}: an empty required value"
    assert env["FMF_HTTP_HOST"] == "0.0.0.0"
    own.model_validate(
        {key.removeprefix("FMF_").lower(): value for key, value in env.items() if key.startswith("FMF_")}
    )


@pytest.mark.parametrize("name", list(SERVICE_PORTS))
def test_each_service_listens_on_its_port_and_is_reachable(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    port = SERVICE_PORTS[name]
    env = environment(service)
    assert int(env.get("FMF_HTTP_PORT", port)) == port
    container_ports = {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}
    exposed = {int(p) for p in service.get("expose", [])}
    assert port in container_ports | exposed
    assert f":{port}/readyz" in " ".join(service["healthcheck"]["test"])
    if service.get("deploy", {}).get("replicas", 1) > 1:
        # Replicas cannot share a host port: a proxy publishes it and forwards to the service name.
        assert not service.get("ports")
        proxies = [
            s for s in compose["services"].values() if f"{port}:{port}" in " ".join(map(str, s.get("ports", [])))
        ]
        assert len(proxies) == 1
        mounted = [v.split(":")[0] for v in proxies[0]["volumes"]]
        conf = "".join((COMPOSE_DIR / m).read_text(encoding="utf-8") for m in mounted)
        assert f"server {name}:{port}" in conf and f"listen {port};" in conf


def test_registration_runs_two_replicas(compose: dict[str, Any]) -> None:
    assert compose["services"]["registration"]["deploy"]["replicas"] == 2


@pytest.mark.parametrize("name", list(SERVICE_PORTS))
def test_each_service_uses_its_own_database_kafka_and_the_mail_catcher(compose: dict[str, Any], name: str) -> None:
    services = compose["services"]
    env = environment(services[name])
    url = urlsplit(env["FMF_DATABASE_URL"])
    assert url.scheme in ("postgresql", "postgres")
    assert url.hostname in services and services[url.hostname]["image"].startswith("postgres:")
    assert url.path == f"/fmf_{name}"
    assert url.password == env_example()["POSTGRES_PASSWORD"]
    host, _, port = env["FMF_KAFKA_BOOTSTRAP"].partition(":")
    kafka = environment(services[host])
    assert f"://{host}:{port}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    if name == "notification":
        smtp = services[env["FMF_SMTP_HOST"]]
        assert smtp["image"].startswith("axllent/mailpit:") and env["FMF_SMTP_PORT"] == "1025"
    assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_databases_the_services_use_are_created_at_init(compose: dict[str, Any]) -> None:
    init = (COMPOSE_DIR / "postgres-init" / "01-databases.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"CREATE DATABASE (\w+);", init)) == {f"fmf_{name}" for name in SERVICE_PORTS}
    mounts = [v.split(":") for v in compose["services"]["postgres"]["volumes"]]
    assert ["./postgres-init", "/docker-entrypoint-initdb.d", "ro"] in mounts


def test_the_migration_job_migrates_each_services_database_and_creates_the_topics(compose: dict[str, Any]) -> None:
    services = compose["services"]
    job = services["migrate"]
    assert job["command"] == ["python", "-m", "deploy.migrate", "--topics"]
    assert job["restart"] == "no"
    env = environment(job)
    assert {k for k in env if k.startswith("FMF_")} - SETTINGS - MIGRATION_ONLY == set()
    assert set(env) >= MIGRATION_ONLY
    urls = migrate.database_urls(list(SERVICE_PORTS), env)  # raises when two services would share one
    for name, url in urls.items():
        assert url == environment(services[name])["FMF_DATABASE_URL"], name
    assert env["FMF_KAFKA_BOOTSTRAP"] == environment(services["registration"])["FMF_KAFKA_BOOTSTRAP"]
    assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_kafka_runs_in_kraft_mode_from_the_official_image(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "ZOOKEEPER" not in " ".join(env)


def test_every_image_is_pinned_and_every_mounted_path_exists(compose: dict[str, Any]) -> None:
    named_volumes = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"
            else:
                assert source in named_volumes, f"{name}: {source}"
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name}: {dependency}"


def test_prometheus_and_grafana_get_their_files(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    assert "../prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert compose["services"]["grafana"]["image"].startswith("grafana/grafana:")
