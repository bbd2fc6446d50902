// swift-tools-version:6.0
import PackageDescription

/// The modules a pass runs per row or per point (decoding, reading buckets, encoding, the series
/// state). In release builds their dynamic exclusivity checks are off: each check costs a
/// thread-local lookup, and a class property read per row made them about a tenth of a 1 M-row
/// pass (docs/performance.md). The compiler's static checks stay, and debug builds (the tests)
/// keep the dynamic ones, so an overlapping access still fails there.
let perRow: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "otel-bridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "otel-bridge", targets: ["otel-bridge"]),
        .executable(name: "otel-bridge-bench", targets: ["otel-bridge-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.28.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        // C libraries, each behind a [system] module map and a shim of typed helpers.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // Time, done once: the UTC instant, the civil calendar, ISO 8601, ClickHouse DateTime64,
        // Postgres timestamptz and HTTP-date text, durations in seconds. No dependencies.
        .target(name: "UTCTime"),

        // libcurl easy handles: the one HTTP transport for ClickHouse and OTLP.
        .target(name: "CurlHTTP", dependencies: ["CCurl", "UTCTime"]),

        // ClickHouse HTTP interface client: parameters, errors, streaming RowBinary decoding.
        .target(name: "ClickHouse", dependencies: [
            "CurlHTTP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: perRow),

        // libpq connection: parameterised statements, transactions, SQLSTATE errors.
        .target(name: "Postgres", dependencies: [
            "CLibPQ", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: perRow),

        // The checkpoint store in schema otel_bridge: migrations, watermarks, runs, series state.
        .target(name: "Checkpoints", dependencies: [
            "Postgres", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: perRow),

        // OTLP: generated protobuf types, the encoder seam, the OTLP/HTTP exporter and its configuration.
        .target(
            name: "OTLP",
            dependencies: [
                "CurlHTTP", "UTCTime",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Generated/README.md"],
            swiftSettings: perRow),

        // The environment, read once: the table of every variable (name, default, range, parser),
        // one parser per kind of value, and the configuration of ClickHouse and OTLP from it.
        .target(name: "Environment", dependencies: ["ClickHouse", "OTLP", "CurlHTTP", "UTCTime"]),

        // The pipeline model (metric mappings with named fields) and the YAML file reader and its
        // errors. The only module that reads YAML.
        .target(name: "PipelineConfig", dependencies: [
            "ClickHouse", "OTLP",
            .product(name: "Yams", package: "Yams"),
        ]),

        // The rollup pipeline's decisions, no I/O: window planning, result binding, bucket reading,
        // series aggregation, and the pass as a state machine that returns actions.
        .target(name: "Rollup", dependencies: [
            "PipelineConfig", "ClickHouse", "Checkpoints", "OTLP", "CurlHTTP", "UTCTime",
        ], swiftSettings: perRow),

        // The GenAI traces pipeline's decisions, no I/O: a row as a span by the GenAI semantic
        // conventions, deterministic ids, and the keyset pager.
        .target(name: "GenAITraces", dependencies: [
            "Rollup", "PipelineConfig", "Checkpoints", "OTLP", "ClickHouse", "UTCTime",
        ], swiftSettings: perRow),

        // What a pass and the process report about themselves: the log formats (text, JSON),
        // the redactor, progress (a bar or log lines), the pass summary and the self-telemetry.
        .target(name: "Observability", dependencies: [
            "Rollup", "Environment", "OTLP", "Postgres", "CurlHTTP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The engine: the configuration read once, the pass (runner, its adapters for rollups
        // and GenAI traces, sinks, ledgers, the resources a pass borrows) and `run`.
        .target(name: "Bridge", dependencies: [
            "Observability", "Rollup", "GenAITraces", "PipelineConfig", "Environment", "ClickHouse", "Postgres", "Checkpoints", "OTLP", "CurlHTTP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The long-running service: `serve`'s schedules (one per pipeline, each keeping its
        // resources), graceful shutdown and the health endpoint.
        .target(name: "Service", dependencies: [
            "Bridge", "Observability", "Rollup", "PipelineConfig", "CurlHTTP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // The operator's commands beside `run` and `serve`: `validate` and `checkpoints`
        // (statuses, rewind, a wedged pipeline).
        .target(name: "Commands", dependencies: [
            "Bridge", "Observability", "Rollup", "PipelineConfig", "Environment", "ClickHouse", "Postgres", "Checkpoints", "OTLP", "CurlHTTP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The command line: thin, builds the pieces and calls into Bridge, Service and Commands.
        .executableTarget(name: "otel-bridge", dependencies: [
            "Bridge", "Service", "Commands", "Observability", "Environment", "Rollup", "Checkpoints", "CurlHTTP", "UTCTime",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Benchmarks that print figures (never timed assertions in tests).
        .executableTarget(name: "otel-bridge-bench", dependencies: ["ClickHouse", "OTLP", "CurlHTTP", "UTCTime", "Rollup", "PipelineConfig", "Checkpoints", "GenAITraces"]),

        // What every test against the real services of scripts/stack.sh shares: the endpoints
        // (TEST_*_URL variables), the receiver's records as points, throwaway databases, scenarios
        // of gateway rows and the points they must produce.
        .target(
            name: "TestSupport",
            dependencies: ["ClickHouse", "Postgres", "CurlHTTP", "UTCTime"],
            path: "Tests/TestSupport"),

        .testTarget(name: "UTCTimeTests", dependencies: ["UTCTime"]),
        .testTarget(name: "ClickHouseTests", dependencies: ["ClickHouse", "Environment", "CurlHTTP"]),
        .testTarget(name: "PostgresTests", dependencies: [
            "Postgres", "Checkpoints", "UTCTime", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "OTLPTests", dependencies: [
            "OTLP", "Environment", "CurlHTTP",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .testTarget(name: "GenAITracesTests", dependencies: ["GenAITraces", "PipelineConfig", "Checkpoints", "ClickHouse", "OTLP", "Rollup", "UTCTime"]),
        // Unit tests of the decisions (Rollup) and of what the effects are made of (Bridge), without services.
        .testTarget(name: "RollupTests", dependencies: [
            "Rollup", "Bridge", "Observability", "Service", "Commands", "PipelineConfig", "Environment", "ClickHouse", "Checkpoints", "OTLP", "CurlHTTP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The pass runner in process, over fakes of its seams (no services).
        .testTarget(name: "PassRunnerTests", dependencies: [
            "Bridge", "Observability", "GenAITraces", "Rollup", "Checkpoints", "OTLP", "UTCTime",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Against the real services of scripts/stack.sh (TEST_*_URL variables).
        .testTarget(name: "ClientIntegrationTests", dependencies: ["ClickHouse", "Environment", "OTLP", "CurlHTTP", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Bridge", "Observability", "Service", "Commands", "Rollup", "GenAITraces", "Environment", "ClickHouse", "Postgres", "Checkpoints", "OTLP", "CurlHTTP", "UTCTime", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
