#!/usr/bin/env python3
"""Every metric the Grafana dashboard and the Prometheus alerts query is one the bridge exports.

    scripts/check_dashboards.py            # exit 1 on any unknown metric or label
    scripts/check_dashboards.py --list     # print every Prometheus name the bridge exports

The bridge exports OTLP metrics; a Prometheus backend (Prometheus' OTLP receiver, the Collector's
prometheus / prometheusremotewrite exporters, Grafana Mimir) names them by the OpenTelemetry ->
Prometheus rules of the Collector's pkg/translator/prometheus (normalize_name.go; now
prometheus/otlptranslator), with unit and type suffixes on:
  - the name is cut into tokens at every character that is not a letter or a digit, joined with `_`;
  - the unit's main part is mapped (s -> seconds, By -> bytes, ms -> milliseconds, % -> percent,
    1 -> nothing, ...; an unknown unit is kept, cleaned: USD -> USD) and appended unless it is
    already a token of the name; a unit containing `{` or `}` (an annotation: {request}, {token})
    adds nothing; `a/b` adds `per_<b>` (s -> second, h -> hour, ...);
  - a monotonic Sum (a counter) gets `_total`; a Gauge with unit `1` gets `_ratio`;
  - a histogram is read as `<name>_bucket` (label `le`), `<name>_sum`, `<name>_count`; a summary as
    `<name>` (label `quantile`), `<name>_sum`, `<name>_count`;
  - attribute keys become labels with every character outside [a-zA-Z0-9_] replaced by `_`
    (gen_ai.provider.name -> gen_ai_provider_name); the resource gives `job` and `instance`.

What the bridge exports comes from the sources of truth: the rollup metrics from config/bridge.yaml
(metric_name, unit, data_type, monotonic, attribute_columns, static_attributes), the self-telemetry
from Sources/Observability/SelfTelemetry.swift (the `name:`, `unit:` and `kind:` literals).

The check: the translator passes the Collector's own test cases; then every metric name in every
dashboard expression, template variable and alert rule must be an exported name, every label in a
selector or a by/without clause one that metric carries, and every alert rule has a duration,
a severity and a summary.

Both GenAI convention settings are checked (OTEL_SEMCONV_STABILITY_OPT_IN unset, and containing
gen_ai_latest_experimental; a metric's `semconv:` in config/bridge.yaml says which it belongs to):
a name must be exported under one of them, and every query must read a metric exported under each,
so no panel or rule goes empty when the setting changes (PromQL `or` over both names).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
ALERTS = sorted((ROOT / "deploy" / "prometheus").glob("*.yaml"))
SELF_TELEMETRY = ROOT / "Sources" / "Observability" / "SelfTelemetry.swift"
PIPELINES = ROOT / "config" / "bridge.yaml"

# ------------------------------------------------------------------------------------------------
# The translation (pkg/translator/prometheus normalize_name.go, with suffixes)

UNIT_MAP = {
    # time
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds",
    # bytes
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    # SI
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    # misc
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
PER_UNIT_MAP = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

COUNTER, UPDOWN, GAUGE, HISTOGRAM, SUMMARY = "counter", "updowncounter", "gauge", "histogram", "summary"


def _alnum(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal()


def _tokens(s: str) -> list[str]:
    return [t for t in re.split(r"(?:(?![^\W_]).)+", s) if t and all(_alnum(c) for c in t)] if s else []


def clean_up(s: str) -> str:
    """CleanUpString: letters and digits, every other run of characters one `_`."""
    return "_".join(_tokens(s))


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus name of an OTLP metric (the base name: without _bucket/_sum/_count)."""
    tokens = _tokens(name)
    parts = unit.split("/", 1)
    main = parts[0].strip()
    if main and "{" not in main and "}" not in main:
        prom = clean_up(UNIT_MAP.get(main, main))
        if prom and prom not in tokens:
            tokens.append(prom)
    if len(parts) > 1 and parts[1] != "":
        per = parts[1].strip()
        if per and "{" not in per and "}" not in per:
            prom = clean_up(PER_UNIT_MAP.get(per, per))
            if prom and prom not in tokens:
                tokens += ["per", prom]
    if kind == COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


def label_name(key: str) -> str:
    """An attribute key as a label (normalize_label.go): [^a-zA-Z0-9_] -> `_`, `key_` before a digit."""
    out = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    if out and out[0].isdigit():
        out = "key_" + out
    return out


