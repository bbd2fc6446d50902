#!/usr/bin/env bash
# generate-otlp.sh: regenerates the committed Swift code for the official OTLP protos in
# Sources/OTLP/Generated/ (one *.pb.swift per proto, plus README.md), from scratch.
#
# How:
#   1. The PyPI package opentelemetry-proto (pinned below) carries the compiled descriptors of the
#      official OTLP protos. Its modules' DESCRIPTOR.CopyToProto(...) give FileDescriptorProtos, which
#      go, dependencies first, into a FileDescriptorSet in a temporary file.
#   2. protoc --descriptor_set_in=<that set> runs protoc-gen-swift, built from swift-protobuf at the
#      version pinned below (the version the package builds against), on the six protos we use:
#      common, resource, metrics, trace and the metrics and trace collector services (for those two
#      protoc-gen-swift emits the request/response messages only; gRPC services are not generated).
#   3. The previous *.pb.swift and README.md in Sources/OTLP/Generated/ are replaced; nothing else
#      there is touched.
#
# Prerequisites:
#   - python3 with venv and pip, and access to PyPI. The repo's .venv/ is used if it already has
#     opentelemetry-proto at the pinned version; otherwise a throwaway venv is created for this run.
#   - protoc (Debian's protobuf-compiler; installed with apt-get if missing, which needs root or sudo).
#   - A Swift toolchain (swift build) and git access to https://github.com/apple/swift-protobuf.git.
#     protoc-gen-swift is built once, in release mode, OUTSIDE the repo under
#     ${OTEL_BRIDGE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-bridge}/swift-protobuf-<version>
#     and reused by later runs. The first build takes several minutes on a 2-core machine.
#
# Usage: scripts/generate-otlp.sh            (no arguments; run from anywhere)
# The output is deterministic: running it twice gives identical files.

set -euo pipefail

OTEL_PROTO_VERSION="1.45.2"       # PyPI opentelemetry-proto
SWIFT_PROTOBUF_VERSION="1.39.0"   # apple/swift-protobuf tag; must match the SwiftProtobuf runtime we build with
SWIFT_PROTOBUF_URL="https://github.com/apple/swift-protobuf.git"

PROTOS=(
  opentelemetry/proto/common/v1/common.proto
  opentelemetry/proto/resource/v1/resource.proto
  opentelemetry/proto/metrics/v1/metrics.proto
  opentelemetry/proto/trace/v1/trace.proto
  opentelemetry/proto/collector/metrics/v1/metrics_service.proto
  opentelemetry/proto/collector/trace/v1/trace_service.proto
)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="$REPO_ROOT/Sources/OTLP/Generated"
CACHE_DIR="${OTEL_BRIDGE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-bridge}"
SWIFT_PROTOBUF_DIR="$CACHE_DIR/swift-protobuf-$SWIFT_PROTOBUF_VERSION"
PROTOC_GEN_SWIFT="$SWIFT_PROTOBUF_DIR/.build/release/protoc-gen-swift"

log() { printf 'generate-otlp: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/generate-otlp.XXXXXX")"
trap 'rm -rf "$WORK_DIR"' EXIT

# --- protoc ------------------------------------------------------------------------------------
if ! command -v protoc >/dev/null 2>&1; then
  log "protoc not found; installing Debian's protobuf-compiler"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq protobuf-compiler >/dev/null
fi
PROTOC_VERSION="$(protoc --version)"   # e.g. "libprotoc 3.21.12"
log "using $PROTOC_VERSION ($(command -v protoc))"

# --- Python with opentelemetry-proto -------------------------------------------------------------
has_pinned_proto() {
  "$1" -c "import sys, importlib.metadata as m; sys.exit(0 if m.version('opentelemetry-proto') == '$OTEL_PROTO_VERSION' else 1)" \
    >/dev/null 2>&1
}
PYTHON=""
if [ -x "$REPO_ROOT/.venv/bin/python" ] && has_pinned_proto "$REPO_ROOT/.venv/bin/python"; then
  PYTHON="$REPO_ROOT/.venv/bin/python"
  log "using the repo's .venv (opentelemetry-proto $OTEL_PROTO_VERSION)"
else
  log "creating a temporary venv with opentelemetry-proto==$OTEL_PROTO_VERSION"
  python3 -m venv "$WORK_DIR/venv"
  "$WORK_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "opentelemetry-proto==$OTEL_PROTO_VERSION"
  PYTHON="$WORK_DIR/venv/bin/python"
  has_pinned_proto "$PYTHON" || die "opentelemetry-proto $OTEL_PROTO_VERSION did not install"
fi

# --- protoc-gen-swift ----------------------------------------------------------------------------
plugin_ok() {
  [ -x "$PROTOC_GEN_SWIFT" ] && [ "$("$PROTOC_GEN_SWIFT" --version 2>/dev/null)" = "protoc-gen-swift $SWIFT_PROTOBUF_VERSION" ]
}
if plugin_ok; then
  log "reusing $PROTOC_GEN_SWIFT"
else
  mkdir -p "$CACHE_DIR"
  if [ -d "$SWIFT_PROTOBUF_DIR" ] &&
     [ "$(git -C "$SWIFT_PROTOBUF_DIR" describe --tags --exact-match 2>/dev/null || true)" != "$SWIFT_PROTOBUF_VERSION" ]; then
    log "removing an unusable checkout at $SWIFT_PROTOBUF_DIR"
    rm -rf "$SWIFT_PROTOBUF_DIR"
  fi
  if [ ! -d "$SWIFT_PROTOBUF_DIR" ]; then
    log "cloning swift-protobuf $SWIFT_PROTOBUF_VERSION into $SWIFT_PROTOBUF_DIR"
    git -c advice.detachedHead=false clone --quiet --branch "$SWIFT_PROTOBUF_VERSION" \
      "$SWIFT_PROTOBUF_URL" "$SWIFT_PROTOBUF_DIR"
  fi
  log "building protoc-gen-swift $SWIFT_PROTOBUF_VERSION (release; takes several minutes the first time)"
  (cd "$SWIFT_PROTOBUF_DIR" && swift build -c release --product protoc-gen-swift)
  plugin_ok || die "protoc-gen-swift at $PROTOC_GEN_SWIFT is missing or is not version $SWIFT_PROTOBUF_VERSION"
fi

# --- FileDescriptorSet from the Python package ---------------------------------------------------
DESCRIPTOR_SET="$WORK_DIR/otlp.protoset"
"$PYTHON" - "$DESCRIPTOR_SET" "${PROTOS[@]}" <<'PY'
import importlib
import sys

from google.protobuf import descriptor_pb2

out_path, protos = sys.argv[1], sys.argv[2:]
file_set = descriptor_pb2.FileDescriptorSet()
seen = set()

def add(file_descriptor):
    """Appends file_descriptor after all of its dependencies (post-order, each file once)."""
    if file_descriptor.name in seen:
        return
    for dependency in file_descriptor.dependencies:
        add(dependency)
    seen.add(file_descriptor.name)
    proto = file_set.file.add()
    file_descriptor.CopyToProto(proto)

for proto_path in protos:
    module = importlib.import_module(proto_path[: -len(".proto")].replace("/", ".") + "_pb2")
    if module.DESCRIPTOR.name != proto_path:
        sys.exit(f"{module.__name__} describes {module.DESCRIPTOR.name}, expected {proto_path}")
    add(module.DESCRIPTOR)

with open(out_path, "wb") as f:
    f.write(file_set.SerializeToString(deterministic=True))
print("generate-otlp: descriptor set: " + ", ".join(p.name for p in file_set.file), file=sys.stderr)
PY

# The OTLP proto release the Python package was generated from, as its metadata states it.
OTLP_RELEASE="$("$PYTHON" - <<'PY'
import importlib.metadata, re
description = importlib.metadata.metadata("opentelemetry-proto").get_payload() or ""
match = re.search(r"generated using the (v\d+\.\d+\.\d+) release", description)
print(match.group(1) if match else "")
PY
)"

