"""Prometheus scrape config, recording and alert rules, and the Grafana dashboard and provisioning.

Every PromQL expression is parsed, and every metric it names must be one the platform exports:
shared/metrics.py, the HTTP metrics of prometheus-fastapi-instrumentator, FastStream's, the series
Prometheus makes itself, or a series recorded in rules.yml. promtool (Debian's package prometheus, which
``make test`` installs) checks the files and runs the alert unit tests in alerts_test.yml; without it the
test fails rather than silently checking less.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from fastapi import FastAPI
from faststream.prometheus.container import MetricsContainer
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as instrumentator_metrics

from shared import metrics as shared_metrics
from shared.registry import SERVICE_PORTS

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "fmf-overview.json"
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"

SIGNUP_HANDLER = "/v1/meetings/{meeting_id}/registrations"
SEVERITIES = {"critical", "warning"}
# Series that Prometheus itself writes for every target and alert.
PROMETHEUS_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
# The tenant-labelled sign-up counter the dashboard's top-10 panel is built on.
TENANT_SIGNUPS = "fmf_tenant_signups_total"


# --- which metric names exist -------------------------------------------------------------------


def sample_names(family: Metric) -> set[str]:
    """The series names a metric family is exposed as."""
    name = family.name
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
    }.get(family.type, ("",))
    return {name + suffix for suffix in suffixes}


def registry_names(registry: CollectorRegistry) -> set[str]:
    return {name for family in registry.collect() for name in sample_names(family)}


def shared_metric_names() -> set[str]:
    collectors = [value for value in vars(shared_metrics).values() if isinstance(value, MetricWrapperBase)]
    assert collectors, "shared/metrics.py defines no metrics"
    return {name for collector in collectors for family in collector.collect() for name in sample_names(family)}


def instrumentator_names() -> set[str]:
    registry = CollectorRegistry()
    instrumentation = instrumentator_metrics.default(registry=registry)
    assert instrumentation is not None
    return registry_names(registry)


def faststream_names() -> set[str]:
    registry = CollectorRegistry()
    MetricsContainer(registry, custom_label_names=[])
    return registry_names(registry)


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules(PROMETHEUS / "rules.yml") if "record" in rule}


@cache
def known_metric_names() -> frozenset[str]:
    return frozenset(
        shared_metric_names() | instrumentator_names() | faststream_names() | PROMETHEUS_SERIES | recorded_names()
    )


# --- PromQL -------------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (raises ValueError when it does not parse)."""
    found: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    found.add(matcher.value)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def unknown_metrics(expr: str) -> set[str]:
    return metric_names(expr) - known_metric_names()


def test_the_metric_check_catches_unknown_names_and_bad_syntax() -> None:
    assert unknown_metrics('sum by (topic) (increase(fmf_dlq_messages_total{topic="x"}[5m]))') == set()
    assert unknown_metrics("rate(fmf_no_such_metric_total[5m]) / rate(http_requests_total[5m])") == {
        "fmf_no_such_metric_total"
    }
    assert unknown_metrics('sum(rate({__name__="fmf_typo_total"}[5m]))') == {"fmf_typo_total"}
    for broken in ("sum(rate(fmf_outbox_backlog[5m])", "rate(fmf_outbox_backlog)", "fmf_outbox_backlog >"):
        try:
            metric_names(broken)
        except ValueError:
            continue
        raise AssertionError(f"parsed: {broken}")


def test_the_known_metrics_include_every_name_the_platform_promises() -> None:
    known = known_metric_names()
    for name in (
        "fmf_registrations_total",
        "fmf_consumer_lag",
        "fmf_dlq_messages_total",
        "fmf_outbox_backlog",
        "fmf_outbox_publish_delay_seconds_bucket",
        "fmf_notifications_total",
        TENANT_SIGNUPS,
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "http_request_duration_highr_seconds_bucket",
        "faststream_received_messages_total",
    ):
        assert name in known, name