# Cases from the Collector's normalize_name_test.go / normalize_label_test.go and otlptranslator's
# metric_namer_test.go: (name, unit, kind, expected).
KNOWN_CASES = [
    ("system.filesystem.usage", "By", GAUGE, "system_filesystem_usage_bytes"),
    ("system.io", "By", COUNTER, "system_io_bytes_total"),
    ("network_transmitted_bytes_total", "By", COUNTER, "network_transmitted_bytes_total"),
    ("\t system.filesystem.usage       ", "  By\t", GAUGE, "system_filesystem_usage_bytes"),
    ("system.network.dropped", "{packets}", GAUGE, "system_network_dropped"),
    ("system.network.dropped", "{packets}", COUNTER, "system_network_dropped_total"),
    ("system.network.dropped", "packets", GAUGE, "system_network_dropped_packets"),
    ("system.network.packets.dropped", "packets", GAUGE, "system_network_packets_dropped"),
    ("system.network.packets", "packets", GAUGE, "system_network_packets"),
    ("system.network.dropped", "packets", COUNTER, "system_network_dropped_packets_total"),
    ("system.network.packets", "packets", COUNTER, "system_network_packets_total"),
    ("hw.gpu.memory.utilization", "1", GAUGE, "hw_gpu_memory_utilization_ratio"),
    ("hw.fan.speed_ratio", "1", GAUGE, "hw_fan_speed_ratio"),
    ("objects", "1", COUNTER, "objects_total"),
    ("hw.cpu.speed_limit", "Hz", GAUGE, "hw_cpu_speed_limit_hertz"),
    ("broken.metric.speed", "km/h", GAUGE, "broken_metric_speed_km_per_hour"),
    ("astro.light.speed_limit", "m/s", GAUGE, "astro_light_speed_limit_meters_per_second"),
    ("broken.metric.success_ratio", "%", GAUGE, "broken_metric_success_ratio_percent"),
    ("broken.metric.success_percent", "%", GAUGE, "broken_metric_success_percent"),
    ("test.metric.no_unit", "", GAUGE, "test_metric_no_unit"),
    ("test.metric.spaces", "   \t  ", GAUGE, "test_metric_spaces"),
    ("unsupported.metric.temperature", "°F", GAUGE, "unsupported_metric_temperature_F"),
    ("unsupported.metric.weird", "+=.:,!* & #", GAUGE, "unsupported_metric_weird"),
    ("unsupported.metric.redundant", "__test $/°C", GAUGE, "unsupported_metric_redundant_test_per_C"),
    ("active_directory.ds.replication.network.io", "By", COUNTER, "active_directory_ds_replication_network_io_bytes_total"),
    ("active_directory.ds.replication.sync.object.pending", "{objects}", COUNTER, "active_directory_ds_replication_sync_object_pending_total"),
    ("active_directory.ds.replication.object.rate", "{objects}/s", GAUGE, "active_directory_ds_replication_object_rate_per_second"),
    ("active_directory.ds.ldap.bind.last_successful.time", "ms", GAUGE, "active_directory_ds_ldap_bind_last_successful_time_milliseconds"),
    ("apache.workers", "connections", GAUGE, "apache_workers_connections"),
    ("apache.requests", "1", COUNTER, "apache_requests_total"),
    ("bigip.virtual_server.request.count", "{requests}", COUNTER, "bigip_virtual_server_request_count_total"),
    ("system.disk.operation_time", "s", COUNTER, "system_disk_operation_time_seconds_total"),
    ("system.cpu.load_average.15m", "1", GAUGE, "system_cpu_load_average_15m_ratio"),
    ("mongodbatlas.process.asserts", "{assertions}/s", GAUGE, "mongodbatlas_process_asserts_per_second"),
    ("mongodbatlas.process.journaling.data_files", "MiBy", GAUGE, "mongodbatlas_process_journaling_data_files_mebibytes"),
    ("mongodbatlas.process.network.io", "By/s", GAUGE, "mongodbatlas_process_network_io_bytes_per_second"),
    ("mongodbatlas.process.oplog.rate", "GiBy/h", GAUGE, "mongodbatlas_process_oplog_rate_gibibytes_per_hour"),
    ("mongodbatlas.process.db.query_targeting.scanned_per_returned", "{scanned}/{returned}", GAUGE, "mongodbatlas_process_db_query_targeting_scanned_per_returned"),
    ("nginx.requests", "requests", GAUGE, "nginx_requests"),
    ("nsxt.node.memory.usage", "KBy", GAUGE, "nsxt_node_memory_usage_kilobytes"),
    ("redis.latest_fork", "us", GAUGE, "redis_latest_fork_microseconds"),
    ("3.14 digits", "", GAUGE, "_3_14_digits"),
    ("envoy__rule_engine_zlib_buf_error", "", GAUGE, "envoy_rule_engine_zlib_buf_error"),
    ("foo::bar", "", COUNTER, "foo_bar_total"),
    ("request_duration", "s", HISTOGRAM, "request_duration_seconds"),
    ("response_time", "ms", SUMMARY, "response_time_milliseconds"),
    ("active_connections", "", UPDOWN, "active_connections"),
    ("custom_metric", "By/{custom}", GAUGE, "custom_metric_bytes"),
    ("response_time_seconds", "s", GAUGE, "response_time_seconds"),
    # OTel semantic conventions, as Prometheus' own documentation shows them
    ("http.server.request.duration", "s", HISTOGRAM, "http_server_request_duration_seconds"),
    ("gen_ai.client.operation.duration", "s", HISTOGRAM, "gen_ai_client_operation_duration_seconds"),
    ("gen_ai.client.token.usage", "{token}", HISTOGRAM, "gen_ai_client_token_usage"),
]
KNOWN_LABELS = [("label:with:colons", "label_with_colons"), ("0123456789", "key_0123456789"),
                ("gen_ai.provider.name", "gen_ai_provider_name"), ("_test", "_test")]


