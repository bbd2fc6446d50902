#!/usr/bin/env python3
"""What arrived at the test OTLP receiver, as readable tables per metric (stdlib only).

Usage:
  receiver_report.py [--url URL] [--top N] [--after-seq S] [--brief]
                     [--clickhouse URL --database DB [--table generations] [--user U --password P]]

  --url URL        receiver base URL (default $TEST_OTLP_URL); reads GET URL/__requests?signal=metrics
  --top N          series rows shown per metric, largest first (default 8; 0 = all)
  --after-seq S    only exports recorded after receiver sequence number S (see --brief)
  --brief          one line instead of tables: "<requests> export requests, <points> data points, last seq <S>"
  --clickhouse URL, --database DB
                   also total the source table over the exported time range (first bucket start to last
                   bucket end seen at the receiver) and print it beside the exported totals

Per metric: name, type (sum/histogram/summary), unit, temporality (a Summary has no temporality field in
OTLP: inferred from its start times), number of data points and of series (distinct attribute sets), then
the top series with their attributes and latest value:
  sum        value (cumulative: the latest point; delta: the sum of all points)
  histogram  count and sum (as for sum), min and max over all points
  summary    count and sum (as for sum); requests and p50/p90/p99 of the latest point (quantiles are per
             bucket)
Then totals: requests (by status class), tokens by type, cost by currency.
Exit 0, or 1 when the receiver cannot be read or holds a rejected export.
"""
import argparse
import json
import os
import sys
import urllib.request
from datetime import datetime, timezone

import receiver_points  # beside this file: the receiver's records as points
from receiver_points import num

SHORT = {  # attribute key -> column header
    "gen_ai.provider.name": "provider", "gen_ai.request.model": "model", "portkey.workspace": "workspace",
    "http.response.status_code": "status", "portkey.cache_status": "cache", "gen_ai.token.type": "type",
    "error.type": "error", "portkey.currency": "currency",
}
TEMPORALITY = {"AGGREGATION_TEMPORALITY_CUMULATIVE": "cumulative", "AGGREGATION_TEMPORALITY_DELTA": "delta",
               1: "delta", 2: "cumulative"}


def collect(records):
    """metric name -> {type, unit, temporality, points: [(attrs tuple, point dict)]}"""
    metrics = {}
    resources = set()
    for p in receiver_points.points(records):
        resources.add(", ".join(f"{k}={v}" for k, v in sorted(p.resource.items())))
        entry = metrics.setdefault(p.metric, {
            "type": p.kind, "unit": p.unit, "points": [],
            "temporality": TEMPORALITY.get(p.temporality, "n/a" if p.kind in ("gauge", "summary") else "unspecified"),
        })
        if p.kind == "summary":
            entry["temporality"] = "inferred"
        entry["points"].append((tuple(sorted(p.attributes.items())), p.data))
    for m in metrics.values():
        if m["temporality"] == "inferred":  # Summary has no temporality field: a fixed start time per series
            starts = {}                     # across points means cumulative, a start per point means delta
            for attrs, p in m["points"]:
                starts.setdefault(attrs, []).append(p.get("startTimeUnixNano"))
            repeated = any(len(v) > len(set(v)) for v in starts.values())
            multi = any(len(v) > 1 for v in starts.values())
            m["temporality"] = "cumulative (start times)" if repeated else "delta (start times)" if multi else "-"
    return metrics, resources


def series_rows(metric):
    """One row per series: attrs + aggregated values, per the rules in the header."""
    kind, delta = metric["type"], metric["temporality"].startswith("delta")
    by = {}
    for attrs, p in metric["points"]:
        by.setdefault(attrs, []).append(p)
    out = []
    for attrs, pts in by.items():
        pts.sort(key=lambda p: num(p.get("timeUnixNano")))
        last = pts[-1]
        row = {"attrs": dict(attrs), "points": len(pts), "end": num(last.get("timeUnixNano"))}
        if kind in ("sum", "gauge"):
            vals = [receiver_points.value(p) for p in pts]
            row["value"] = sum(vals) if delta else vals[-1]
            row["key"] = row["value"]
        else:
            counts = [num(p.get("count")) for p in pts]
            sums = [p.get("sum", 0.0) for p in pts]
            row["count"] = sum(counts) if delta else counts[-1]
            row["sum"] = sum(sums) if delta else sums[-1]
            row["key"] = row["count"]
            if kind == "histogram":
                mins = [p["min"] for p in pts if "min" in p]
                maxs = [p["max"] for p in pts if "max" in p]
                row["min"] = min(mins) if mins else None
                row["max"] = max(maxs) if maxs else None
            if kind == "summary":
                q = {round(v.get("quantile", 0.0), 4): v.get("value", 0.0) for v in last.get("quantileValues", [])}
                row["quantiles"] = q
                same_start = len(pts) > 1 and pts[-2].get("startTimeUnixNano") == last.get("startTimeUnixNano")
                row["last_n"] = counts[-1] - counts[-2] if same_start and not delta else counts[-1]
        out.append(row)
    out.sort(key=lambda r: (-r["key"], sorted(r["attrs"].items(), key=str)))
    return out


