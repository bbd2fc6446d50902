"""The test OTLP receiver's recordings as flat data points (stdlib only).

The receiver (otlp_receiver.py) keeps a record of every metrics export it got, oldest first, at
GET /__requests?signal=metrics[&scope=/s/NAME]: {"seq", "accepted", "status", "path", "headers",
"body": the export decoded to OTLP/JSON, or null when nothing could be decoded, ...}.

    records = fetch(url, scope=None)    # those records; ReceiverError when the receiver cannot be read
    for p in points(records): ...       # one Point per data point, with its export's seq and resource
    resources(record)                   # the resource attributes of each resourceMetrics of a record

Used by the fault suite, the bad-input suite and the demo's receiver_report.py. The Swift tests'
counterpart is Tests/TestSupport/Receiver.swift.
"""
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

KINDS = ("sum", "gauge", "histogram", "exponentialHistogram", "summary")


class ReceiverError(Exception):
    pass


def fetch(url, scope=None, timeout=120):
    """The receiver's records of metrics exports (to `scope` only, when given), oldest first."""
    query = {"signal": "metrics", **({"scope": scope} if scope else {})}
    full = url.rstrip("/") + "/__requests?" + urllib.parse.urlencode(query, safe="/")
    try:
        with urllib.request.urlopen(full, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        raise ReceiverError(f"OTLP /__requests {e.code}") from e
    except (OSError, ValueError) as e:
        raise ReceiverError(f"cannot read {full}: {e}") from e


def attr_value(v):
    """An OTLP/JSON AnyValue as a Python value (intValue, a string in JSON, as an int)."""
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    return "" if not v else json.dumps(v)


def attributes(key_values):
    return {a["key"]: attr_value(a.get("value", {})) for a in key_values or []}


def num(x, default=0):
    """An OTLP/JSON number: 64-bit integers come as strings."""
    return default if x is None else (int(x) if isinstance(x, str) else x)


def resources(record):
    """The resource attributes of each resourceMetrics in `record`'s body."""
    for rm in (record.get("body") or {}).get("resourceMetrics", []):
        yield attributes(rm.get("resource", {}).get("attributes"))


class Point(NamedTuple):
    seq: int               # the receiver's sequence number of the export
    accepted: bool         # the receiver answered 2xx
    resource: dict         # resource attributes
    metric: str
    kind: str              # one of KINDS
    unit: str
    temporality: object    # the metric's aggregationTemporality as sent (name or number), None if absent
    attributes: dict
    start_ns: int
    time_ns: int
    data: dict             # the data point as the receiver decoded it (count, sum, quantileValues, ...)

    @property
    def value(self):
        return value(self.data)


def value(data_point):
    """A sum's or gauge's data point value: int for asInt, float for asDouble."""
    return num(data_point["asInt"]) if "asInt" in data_point else data_point.get("asDouble", 0.0)


def points(records):
    """Every data point of `records` (accepted or not: filter on Point.accepted), in record order."""
    for rec in records:
        for rm in (rec.get("body") or {}).get("resourceMetrics", []):
            resource = attributes(rm.get("resource", {}).get("attributes"))
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    kind = next((k for k in KINDS if k in m), "?")
                    data = m.get(kind, {})
                    for p in data.get("dataPoints", []):
                        yield Point(rec.get("seq", 0), bool(rec.get("accepted")), resource, m.get("name", ""), kind,
                                    m.get("unit", ""), data.get("aggregationTemporality"), attributes(p.get("attributes")),
                                    num(p.get("startTimeUnixNano")), num(p.get("timeUnixNano")), p)


def is_self_telemetry(record):
    """Whether a recorded export is the bridge's own otel_bridge.* report (sent after each run)."""
    names = [m.get("name", "") for rm in (record.get("body") or {}).get("resourceMetrics", [])
             for sm in rm.get("scopeMetrics", []) for m in sm.get("metrics", [])]
    return bool(names) and all(n.startswith("otel_bridge.") for n in names)