# --- rules --------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(path: Path) -> Iterator[dict[str, Any]]:
    for group in load_yaml(path)["groups"]:
        yield from group["rules"]


DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def test_recording_rules_parse_and_follow_the_naming_convention() -> None:
    recorded = list(rules(PROMETHEUS / "rules.yml"))
    assert recorded
    for rule in recorded:
        assert set(rule) <= {"record", "expr", "labels"}, rule
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]
        assert unknown_metrics(rule["expr"]) == set(), rule["record"]


def test_every_alert_parses_names_known_metrics_and_has_a_runbook() -> None:
    alerts = list(rules(PROMETHEUS / "alerts.yml"))
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names)), "alert names repeat"
    for alert in alerts:
        name = alert["alert"]
        assert set(alert) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, name
        assert unknown_metrics(alert["expr"]) == set(), name
        assert DURATION.match(str(alert["for"])), name
        assert alert["labels"]["severity"] in SEVERITIES, name
        summary, description = alert["annotations"]["summary"], alert["annotations"]["description"]
        assert summary.strip() and "\n" not in summary.strip(), name
        assert "Check:" in description and "Act:" in description, f"{name}: the description is no runbook"
        assert set(alert["annotations"]) <= {"summary", "description", "runbook_url"}, name


def alerts_on(metric: str) -> list[dict[str, Any]]:
    return [a for a in rules(PROMETHEUS / "alerts.yml") if metric in metric_names(a["expr"])]


def test_the_operational_signals_each_have_an_alert() -> None:
    for metric in ("fmf_consumer_lag", "fmf_dlq_messages_total", "fmf_outbox_backlog", "fmf_notifications_total", "up"):
        assert alerts_on(metric), f"no alert watches {metric}"
    (failures,) = alerts_on("fmf_notifications_total")
    assert 'status="failed"' in failures["expr"] and "sent|failed" in failures["expr"]
    (dead_letters,) = alerts_on("fmf_dlq_messages_total")
    assert "increase(fmf_dlq_messages_total" in dead_letters["expr"]


BURN = re.compile(r"(?P<rule>[\w:]+:ratio_rate(?P<window>\w+)) > \((?P<factor>[\d.]+) \* (?P<budget>[\d.]+)\)")
# The SRE workbook's windows: a long one that proves the burn and a short one (1/12) that ends the alert.
WINDOW_PAIRS = {"14.4": ("1h", "5m"), "6": ("6h", "30m"), "3": ("1d", "2h")}
SLOS = {
    "signup-latency": ("fmf:signup_latency_over_500ms:", "0.005"),  # 99.5 % of sign-ups within 0.5 s
    "availability": ("job:fmf_http_5xx:", "0.001"),  # 99.9 % not 5xx
}


def test_error_budget_alerts_are_multi_window_multi_burn_rate() -> None:
    recorded = recorded_names()
    for slo, (prefix, budget) in SLOS.items():
        burn_alerts = [a for a in rules(PROMETHEUS / "alerts.yml") if a["labels"].get("slo") == slo]
        factors = {}
        for alert in burn_alerts:
            conditions = [m.groupdict() for m in BURN.finditer(alert["expr"])]
            assert len(conditions) == 2 and re.search(r"\band\b", alert["expr"]), alert["alert"]
            (factor,) = {c["factor"] for c in conditions}
            assert {c["budget"] for c in conditions} == {budget}, alert["alert"]
            assert tuple(c["window"] for c in conditions) == WINDOW_PAIRS[factor], alert["alert"]
            for condition in conditions:
                assert condition["rule"].startswith(prefix) and condition["rule"] in recorded, condition["rule"]
            factors[factor] = alert["labels"]["severity"]
        assert factors.get("14.4") == "critical" and factors.get("6") == "critical", slo