def fmt(x, unit=""):
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if unit not in ("USD", "s") and float(x).is_integer():
        return f"{int(x):,}"
    if unit == "USD":
        return f"{x:,.4f}"
    if unit == "s":
        return f"{x:,.3f}"
    return f"{x:,.2f}" if abs(x) >= 100 or x == int(x) else f"{x:,.4g}"


def table(header, rows, right):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join(["  " + line(header)] + ["  " + line(r) for r in rows])


def iso(ns):
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_metric(name, metric, top):
    rows = series_rows(metric)
    kind, unit = metric["type"], metric["unit"]
    print(f"{name}  ({kind}, unit {unit or '-'}, {metric['temporality']}): "
          f"{len(metric['points']):,} points, {len(rows)} series")
    if not rows:
        return
    keys = sorted({k for r in rows for k in r["attrs"]}, key=lambda k: list(SHORT).index(k) if k in SHORT else 99)
    header = [SHORT.get(k, k) for k in keys] + ["points"]
    if kind in ("sum", "gauge"):
        header += ["value"]
    elif kind == "histogram":
        header += ["count", "sum", "min", "max"]
    else:
        qs = sorted({q for r in rows for q in r.get("quantiles", {})})
        header += ["count", "sum", "last n*"] + [f"p{q * 100:g}*" for q in qs]
    body = []
    shown = rows if top <= 0 else rows[:top]
    for r in shown:
        cells = [str(r["attrs"].get(k, "-")) for k in keys] + [fmt(r["points"])]
        if kind in ("sum", "gauge"):
            cells.append(fmt(r["value"], unit))
        elif kind == "histogram":
            cells += [fmt(r["count"]), fmt(r["sum"], unit), fmt(r["min"], unit), fmt(r["max"], unit)]
        else:
            cells += [fmt(r["count"]), fmt(r["sum"], unit), fmt(r["last_n"])] + [fmt(r["quantiles"].get(q), unit) for q in qs]
        body.append(cells)
    print(table(header, body, right=set(range(len(keys), len(header)))))
    if len(rows) > len(shown):
        print(f"  ... {len(rows) - len(shown)} more series")
    if kind == "summary":
        print("  * requests and quantiles of the series' latest bucket (quantiles are per bucket, not cumulative)")


def totals(metrics):
    def rows(name):
        return series_rows(metrics[name]) if name in metrics else []
    t = {}
    req = rows("portkey.requests")
    t["requests"] = sum(r["value"] for r in req)
    t["requests_error"] = sum(r["value"] for r in req if int(r["attrs"].get("http.response.status_code", 0) or 0) >= 400)
    t["tokens"] = {}
    for r in rows("portkey.tokens"):
        k = r["attrs"].get("gen_ai.token.type", "?")
        t["tokens"][k] = t["tokens"].get(k, 0) + r["value"]
    t["cost"] = {}
    for r in rows("portkey.cost"):
        k = r["attrs"].get("portkey.currency", "?")
        t["cost"][k] = t["cost"].get(k, 0.0) + r["value"]
    dur = rows("gen_ai.client.operation.duration")
    t["duration_count"] = sum(r["count"] for r in dur)
    t["duration_sum"] = sum(r["sum"] for r in dur)
    return t