# --- protoc ----------------------------------------------------------------------------------------
GEN_DIR="$WORK_DIR/out"
mkdir -p "$GEN_DIR"
protoc \
  --descriptor_set_in="$DESCRIPTOR_SET" \
  --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
  --swift_out="$GEN_DIR" \
  --swift_opt=Visibility=Public \
  --swift_opt=FileNaming=PathToUnderscores \
  "${PROTOS[@]}"

generated=("$GEN_DIR"/*.pb.swift)
[ "${#generated[@]}" -eq "${#PROTOS[@]}" ] ||
  die "expected ${#PROTOS[@]} generated files, got ${#generated[@]}: ${generated[*]}"

# --- install into Sources/OTLP/Generated ------------------------------------------------------------
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.pb.swift "$OUT_DIR/README.md"
cp "${generated[@]}" "$OUT_DIR/"

if [ -n "$OTLP_RELEASE" ]; then
  proto_line="PyPI \`opentelemetry-proto\` $OTEL_PROTO_VERSION, which its metadata says was generated from the opentelemetry-proto release $OTLP_RELEASE"
else
  proto_line="PyPI \`opentelemetry-proto\` $OTEL_PROTO_VERSION"
fi
{
  cat <<EOF
# Generated OTLP protobuf code

DO NOT EDIT these files by hand: they are generated by \`scripts/generate-otlp.sh\` and committed.

They are the Swift (swift-protobuf) message types for the official OpenTelemetry protocol (OTLP)
protos, public, one file per proto:

EOF
  for proto in "${PROTOS[@]}"; do
    file="$(echo "${proto%.proto}" | tr '/' '_').pb.swift"
    printf -- '- `%s` from `%s`\n' "$file" "$proto"
  done
  cat <<EOF

For the two collector service protos only the request/response messages are generated (no gRPC
service code); the exporter sends them over OTLP/HTTP.

## Versions

- Protos: $proto_line.
  They are read from the package's compiled descriptors (\`DESCRIPTOR.CopyToProto\` into a
  \`FileDescriptorSet\`), which carry no comments, so the generated code has no doc comments; see the
  official .proto files for field documentation.
- Generator: protoc-gen-swift $SWIFT_PROTOBUF_VERSION, built from apple/swift-protobuf tag $SWIFT_PROTOBUF_VERSION;
  the code needs the SwiftProtobuf runtime library of a compatible version.
- protoc: $PROTOC_VERSION (Debian's \`protobuf-compiler\`).
- Options: \`--swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores\`.

## Regenerating

\`\`\`sh
scripts/generate-otlp.sh
\`\`\`

The script's header lists its prerequisites. To move to a new OTLP version, change
\`OTEL_PROTO_VERSION\` (and, with the runtime, \`SWIFT_PROTOBUF_VERSION\`) in the script, rerun it, and
commit the result.
EOF
} > "$OUT_DIR/README.md"

log "wrote ${#generated[@]} files and README.md to ${OUT_DIR#"$REPO_ROOT"/}"
