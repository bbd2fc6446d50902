#!/usr/bin/env python3
"""Decodes pairs of OTLP metrics requests with the official opentelemetry-proto classes and checks
that each pair decodes to the same message.

    .venv/bin/python scripts/compare_otlp_decode.py NEW REFERENCE [NEW REFERENCE ...]

NEW is a request body written by the bridge's own encoder (MetricRequestWriter), REFERENCE the
body swift-protobuf wrote for the same batch. Exits 0 when every pair decodes to equal messages;
otherwise exits 1 naming the first pair and the first field that differs.

Messages are compared by their deterministic serialization, not with ==: protobuf's == says
NaN != NaN and -0.0 == 0.0, the bytes say what was decoded. Unknown fields (a wrong tag) are kept
by the decoder and so show up in the bytes too.
"""
import math
import struct
import sys

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest


def decode(path):
    with open(path, "rb") as f:
        data = f.read()
    request = ExportMetricsServiceRequest()
    try:
        read = request.ParseFromString(data)
    except DecodeError as e:
        raise SystemExit(f"{path}: not an ExportMetricsServiceRequest: {e}")
    if read != len(data):
        raise SystemExit(f"{path}: decoded {read} of {len(data)} bytes")
    return request


def same_scalar(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


def is_repeated(field):
    # protobuf 5.28+ has is_repeated; older releases only label.
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def first_difference(a, b, path="request"):
    """The path of the first field where messages a and b differ, or None."""
    for field in a.DESCRIPTOR.fields:
        name = f"{path}.{field.name}"
        x, y = getattr(a, field.name), getattr(b, field.name)
        if is_repeated(field):
            if len(x) != len(y):
                return f"{name}: {len(x)} vs {len(y)} elements"
            for i, (u, v) in enumerate(zip(x, y)):
                if field.message_type is not None:
                    d = first_difference(u, v, f"{name}[{i}]")
                    if d:
                        return d
                elif not same_scalar(u, v):
                    return f"{name}[{i}]: {u!r} vs {v!r}"
        elif field.message_type is not None:
            has = (a.HasField(field.name), b.HasField(field.name))
            if has[0] != has[1]:
                return f"{name}: set {has[0]} vs {has[1]}"
            if has[0]:
                d = first_difference(x, y, name)
                if d:
                    return d
        else:
            if field.has_presence and a.HasField(field.name) != b.HasField(field.name):
                return f"{name}: set {a.HasField(field.name)} vs {b.HasField(field.name)}"
            if not same_scalar(x, y):
                return f"{name}: {x!r} vs {y!r}"
    return None


def count_exemplars(request):
    """The exemplars of the request's Sum, Gauge and Histogram points (decoded, so compared above)."""
    n = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind in ("sum", "gauge", "histogram"):
                    n += sum(len(p.exemplars) for p in getattr(m, kind).data_points)
    return n


def main(args):
    if not args or len(args) % 2:
        print("usage: compare_otlp_decode.py NEW REFERENCE [NEW REFERENCE ...]", file=sys.stderr)
        return 2
    exemplars = 0
    for new_path, ref_path in zip(args[0::2], args[1::2]):
        new, ref = decode(new_path), decode(ref_path)
        if new.SerializeToString(deterministic=True) == ref.SerializeToString(deterministic=True):
            exemplars += count_exemplars(new)
            continue
        where = first_difference(new, ref) or "the messages' bytes (unknown fields?)"
        print(f"{new_path} vs {ref_path}: {where}", file=sys.stderr)
        return 1
    print(f"{len(args) // 2} pairs decode to equal messages ({exemplars} exemplars)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