def translator_self_test() -> list[str]:
    errors = []
    for name, unit, kind, want in KNOWN_CASES:
        got = prometheus_name(name, unit, kind)
        if got != want:
            errors.append(f"translator: {name!r} ({unit!r}, {kind}) -> {got!r}, the Collector gives {want!r}")
    for key, want in KNOWN_LABELS:
        if label_name(key) != want:
            errors.append(f"translator: label {key!r} -> {label_name(key)!r}, the Collector gives {want!r}")
    return errors


# ------------------------------------------------------------------------------------------------
# What the bridge exports

RESOURCE_LABELS = {"job", "instance"}


CONVENTIONS = ["v1.41.1", "gen_ai_latest_experimental"]


def exported_series(conventions: str | None = None) -> dict[str, dict]:
    """Prometheus series name -> {otlp, unit, kind, labels}, under one GenAI convention setting
    (None: under either)."""
    metrics = []  # (otlp name, unit, kind, attribute keys)
    config = yaml.safe_load(PIPELINES.read_text())
    for p in config.get("pipelines", []):
        for m in p.get("metrics", []):
            if conventions is not None and m.get("semconv", conventions) != conventions:
                continue
            dt = m.get("data_type")
            kind = {"gauge": GAUGE, "histogram": HISTOGRAM, "summary": SUMMARY}.get(dt)
            if dt == "sum":
                kind = COUNTER if m.get("monotonic") else UPDOWN
            if kind is None:
                raise SystemExit(f"check_dashboards: {PIPELINES}: metric {m.get('metric_name')}: data_type {dt!r} unknown here")
            keys = list(m.get("attribute_columns", [])) + list((m.get("static_attributes") or {}).keys())
            keys.append("otel.metric.overflow")  # the cardinality-limit overflow series
            metrics.append((m["metric_name"], str(m.get("unit", "")), kind, keys))

    swift = SELF_TELEMETRY.read_text()
    found = re.findall(r'name:\s*"([^"]+)",\s*unit:\s*"([^"]*)",\s*kind:\s*\.(\w+)', swift)
    if not found:
        raise SystemExit(f"check_dashboards: no `name:`/`unit:`/`kind:` literals in {SELF_TELEMETRY}")
    swift_kinds = {"counter": COUNTER, "gauge": GAUGE, "histogram": HISTOGRAM}
    for name, unit, kind in found:
        if kind not in swift_kinds:
            raise SystemExit(f"check_dashboards: {SELF_TELEMETRY}: kind .{kind} of {name} unknown here")
        # SelfTelemetry's doc: every instrument carries otel_bridge.pipeline; failures also error.type.
        keys = ["otel_bridge.pipeline"] + (["error.type"] if name == "otel_bridge.pass.failures" else [])
        metrics.append((name, unit, swift_kinds[kind], keys))

    series = {}
    for name, unit, kind, keys in metrics:
        base = prometheus_name(name, unit, kind)
        labels = {label_name(k) for k in keys} | RESOURCE_LABELS
        for s in (base, base + "_bucket", base + "_sum", base + "_count"):
            labels |= series.get(s, {}).get("labels", set()) - {"le", "quantile"}  # one name in both settings
        info = {"otlp": name, "unit": unit, "kind": kind}
        if kind == HISTOGRAM:
            series[base + "_bucket"] = {**info, "labels": labels | {"le"}}
            series[base + "_sum"] = {**info, "labels": labels}
            series[base + "_count"] = {**info, "labels": labels}
        elif kind == SUMMARY:
            series[base] = {**info, "labels": labels | {"quantile"}}
            series[base + "_sum"] = {**info, "labels": labels}
            series[base + "_count"] = {**info, "labels": labels}
        else:
            series[base] = {**info, "labels": labels}
    return series