def clickhouse_totals(a, start_ns, end_ns):
    sql = f"""SELECT count(), countIf(response_status_code >= 400), sumIf(req_units, 1), sumIf(res_units, 1),
                     sumIf(cost, cost_currency = 'USD') / 100, sumIf(cost, cost_currency = 'EUR') / 100
              FROM `{a.database}`.`{a.table}`
              WHERE created_at >= fromUnixTimestamp64Milli({start_ns // 1_000_000}, 'UTC')
                AND created_at < fromUnixTimestamp64Milli({end_ns // 1_000_000}, 'UTC')
              FORMAT JSONCompact"""
    req = urllib.request.Request(a.clickhouse.rstrip("/") + "/", data=sql.encode(), method="POST",
                                 headers={"X-ClickHouse-User": a.user, "X-ClickHouse-Key": a.password})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            row = json.load(r)["data"][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        print(f"receiver_report: ClickHouse query failed: {e}", file=sys.stderr)
        return None
    n = [float(x) for x in row]
    return {"requests": int(n[0]), "requests_error": int(n[1]), "tokens": {"input": int(n[2]), "output": int(n[3])},
            "cost": {"USD": n[4], "EUR": n[5]}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("TEST_OTLP_URL"))
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--after-seq", type=int, default=0)
    ap.add_argument("--brief", action="store_true")
    ap.add_argument("--clickhouse")
    ap.add_argument("--database", default="default")
    ap.add_argument("--table", default="generations")
    ap.add_argument("--user", default="default")
    ap.add_argument("--password", default="")
    a = ap.parse_args()
    if not a.url:
        sys.exit("receiver_report: --url or $TEST_OTLP_URL is required")
    try:
        everything = [r for r in receiver_points.fetch(a.url, timeout=30) if r.get("seq", 0) > a.after_seq]
    except receiver_points.ReceiverError as e:
        sys.exit(f"receiver_report: {e}")
    # The rollups' exports; the bridge's own otel_bridge.* reports (one after each run) are counted apart.
    records = [r for r in everything if not receiver_points.is_self_telemetry(r)]
    reports = len(everything) - len(records)
    metrics, resources = collect(records)
    npoints = sum(len(m["points"]) for m in metrics.values())
    last_seq = max((r.get("seq", 0) for r in everything), default=a.after_seq)
    bad = [r for r in records if not (200 <= r.get("status", 200) < 300)]
    if a.brief:
        print(f"{len(records)} export requests, {npoints} data points, last seq {last_seq}")
        sys.exit(1 if bad else 0)

    ends = [num(p.get("timeUnixNano")) for m in metrics.values() for _, p in m["points"]]
    starts = [num(p.get("startTimeUnixNano")) for m in metrics.values() for _, p in m["points"]]
    statuses = sorted({r.get("status") for r in records}, key=str)
    print(f"{len(records)} export requests (HTTP {', '.join(map(str, statuses)) or '-'}), "
          f"{len(metrics)} metrics, {npoints:,} data points"
          + (f"; plus {reports} self-telemetry report(s) (otel_bridge.*)" if reports else ""))
    for res in sorted(resources):
        print(f"resource: {res}")
    order = ["portkey.requests", "portkey.tokens", "portkey.cost", "gen_ai.client.operation.duration",
             "gen_ai.client.token.usage", "portkey.request.latency"]
    if ends:
        print(f"buckets ending {iso(min(ends))} .. {iso(max(ends))}; cumulative values are running totals "
              f"since each series' first bucket")
    for name in sorted(metrics, key=lambda n: (order.index(n) if n in order else len(order), n)):
        print()
        report_metric(name, metrics[name], a.top)

    if not metrics:
        sys.exit(1 if bad else 0)
    t = totals(metrics)
    src = None
    if a.clickhouse and ends:
        src = clickhouse_totals(a, min(starts) if min(starts) else min(ends) - 60 * 10**9, max(ends))
    print()
    print(f"Totals, {iso(min(starts))} .. {iso(max(ends))}" + ("  (exported vs. source table)" if src else ""))
    lines = [("requests", fmt(t["requests"]), src and fmt(src["requests"])),
             ("  of which errors (status >= 400)", fmt(t["requests_error"]), src and fmt(src["requests_error"]))]
    for k in sorted(set(t["tokens"]) | set(src["tokens"] if src else [])):
        lines.append((f"tokens {k}", fmt(t["tokens"].get(k, 0)), src and fmt(src["tokens"].get(k, 0))))
    for k in sorted(set(t["cost"]) | set(k for k, v in (src["cost"] if src else {}).items() if v),
                    key=lambda c: (c != "USD", c)):
        lines.append((f"cost {k}", fmt(t["cost"].get(k, 0.0), "USD"), src and fmt(src["cost"].get(k, 0.0), "USD")))
    if t["duration_count"]:
        lines.append(("mean duration (s)", fmt(t["duration_sum"] / t["duration_count"], "s"), None))
    header = ["", "exported"] + (["source"] if src else [])
    print(table(header, [[n, e] + ([s or ""] if src else []) for n, e, s in lines], right={1, 2}))
    if bad:
        print(f"receiver_report: {len(bad)} export(s) were answered with an error status", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
