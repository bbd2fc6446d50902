#!/usr/bin/env python3
"""The spans the test OTLP receiver got, as a person reads them (stdlib only).

Usage:
  span_report.py [--url URL] [--scope /s/NAME] [--show N] [--after-seq S] [--brief]
                 [--clickhouse URL --database DB [--table generations] --since ISO8601]

  --url URL        receiver base URL (default $TEST_OTLP_URL); reads GET URL/__requests?signal=traces
  --scope /s/NAME  only the exports sent to URL/s/NAME/v1/traces (the demo's traces endpoint)
  --show N         spans shown (default 5): name, kind, duration, status and the key attributes
  --after-seq S    only exports recorded after receiver sequence number S (see --brief)
  --brief          one line: "<requests> export requests, <spans> spans, last seq <S>"
  --clickhouse URL --database DB --since T
                   also count the source table's rows from T on and check one span per row: exit 1 if
                   the spans' `portkey.id`s are not exactly those rows' ids

Exit 0, or 1 when the receiver cannot be read, holds a rejected export, or (with --clickhouse) the
spans do not match the rows one to one.
"""
import argparse
import json
import os
import sys
import urllib.parse
import urllib.request

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
KEY_ATTRIBUTES = ["gen_ai.provider.name", "gen_ai.request.model", "gen_ai.usage.input_tokens",
                  "gen_ai.usage.output_tokens", "http.response.status_code", "error.type", "portkey.workspace"]


def get_json(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return json.load(r)


def attr(value):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in value:
            return value[k]
    return int(value["intValue"]) if "intValue" in value else value


def enum(value, names):
    """An OTLP/JSON enum: its number, or its name (SPAN_KIND_CLIENT, STATUS_CODE_ERROR)."""
    if isinstance(value, str) and not value.isdigit():
        return value.rsplit("_", 1)[-1]
    return names.get(int(value or 0), str(value))


def spans(records):
    for rec in records:
        for rs in (rec.get("body") or {}).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    yield sp


def line(sp):
    attrs = {a["key"]: attr(a["value"]) for a in sp.get("attributes", [])}
    ms = (int(sp["endTimeUnixNano"]) - int(sp["startTimeUnixNano"])) / 1e6
    status = sp.get("status") or {}
    key = "  ".join(f"{k.split('.')[-1] if k.startswith('gen_ai.usage') else k}={attrs[k]}"
                    for k in KEY_ATTRIBUTES if k in attrs)
    return (f"{sp['name']:<34} {enum(sp.get('kind'), KINDS):<7} {ms:>8.0f} ms  "
            f"{enum(status.get('code'), STATUS) + (' ' + status['message'] if status.get('message') else ''):<10}  {key}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("TEST_OTLP_URL", "http://127.0.0.1:4318"))
    ap.add_argument("--scope")
    ap.add_argument("--show", type=int, default=5)
    ap.add_argument("--after-seq", type=int, default=-1)
    ap.add_argument("--brief", action="store_true")
    ap.add_argument("--clickhouse")
    ap.add_argument("--database")
    ap.add_argument("--table", default="generations")
    ap.add_argument("--since")
    args = ap.parse_args()
    query = {"signal": "traces", **({"scope": args.scope} if args.scope else {})}
    try:
        records = get_json(args.url.rstrip("/") + "/__requests?" + urllib.parse.urlencode(query, safe="/"))
    except (OSError, ValueError) as e:
        print(f"span_report: cannot read the receiver at {args.url}: {e}", file=sys.stderr)
        return 1
    last_seq = max((r["seq"] for r in records), default=args.after_seq)
    records = [r for r in records if r["seq"] > args.after_seq]
    rejected = [r for r in records if not r.get("accepted")]
    got = list(spans(r for r in records if r.get("accepted")))
    if args.brief:
        print(f"{len(records)} export requests, {len(got)} spans, last seq {last_seq}")
        return 1 if rejected else 0
    print(f"{len(got)} spans in {len(records)} export requests"
          + (f" ({len(rejected)} rejected)" if rejected else ""))
    if got:
        print(f"{'name':<34} {'kind':<7} {'duration':>11}  {'status':<10}  key attributes")
        # the first few, and the first error among the rest so that both statuses show
        shown = got[: args.show]
        err = next((sp for sp in got[args.show:] if enum((sp.get("status") or {}).get("code"), STATUS) == "ERROR"), None)
        if err and not any(enum((sp.get("status") or {}).get("code"), STATUS) == "ERROR" for sp in shown):
            shown = shown[:-1] + [err]
        for sp in shown:
            print(line(sp))
    ok = not rejected
    if args.clickhouse:
        sql = (f"SELECT toString(id) FROM `{args.database}`.`{args.table}` "
               f"WHERE created_at >= parseDateTime64BestEffort('{args.since}', 3, 'UTC') FORMAT TabSeparated")
        req = urllib.request.Request(args.clickhouse.rstrip("/") + "/?" + urllib.parse.urlencode({"query": sql}),
                                     data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=120) as r:
            rows = r.read().decode().split()
        ids = [{a["key"]: attr(a["value"]) for a in sp.get("attributes", [])}.get("portkey.id") for sp in got]
        one_to_one = sorted(ids) == sorted(rows)
        print(f"{len(got)} spans for {len(rows)} rows of {args.database}.{args.table} since {args.since}: "
              + ("one span per row" if one_to_one else
                 f"NOT one per row ({len(set(rows) - set(ids))} rows without a span, "
                 f"{len(ids) - len(set(ids))} repeated, {len(set(ids) - set(rows))} unexpected)"))
        ok = ok and one_to_one
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
