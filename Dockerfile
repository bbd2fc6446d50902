# syntax=docker/dockerfile:1
# otel-bridge container image: build with the official Swift image, run on Debian 12 slim.
#
#   docker build -t otel-bridge:0.1.0 .
#   docker run --rm otel-bridge:0.1.0 --help
#
# Both stages install their apt packages from deploy/apt-packages.txt, the same list
# scripts/bootstrap.sh installs on every CI run (.ci/run -> scripts/test.sh -> bootstrap.sh), so the
# package names and the libraries the binary links against are the ones CI proves on a clean Debian
# 12 machine. No container engine runs in CI: keep every install step in that list, not here.
# scripts/image-smoke.sh (every CI run) proves this file without one: the build stage's swift build,
# the runtime stage's root from the `runtime` lines (mmdebstrap), the user, files and ownership below,
# then `validate` and `run` as 10001:10001. A change to a step here belongs there too.
#
# The image holds config/bridge.yaml and queries/ at /opt/otel-bridge, the working directory, where
# the binary looks by default (BRIDGE_CONFIG=config/bridge.yaml, query paths relative to that file).
# Kubernetes mounts its ConfigMaps over /opt/otel-bridge/config and /opt/otel-bridge/queries
# (deploy/kubernetes/), which replaces both folders as a whole.

ARG SWIFT_VERSION=6.3.1
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM swift:${SWIFT_VERSION}-bookworm AS build
COPY deploy/apt-packages.txt /tmp/apt-packages.txt
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends $(awk '$1 == "build" {print $2}' /tmp/apt-packages.txt) \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve the dependencies in their own layer so a source change does not fetch them again.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift package resolve
# The Swift runtime is linked statically: the runtime stage needs no Swift toolchain, only the
# C libraries of deploy/apt-packages.txt (libcurl, libpq, zlib).
RUN swift build -c release --product otel-bridge --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/otel-bridge" /out/otel-bridge

FROM ${DEBIAN_IMAGE} AS runtime
COPY deploy/apt-packages.txt /tmp/apt-packages.txt
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends $(awk '$1 == "runtime" {print $2}' /tmp/apt-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/apt-packages.txt
# A fixed numeric non-root user, so Kubernetes' runAsNonRoot can check it without a name lookup.
RUN groupadd --system --gid 10001 otel-bridge \
 && useradd --system --uid 10001 --gid otel-bridge --home-dir /home/otel-bridge --create-home \
      --shell /usr/sbin/nologin otel-bridge
COPY --from=build /out/otel-bridge /usr/local/bin/otel-bridge
WORKDIR /opt/otel-bridge
COPY config/bridge.yaml config/bridge.yaml
COPY queries/ queries/
USER 10001:10001
ENV BRIDGE_HEALTH_PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/otel-bridge"]
CMD ["serve"]