def test_the_slo_rules_measure_the_sign_up_route_and_5xx() -> None:
    from services.registration.app import SPEC

    app = FastAPI()
    assert SPEC.router is not None
    app.include_router(SPEC.router)
    assert "post" in app.openapi()["paths"][SIGNUP_HANDLER], "the sign-up route moved: update rules.yml"

    by_name = {r["record"]: r["expr"] for r in rules(PROMETHEUS / "rules.yml")}
    latency = [expr for name, expr in by_name.items() if name.startswith(SLOS["signup-latency"][0])]
    errors = [expr for name, expr in by_name.items() if name.startswith(SLOS["availability"][0])]
    assert latency and errors
    for expr in latency:
        assert f'handler="{SIGNUP_HANDLER}"' in expr and 'method="POST"' in expr and 'le="0.5"' in expr
        assert {"http_request_duration_seconds_bucket", "http_request_duration_seconds_count"} == metric_names(expr)
    for expr in errors:
        assert 'status="5xx"' in expr and metric_names(expr) == {"http_requests_total"}
    # 0.5 s must be a bucket boundary of the histogram, or le="0.5" selects nothing.
    buckets = inspect.signature(Instrumentator.instrument).parameters["latency_lowr_buckets"].default
    assert 0.5 in buckets
    assert "latency_lowr_buckets" not in (ROOT / "shared" / "service.py").read_text(encoding="utf-8")


# --- scrape configs ---------------------------------------------------------------------------