# ------------------------------------------------------------------------------------------------
# PromQL: metric names and labels

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "inf", "nan", "atan2", "start", "end"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"(?:[^\"\\]|\\.)*\"\s*,?")


def parse_promql(expr: str) -> tuple[set[str], list[tuple[str | None, set[str]]], set[str]]:
    """(metric names, [(metric or None, labels in its selector)], labels in grouping clauses)."""
    e = re.sub(r"\$\{[^}]*\}|\$\w+", "VAR", expr)         # Grafana variables
    selectors = []
    for m in SELECTOR.finditer(e):
        labels = {mm.group(1) for mm in MATCHER.finditer(m.group(2))}
        selectors.append((m.group(1), labels))
    e = SELECTOR.sub(lambda m: (m.group(1) or "") + " ", e)
    grouping = set()
    for m in GROUPING.finditer(e):
        grouping |= {x.strip() for x in m.group(2).split(",") if x.strip()}
    e = GROUPING.sub(" ", e)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', " ", e)               # strings (label_replace etc.)
    e = re.sub(r"\[[^\]]*\]", " ", e)                       # range and subquery durations
    names = set()
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in KEYWORDS or word == "VAR":
            continue
        names.add(word)
    return names, selectors, grouping


def check_expr(where: str, expr: str, series: dict[str, dict]) -> list[str]:
    errors = []
    names, selectors, grouping = parse_promql(expr)
    if not names:
        errors.append(f"{where}: no metric in {expr!r}")
    known_labels = set()
    for n in sorted(names):
        if n not in series:
            errors.append(f"{where}: {n} is not a metric the bridge exports (expression: {expr.strip()})")
        else:
            known_labels |= series[n]["labels"]
    unknown = names - series.keys()
    for metric, labels in selectors:
        if metric in unknown:
            continue  # already reported; its labels would only repeat it
        allowed = series[metric]["labels"] if metric in series else known_labels
        for label in sorted(labels - allowed - {"__name__"}):
            errors.append(f"{where}: {metric or 'selector'} has no label {label}")
    for label in sorted(grouping - known_labels) if not unknown else []:
        errors.append(f"{where}: no metric of the expression has label {label} (by/without/on)")
    return errors


def dashboard_queries(dash: dict) -> list[tuple[str, str]]:
    out = []

    def panels(ps, trail):
        for p in ps or []:
            title = f"{trail}panel {p.get('title', p.get('id'))!r}"
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    out.append((f"{title} target {t.get('refId', '?')}", t["expr"]))
            panels(p.get("panels"), trail)

    panels(dash.get("panels"), "")
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not q:
            continue
        m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q)
        if m:
            # label_values(selector, label): the label must be one of the selector's metric's.
            out.append((f"variable ${v['name']}", f"count by ({m.group(2)}) ({m.group(1)})"))
        else:
            out.append((f"variable ${v['name']}", q))
    return out


def all_queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        out += [(f"{path.name}: {where}", expr) for where, expr in dashboard_queries(json.loads(path.read_text()))]
    for path in ALERTS:
        for g in yaml.safe_load(path.read_text()).get("groups", []):
            out += [(f"{path.name}: rule {r.get('alert') or r.get('record')}", str(r.get("expr", ""))) for r in g.get("rules", [])]
    return out


