"""config/alerts.yml: a valid Prometheus rule file (checked by parsing: promtool is not
installed here) that Prometheus loads, on metrics the code defines."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from workers import metrics

CONFIG = Path(__file__).resolve().parents[2] / "config"


def _rules() -> list[dict[str, object]]:
    data = yaml.safe_load((CONFIG / "alerts.yml").read_text(encoding="utf-8"))
    assert set(data) == {"groups"}
    rules = []
    for group in data["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        rules += group["rules"]
    return rules


def test_every_rule_is_a_well_formed_alert() -> None:
    rules = _rules()
    assert {r["alert"] for r in rules} >= {"NewsflowSourceDrift", "NewsflowArchiveFailing"}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(rule["alert"]))
        assert re.fullmatch(r"\d+[smhd]", str(rule.get("for", "0s")))
        expr = str(rule["expr"])
        assert expr.count("(") == expr.count(")") and expr.strip()
        assert rule["labels"]["severity"] in {"warning", "critical"}  # type: ignore[index]
        assert rule["annotations"]["summary"]  # type: ignore[index]


def test_rules_use_metrics_the_code_defines() -> None:
    defined = {re.sub(r"_total$", "", name) for name in metrics.REDIS_GAUGES}
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if callable(describe) and value.__class__.__module__.startswith("prometheus_client"):
            defined |= {family.name for family in describe()}
    for rule in _rules():
        for name in re.findall(r"newsflow_[a-z_]+", str(rule["expr"])):
            assert re.sub(r"_total$", "", name) in defined, name


def test_prometheus_loads_the_rule_file_compose_mounts() -> None:
    config = yaml.safe_load((CONFIG / "prometheus.yml").read_text(encoding="utf-8"))
    compose = yaml.safe_load((CONFIG.parent / "docker-compose.yml").read_text(encoding="utf-8"))
    mounts = compose["services"]["prometheus"]["volumes"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "./config/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