def test_compose_scrape_config_finds_every_replica_of_every_service() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    assert sorted(config["rule_files"]) == ["alerts.yml", "rules.yml"]
    compose_services = load_yaml(COMPOSE)["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service, port in SERVICE_PORTS.items():
        (sd,) = jobs[service]["dns_sd_configs"]
        assert sd["names"] == [service] and sd["type"] == "A" and sd["port"] == port, service
        assert service in compose_services
        assert jobs[service].get("metrics_path", "/metrics") == "/metrics"


def test_kubernetes_scrape_config_keeps_annotated_pods_and_names_the_job_after_the_app() -> None:
    config = load_yaml(PROMETHEUS / "prometheus-k8s.yml")
    assert sorted(config["rule_files"]) == ["alerts.yml", "rules.yml"]
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    relabel = job["relabel_configs"]
    keep = [r for r in relabel if r.get("action") == "keep"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "regex": "true",
        "action": "keep",
    } in keep
    (to_job,) = [r for r in relabel if r.get("target_label") == "job"]
    assert to_job["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    (to_address,) = [r for r in relabel if r.get("target_label") == "__address__"]
    # The address rewrite: the pod's IP with the port of its prometheus.io/port annotation.
    pattern, replacement = re.compile(to_address["regex"]), to_address["replacement"].replace("$", "\\")
    for address in ("10.1.2.3:8080;8003", "10.1.2.3;8003"):
        assert pattern.fullmatch(address) and pattern.sub(replacement, address) == "10.1.2.3:8003", address
    for rule in relabel:
        if "regex" in rule:
            re.compile(rule["regex"])


# --- promtool, or what its unit tests cover -----------------------------------------------------

PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_config_and_rules_and_the_alert_unit_tests_pass() -> None:
    assert PROMTOOL is not None, "promtool is not on PATH: `make test` installs it (apt-get install prometheus)"
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "rules.yml", "alerts.yml")):
        done = promtool(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    k8s = promtool("check", "config", "prometheus-k8s.yml")
    # Debian's promtool is built without Kubernetes discovery; every other check of the file still runs.
    assert k8s.returncode == 0 or "field kubernetes_sd_configs not found" in k8s.stdout + k8s.stderr, k8s.stderr
    tests = promtool("test", "rules", "alerts_test.yml")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    check_alert_unit_tests_structurally()


def check_alert_unit_tests_structurally() -> None:
    unit_tests = load_yaml(PROMETHEUS / "alerts_test.yml")
    assert sorted(unit_tests["rule_files"]) == ["alerts.yml", "rules.yml"]
    alert_names = {a["alert"] for a in rules(PROMETHEUS / "alerts.yml")}
    firing: set[str] = set()
    for case in unit_tests["tests"]:
        for series in case["input_series"]:
            assert unknown_metrics(series["series"]) == set(), series["series"]
        for check in case["alert_rule_test"]:
            assert check["alertname"] in alert_names, check["alertname"]
            if check.get("exp_alerts"):
                firing.add(check["alertname"])
    assert {"FmfConsumerLagHigh", "FmfDeadLetterMessages"} <= firing


# --- Grafana ------------------------------------------------------------------------------------

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h", "$service": "registration"}


def grafana_expr(expr: str) -> str:
    """The expression Prometheus receives once Grafana has filled in its variables."""
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def dashboard_problems(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ids = [panel["id"] for panel in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    for panel in dashboard["panels"]:
        title = panel.get("title", panel["id"])
        grid = panel["gridPos"]
        if not (grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0):
            problems.append(f"{title}: gridPos outside the 24 columns")
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{title}: not on the datasource variable")
        if not panel.get("targets"):
            problems.append(f"{title}: no targets")
        for target in panel.get("targets", []):
            if not target.get("refId") or not target.get("expr", "").strip():
                problems.append(f"{title}: a target without refId or expr")
                continue
            try:
                unknown = unknown_metrics(grafana_expr(target["expr"]))
            except (ValueError, AssertionError) as exc:
                problems.append(f"{title}: {exc}")
                continue
            if unknown:
                problems.append(f"{title}: unknown metrics {sorted(unknown)}")
    if variables.get("datasource", {}).get("query") != "prometheus":
        problems.append("no datasource variable of type prometheus")
    return problems


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def test_the_dashboard_loads_and_every_panel_queries_known_metrics() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard_problems(dashboard) == []


def test_the_dashboard_check_fails_on_an_unknown_metric_or_a_panel_without_targets() -> None:
    dashboard = load_dashboard()
    panel = next(p for p in dashboard["panels"] if p["type"] != "row")
    panel["targets"][0]["expr"] = "sum(rate(fmf_signups_per_tenant_total[$__rate_interval]))"
    other = next(p for p in dashboard["panels"] if p["type"] != "row" and p is not panel)
    other["targets"] = []
    problems = dashboard_problems(dashboard)
    assert any("fmf_signups_per_tenant_total" in p for p in problems), problems
    assert any(p.endswith("no targets") for p in problems), problems


def test_the_dashboard_shows_red_per_service_kafka_outbox_notifications_and_signups() -> None:
    dashboard = load_dashboard()
    exprs = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
    used = set().union(*(metric_names(grafana_expr(e)) for e in exprs))
    assert {
        "http_requests_total",
        "fmf_consumer_lag",
        "fmf_outbox_backlog",
        "fmf_outbox_publish_delay_seconds_bucket",
        "fmf_notifications_total",
        "fmf_registrations_total",
        TENANT_SIGNUPS,
    } <= used
    assert any("http_request_duration" in name and name.endswith("_bucket") for name in used)
    per_service = [e for e in exprs if "http_requests_total" in e]
    assert per_service and all("by (job)" in e for e in per_service)
    assert any('status="5xx"' in e for e in per_service)
    (top,) = [e for e in exprs if TENANT_SIGNUPS in e]
    assert top.startswith("topk(10,") and "by (tenant)" in top
    assert any("sum by (channel" in e and "fmf_notifications_total" in e for e in exprs)


def test_grafana_provisioning_points_at_compose_prometheus_and_the_mounted_dashboards() -> None:
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(GRAFANA / "provisioning" / "dashboards" / "fmf.yml")["providers"]
    services = load_yaml(COMPOSE)["services"]
    assert "prometheus" in services and any(p.endswith(":9090") for p in services["prometheus"]["ports"])
    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    assert mounts["../grafana/dashboards"] == provider["options"]["path"]
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    assert DASHBOARD.parent == (COMPOSE.parent / "../grafana/dashboards").resolve()
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