def check_setting(where: str, expr: str, setting: str, series: dict[str, dict]) -> list[str]:
    """A query reads at least one metric exported under `setting`."""
    names = parse_promql(expr)[0]
    if names and not names & series.keys():
        return [f"{where}: under {setting} none of {', '.join(sorted(names))} is exported: the query shows nothing"]
    return []


def check_dashboards(series: dict[str, dict]) -> tuple[list[str], int]:
    errors, count = [], 0
    if not DASHBOARDS:
        errors.append("no dashboard in deploy/grafana/")
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        queries = dashboard_queries(dash)
        if not queries:
            errors.append(f"{path.name}: no query")
        for where, expr in queries:
            count += 1
            errors += check_expr(f"{path.name}: {where}", expr, series)
    if not ALERTS:
        errors.append("no alert rules in deploy/prometheus/")
    for path in ALERTS:
        doc = yaml.safe_load(path.read_text())
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                name = r.get("alert") or r.get("record")
                where = f"{path.name}: rule {name}"
                count += 1
                errors += check_expr(where, str(r.get("expr", "")), series)
                if "alert" in r:
                    if "for" not in r:
                        errors.append(f"{where}: no `for:` (a single bad scrape would page)")
                    if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                        errors.append(f"{where}: labels.severity must be critical, warning or info")
                    if not r.get("annotations", {}).get("summary") or not r.get("annotations", {}).get("runbook_url"):
                        errors.append(f"{where}: annotations need a summary and a runbook_url")
    return errors, count


# A query that must be caught: proves the check can fail.
BROKEN = [
    'sum(rate(portkey_requests[5m]))',                                    # no _total
    'sum(rate(portkey_cost_usd_total[5m]))',                              # the unit is kept as USD
    'histogram_quantile(0.9, sum by (le) (rate(gen_ai_client_operation_duration_bucket[5m])))',  # no _seconds
    'otel_bridge_watermark_lag',                                           # no _seconds
    'sum by (provider) (rate(portkey_requests_total[5m]))',               # label is gen_ai_provider_name
    'portkey_tokens_total{gen_ai_token_type="input", model="x"}',         # label is gen_ai_request_model
    'rate(gen_ai_client_token_usage_tokens_bucket[5m])',                  # {token} adds no suffix
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print every exported Prometheus series name")
    args = ap.parse_args()

    errors = translator_self_test()
    series = exported_series()
    by_setting = {c: exported_series(c) for c in CONVENTIONS}
    if args.list:
        for name, info in sorted(series.items()):
            print(f"{name:55} <- {info['otlp']} ({info['unit'] or 'no unit'}, {info['kind']}) "
                  f"labels: {', '.join(sorted(info['labels']))}")
        return 0
    found, count = check_dashboards(series)
    errors += found
    for setting, exported in by_setting.items():
        for where, expr in all_queries():
            errors += check_setting(where, expr, setting, exported)
    # Queries that read one setting's names only must be caught.
    for setting, expr in [("v1.41.1", "sum(rate(gen_ai_client_inference_duration_seconds_count[5m]))"),
                          ("gen_ai_latest_experimental", "sum(rate(gen_ai_client_token_usage_bucket[5m]))")]:
        if not check_setting("self-test", expr, setting, by_setting[setting]):
            errors.append(f"self-test: {expr!r} passed under {setting}; the check cannot catch it")
    for expr in BROKEN:
        if not check_expr("self-test", expr, series):
            errors.append(f"self-test: {expr!r} passed; the check cannot catch it")

    for e in errors:
        print(f"check_dashboards: {e}", file=sys.stderr)
    if errors:
        print(f"check_dashboards: FAILED, {len(errors)} finding(s)", file=sys.stderr)
        return 1
    print(f"check_dashboards: {count} queries in {len(DASHBOARDS)} dashboard(s) and {len(ALERTS)} rule file(s) "
          f"use only the {len(series)} series the bridge exports and show data under both GenAI convention "
          f"settings ({', '.join(CONVENTIONS)}); translator matches {len(KNOWN_CASES)} "
          f"Collector cases; {len(BROKEN)} broken queries caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
