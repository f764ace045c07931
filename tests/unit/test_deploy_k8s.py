"""deploy/k8s: every manifest validates against the Kubernetes schemas, and the Deployments, Services,
Job, autoscaler and disruption budgets fit together and fit what the code reads."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from deploy import migrate
from shared.registry import SERVICE_PORTS
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
EXAMPLE_SECRET = "secret.example.yaml"
# The oldest Kubernetes we support and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


def settings_of(service: str) -> type[Settings]:
    """The settings class the service reads."""
    settings_class: type[Settings] = importlib.import_module(f"services.{service}.app").SPEC.settings_class
    return settings_class


SETTINGS = set().union(*(settings_of(service).env_names() for service in SERVICE_PORTS))
REQUIRED = {"FMF_DATABASE_URL", "FMF_KAFKA_BOOTSTRAP", "FMF_HTTP_HOST"}
REQUIRED_BY = {
    "registration": {"FMF_OPERATOR_TOKEN"},
    "reporting": {"FMF_OPERATOR_TOKEN"},
    "notification": {"FMF_SMTP_HOST", "FMF_SMTP_PORT", "FMF_PUBLIC_BASE_URL"},
    "matching": set(),
}
# The secrets among the settings (SecretStr), and the database URL, which carries a password.
SECRET_SETTINGS = {"FMF_DATABASE_URL"} | {
    f"FMF_{name.upper()}"
    for service in SERVICE_PORTS
    for name, field in settings_of(service).model_fields.items()
    if field.annotation is SecretStr
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in documents(path)
    ]


def applied() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` creates."""
    kustomization = documents(K8S / "kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in documents(K8S / name)]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in applied() if doc["kind"] == kind}


def env_names(container: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every variable the container gets: its own env and the ConfigMaps it takes whole."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    env.update({item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])})
    return env


def secret_keys(container: dict[str, Any]) -> dict[str, str]:
    return {
        item["name"]: item["valueFrom"]["secretKeyRef"]["key"]
        for item in container.get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    }


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly(version: str) -> None:
    checked = 0
    for filename, doc in manifests():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            raise AssertionError(f"{filename} {doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}") from exc
        checked += 1
    assert checked >= 12


def test_the_validation_rejects_a_broken_manifest() -> None:
    deployment = of_kind("Deployment")["registration"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", EXAMPLE_SECRET}
    assert listed == on_disk
    assert kustomization["namespace"] == "fmf"
    assert not [doc for doc in applied() if doc["kind"] == "Secret"], "secrets must not be applied from the repo"


def test_the_example_secret_holds_placeholders_only() -> None:
    (secret,) = documents(K8S / EXAMPLE_SECRET)
    assert secret["kind"] == "Secret" and "data" not in secret
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())
    assert "EXAMPLE ONLY" in (K8S / EXAMPLE_SECRET).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(SERVICE_PORTS))
def test_each_service_has_a_deployment_that_runs_it_safely(name: str) -> None:
    deployment = of_kind("Deployment")[name]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == name  # becomes the Prometheus job label
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"services.{name}"]
    assert container["image"].split(":")[0] == "folk-moter-folk"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": SERVICE_PORTS[name]}

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert ports.get(container[probe]["httpGet"]["port"]) == SERVICE_PORTS[name], probe

    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]

    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(SERVICE_PORTS[name])
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("name", list(SERVICE_PORTS))
def test_each_deployment_gets_every_setting_it_needs_and_secrets_from_the_secret(name: str) -> None:
    (container,) = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"]
    env = env_names(container, of_kind("ConfigMap"))
    fmf = {key for key in env if key.startswith("FMF_")}
    own = settings_of(name)
    assert fmf - own.env_names() - set(config_data()) == set(), f"{name}: not settings of {own.__name__}"
    assert (REQUIRED | REQUIRED_BY[name]) - fmf == set(), f"{name}: missing"
    assert env["FMF_HTTP_HOST"] == "0.0.0.0"
    assert int(env.get("FMF_HTTP_PORT", SERVICE_PORTS[name])) == SERVICE_PORTS[name]

    from_secret = secret_keys(container)
    assert {key for key in fmf if key in SECRET_SETTINGS} <= set(from_secret), "a secret setting given in the clear"
    assert from_secret["FMF_DATABASE_URL"] == f"{name}-database-url"
    (example,) = documents(K8S / EXAMPLE_SECRET)
    assert set(from_secret.values()) <= set(example["stringData"]), "the example Secret lacks a key"
    refs = [item["valueFrom"]["secretKeyRef"]["name"] for item in container["env"] if "valueFrom" in item]
    assert set(refs) == {example["metadata"]["name"]}


def config_data() -> dict[str, str]:
    """The ConfigMap every service takes whole (each reads only its own settings of it)."""
    (config,) = of_kind("ConfigMap").values()
    data: dict[str, str] = config["data"]
    return data


def test_the_secret_settings_are_the_secret_str_fields() -> None:
    assert {"FMF_OPERATOR_TOKEN", "FMF_SMTP_PASSWORD", "FMF_SMS_GATEWAY_KEY"} <= SECRET_SETTINGS


def test_the_config_map_holds_only_settings_and_no_secrets() -> None:
    data = config_data()
    assert set(data) <= SETTINGS
    assert not set(data) & (SECRET_SETTINGS | {"FMF_SMTP_USERNAME"})
    for service in SERVICE_PORTS:  # each service's values of it are valid for that service
        own = settings_of(service)
        own.model_validate(
            {key.removeprefix("FMF_").lower(): value for key, value in data.items() if key in own.env_names()}
        )


def test_services_route_to_the_deployments_named_port() -> None:
    deployments = of_kind("Deployment")
    for name, service in of_kind("Service").items():
        (port,) = service["spec"]["ports"]
        pod = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), name
        assert port["port"] == SERVICE_PORTS[name] and port["targetPort"] == "http", name
    assert set(of_kind("Service")) == set(SERVICE_PORTS)


def test_registration_scales_with_an_autoscaler_and_keeps_a_replica_through_disruptions() -> None:
    deployments = of_kind("Deployment")
    (hpa,) = of_kind("HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "registration")
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert "replicas" not in deployments["registration"]["spec"], "the autoscaler owns the replica count"
    budgets = of_kind("PodDisruptionBudget")
    assert "registration" in budgets
    for name, budget in budgets.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        replicas = hpa["spec"]["minReplicas"] if name == "registration" else deployments[name]["spec"]["replicas"]
        assert budget["spec"]["minAvailable"] < replicas, f"{name}: the budget would block every drain"


def test_the_migration_job_migrates_each_services_database_and_creates_the_topics() -> None:
    (job,) = of_kind("Job").values()
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "deploy.migrate", "--topics"]
    from_secret = secret_keys(container)
    for name in SERVICE_PORTS:
        assert from_secret[migrate.database_url_variable(name)] == f"{name}-database-url"
    env = env_names(container, of_kind("ConfigMap"))
    assert {"FMF_KAFKA_BOOTSTRAP", "FMF_TOPIC_PARTITIONS", "FMF_TOPIC_REPLICATION"} <= set(env)
    allowed = SETTINGS | {migrate.database_url_variable(name) for name in SERVICE_PORTS}
    assert {key for key in env if key.startswith("FMF_")} <= allowed
