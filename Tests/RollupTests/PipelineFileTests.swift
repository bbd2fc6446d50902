import Foundation
import Testing
@testable import ClickHouse
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup

@Suite("PipelineFile: the shipped config/bridge.yaml")
struct ShippedPipelineFileTests {
    let providerModel = ["gen_ai.provider.name", "gen_ai.request.model"]
    let durationBounds = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
    let tokenBounds: [Double] = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
    let windowPlaceholders: [PipelineConfiguration.Placeholder] = [
        .init(name: "step_seconds", type: "UInt32"),
        .init(name: "window_start", type: "DateTime64(3, 'UTC')"),
        .init(name: "window_end", type: "DateTime64(3, 'UTC')"),
    ]

    func load() throws -> [PipelineConfiguration] {
        try PipelineFile.load(path: repositoryRoot + "/config/bridge.yaml")
    }

    @Test("gen_ai_latest_experimental: the newest GenAI metrics instead of v1.41.1's, portkey.* the same")
    func latestConventions() throws {
        let pipelines = try PipelineFile.load(path: repositoryRoot + "/config/bridge.yaml", conventions: .latestExperimental)
        #expect(pipelines.map { $0.metrics.map(\.name) } == [
            ["portkey.requests"],
            ["portkey.tokens", "gen_ai.client.inference.usage.input_tokens", "gen_ai.client.inference.usage.output_tokens",
             "gen_ai.client.inference.operation.input_tokens", "gen_ai.client.inference.operation.output_tokens"],
            ["portkey.cost"],
            ["gen_ai.client.inference.duration", "gen_ai.client.operation.duration", "portkey.request.latency"],
        ])
        let metrics = Dictionary(uniqueKeysWithValues: pipelines.flatMap(\.metrics).map { ($0.name, $0) })
        #expect(metrics["gen_ai.client.inference.duration"]?.rowFilter == [
            .init(column: "rollup", values: ["gen_ai"]), .init(column: "gen_ai.operation.name", values: ["chat", "text_completion", "generate_content"])])
        #expect(metrics["gen_ai.client.operation.duration"]?.rowFilter.last == .init(column: "gen_ai.operation.name", values: ["embeddings"]))
        #expect(metrics["gen_ai.client.inference.usage.input_tokens"]?.staticAttributes == [Attribute("gen_ai.token.modality", .string("unknown"))])
        #expect(metrics["gen_ai.client.inference.usage.output_tokens"]?.rowFilter.last == .init(column: "gen_ai.token.type", values: ["output"]))
        #expect(metrics["gen_ai.client.inference.operation.input_tokens"]?.rowFilter.first == .init(column: "rollup", values: ["gen_ai_by_error"]))
        #expect(metrics["gen_ai.client.inference.operation.input_tokens"]?.attributeColumns.contains("error.type") == true)
        #expect(metrics["gen_ai.client.inference.usage.input_tokens"]?.attributeColumns.contains("error.type") == false)
        // A semconv that is no set is refused, naming the key.
        let bad = captureError { () throws(PipelineConfigError) in
            _ = try PipelineFile.parse(yaml: """
                pipelines:
                  - name: p
                    query: q.sql
                    metrics:
                      - {metric_name: m, data_type: sum, value_column: v, semconv: v1.99}
                """, file: "bridge.yaml") { _ throws(PipelineConfigError) in ("q.sql", "SELECT 1 WHERE {window_start:DateTime64(3, 'UTC')} < {window_end:DateTime64(3, 'UTC')}") }
        }
        #expect(bad?.key == "semconv")
        #expect(bad?.message.contains("v1.41.1 or gen_ai_latest_experimental") == true)
    }

    @Test("loads four pipelines with the default window settings and the real query files")
    func pipelines() throws {
        let pipelines = try load()
        #expect(pipelines.map(\.name) == ["requests", "tokens", "cost", "latency"])
        #expect(pipelines.map(\.line) == [25, 38, 120, 133])
        for p in pipelines {
            #expect(p.enabled)
            #expect(p.stepSeconds == 60)
            #expect(p.lagSeconds == 120)
            #expect(p.maxBucketsPerQuery == 60)
            #expect(p.maxPointsPerRequest == 5_000)
            #expect(p.maxRequestBytes == 4_194_304)
            #expect(p.bucketColumn == "bucket")
            #expect(p.queryPath == "../queries/\(p.name).sql")
            #expect(p.queryFile == repositoryRoot + "/config/../queries/\(p.name).sql")
            let onDisk = try String(contentsOfFile: repositoryRoot + "/queries/\(p.name).sql", encoding: .utf8)
            #expect(p.sql == onDisk)
        }
        // requests, tokens and cost read the metadata allow-list too (docs/metadata.md), none by default
        let metadata = PipelineConfiguration.Placeholder(name: "metadata_keys", type: "Array(String)")
        #expect(pipelines[0].placeholders == [windowPlaceholders[0], metadata] + windowPlaceholders.dropFirst())
        #expect(pipelines[1].placeholders == [.init(name: "token_bounds", type: "Array(Float64)"), windowPlaceholders[0], metadata] + windowPlaceholders.dropFirst())
        #expect(pipelines[2].placeholders == [windowPlaceholders[0], metadata] + windowPlaceholders.dropFirst())
        #expect(pipelines.map(\.metadataAttributes) == [[], [], [], []])
        #expect(pipelines[3].placeholders == [.init(name: "duration_bounds", type: "Array(Float64)")] + windowPlaceholders)

        #expect(pipelines[0].parameters.isEmpty)
        #expect(pipelines[1].parameters.map(\.name) == ["token_bounds"])
        #expect(pipelines[1].parameters.first?.value == .array(tokenBounds.map { .int(Int64($0)) }))
        #expect(pipelines[3].parameters.map(\.name) == ["duration_bounds"])
        #expect(pipelines[3].parameters.first?.value == .array(durationBounds.map { .double($0) }))
    }

    @Test("declares the six SPEC metrics with their names, types, units and attributes")
    func metrics() throws {
        let pipelines = try load()
        let metrics = pipelines.flatMap(\.metrics)
        #expect(metrics.map(\.name) == [
            "portkey.requests", "portkey.tokens", "gen_ai.client.token.usage", "portkey.cost",
            "gen_ai.client.operation.duration", "portkey.request.latency",
        ])
        #expect(pipelines.map { $0.metrics.map(\.name) } == [
            ["portkey.requests"], ["portkey.tokens", "gen_ai.client.token.usage"], ["portkey.cost"],
            ["gen_ai.client.operation.duration", "portkey.request.latency"],
        ])
        let byName = Dictionary(uniqueKeysWithValues: metrics.map { ($0.name, $0) })

        let requests = try #require(byName["portkey.requests"])
        #expect(requests.unit == "{request}")
        #expect(requests.kind == .sum(.init(valueColumn: "requests", valueType: .int, monotonic: true)))
        #expect(requests.attributeColumns == providerModel + ["portkey.workspace", "http.response.status_code", "portkey.cache_status", "portkey.metadata"])
        #expect(requests.line == 28)

        let tokens = try #require(byName["portkey.tokens"])
        #expect(tokens.unit == "{token}")
        #expect(tokens.kind == .sum(.init(valueColumn: "tokens", valueType: .int, monotonic: true)))
        #expect(tokens.attributeColumns == providerModel + ["gen_ai.token.type", "portkey.metadata"])

        let cost = try #require(byName["portkey.cost"])
        #expect(cost.unit == "USD")
        #expect(cost.kind == .sum(.init(valueColumn: "cost_usd", valueType: .double, monotonic: true)))
        #expect(cost.attributeColumns == providerModel + ["portkey.workspace", "portkey.currency", "portkey.metadata"])

        let duration = try #require(byName["gen_ai.client.operation.duration"])
        #expect(duration.unit == "s")
        #expect(duration.kind == .histogram(.init(
            bounds: durationBounds, countColumn: "duration_count", sumColumn: "duration_sum",
            minColumn: "duration_min", maxColumn: "duration_max", bucketCountsColumn: "duration_buckets")))
        #expect(duration.attributeColumns == ["gen_ai.operation.name"] + providerModel + ["error.type", "server.address", "server.port"])
        #expect(duration.rowFilter == [.init(column: "rollup", values: ["gen_ai"])] && duration.conventions == .v1_41_1)

        let usage = try #require(byName["gen_ai.client.token.usage"])
        #expect(usage.unit == "{token}")
        #expect(usage.kind == .histogram(.init(
            bounds: tokenBounds, countColumn: "usage_count", sumColumn: "usage_sum",
            minColumn: "usage_min", maxColumn: "usage_max", bucketCountsColumn: "usage_buckets")))
        #expect(usage.attributeColumns == ["gen_ai.operation.name"] + providerModel + ["gen_ai.token.type", "server.address", "server.port", "portkey.metadata"])
        #expect(tokens.rowFilter == [.init(column: "rollup", values: ["portkey"])] && tokens.conventions == nil)

        let latency = try #require(byName["portkey.request.latency"])
        #expect(latency.unit == "s")
        #expect(latency.kind == .summary(.init(
            quantiles: [0.5, 0.9, 0.99], quantileValuesColumn: "latency_quantiles",
            countColumn: "duration_count", sumColumn: "duration_sum")))
        #expect(latency.attributeColumns == providerModel + ["error.type"])

        #expect(metrics.allSatisfy { $0.staticAttributes.isEmpty })
        #expect(metrics.allSatisfy { !$0.description.isEmpty })
    }
}

@Suite("PipelineFile: parsing and defaults")
struct PipelineFileParsingTests {
    @Test("defaults apply, pipelines override them, durations accept s, m, h, d and plain seconds")
    func defaultsAndOverrides() throws {
        let yaml = """
            defaults:
              step: 5m
              lag: 0
              max_buckets_per_query: 12
              bucket_column: t
            pipelines:
              - name: a
                query: a.sql
                metrics:
                  - metric_name: a.count
                    data_type: sum
                    value_column: n
              - name: b.2-x_y
                enabled: false
                query: b.sql
                step: 1h
                lag: 90
                max_points_per_request: 10
                max_request_bytes: 2048
                bucket_column: bucket_start
                metrics:
                  - metric_name: b.count
                    data_type: gauge
                    value_type: double
                    value_column: n
                  - metric_name: b.day
                    data_type: sum
                    monotonic: false
                    value_column: m
                    unit: "{day}"
                    description: Days.
                    static_attributes: {source: bridge, version: 2, ratio: 0.5, beta: true, quoted: "7"}
            """
        let pipelines = try parsePipelines(yaml)
        #expect(pipelines.count == 2)
        let a = pipelines[0], b = pipelines[1]
        #expect((a.stepSeconds, a.lagSeconds, a.maxBucketsPerQuery, a.maxPointsPerRequest, a.maxRequestBytes, a.bucketColumn)
            == (300, 0, 12, 5_000, 4_194_304, "t"))
        #expect(a.enabled)
        #expect(a.line == 7)
        #expect(a.queryFile == "queries/a.sql")
        #expect(a.sql == validSQL)
        #expect((b.stepSeconds, b.lagSeconds, b.maxBucketsPerQuery, b.maxPointsPerRequest, b.maxRequestBytes, b.bucketColumn)
            == (3_600, 90, 12, 10, 2_048, "bucket_start"))
        #expect(!b.enabled)
        #expect(b.name == "b.2-x_y")
        #expect(a.metrics[0].kind == .sum(.init(valueColumn: "n", valueType: .int, monotonic: true)))
        #expect(a.metrics[0].unit == "")
        #expect(a.metrics[0].attributeColumns == [])
        #expect(b.metrics[0].kind == .gauge(.init(valueColumn: "n", valueType: .double)))
        #expect(b.metrics[1].kind == .sum(.init(valueColumn: "m", valueType: .int, monotonic: false)))
        #expect(b.metrics[1].unit == "{day}")
        #expect(b.metrics[1].description == "Days.")
        #expect(b.metrics[1].line == 26)
        #expect(b.metrics[1].staticAttributes == [
            Attribute("source", .string("bridge")), Attribute("version", .int(2)), Attribute("ratio", .double(0.5)),
            Attribute("beta", .bool(true)), Attribute("quoted", .string("7")),
        ])
    }

    @Test("late_data: fold unless defaults or the pipeline say report")
    func lateDataPolicy() throws {
        func pipelines(_ defaults: String, _ own: String) throws -> [LateDataPolicy] {
            try parsePipelines("""
                \(defaults)
                pipelines:
                  - name: a
                    query: a.sql
                    \(own)
                    metrics:
                      - metric_name: a.count
                        data_type: sum
                        value_column: n
                """).map(\.lateData)
        }
        #expect(try pipelines("", "") == [.fold])
        #expect(try pipelines("defaults: {late_data: report}", "") == [.report])
        #expect(try pipelines("defaults: {late_data: report}", "late_data: fold") == [.fold])
        #expect(try pipelines("", "late_data: report") == [.report])
    }

    @Test("max_point_age and too_old: unset unless defaults or the pipeline set them; drop by default")
    func maxPointAge() throws {
        func pipeline(_ defaults: String, _ own: String) throws -> PipelineConfiguration {
            try #require(try parsePipelines("""
                \(defaults)
                pipelines:
                  - name: a
                    query: a.sql
                    \(own)
                    metrics:
                      - metric_name: a.count
                        data_type: sum
                        value_column: n
                """).first)
        }
        #expect(try pipeline("", "").maxPointAgeSeconds == nil)
        #expect(try pipeline("", "").tooOld == .drop)
        #expect(try pipeline("defaults: {max_point_age: 1h, too_old: fold}", "").maxPointAgeSeconds == 3_600)
        #expect(try pipeline("defaults: {max_point_age: 1h, too_old: fold}", "").tooOld == .fold)
        #expect(try pipeline("defaults: {max_point_age: 1h}", "max_point_age: 10m").maxPointAgeSeconds == 600)
        #expect(try pipeline("", "max_point_age: 0").maxPointAgeSeconds == 0, "0: off, even when BRIDGE_MAX_POINT_AGE is set")
    }

    @Test("durations", arguments: [("60s", Int64(60)), ("2m", 120), ("1h", 3_600), ("1d", 86_400), ("45", 45)])
    func durations(text: String, seconds: Int64) throws {
        let yaml = """
            pipelines:
              - name: a
                query: a.sql
                step: \(text)
                metrics:
                  - metric_name: a.count
                    data_type: sum
                    value_column: n
            """
        #expect(try parsePipelines(yaml).first?.stepSeconds == seconds)
    }

    @Test("declared parameters fill their placeholders and keep their YAML types")
    func parameters() throws {
        let sql = validSQL + " AND model = {model:String} AND has({bounds:Array(Float64)}, 1) AND {flag:Bool} AND x = {quoted:String}"
        let yaml = """
            pipelines:
              - name: a
                query: a.sql
                parameters:
                  model: gpt-4o
                  bounds: [1, 2.5]
                  flag: true
                  quoted: "42"
                metrics:
                  - metric_name: a.count
                    data_type: sum
                    value_column: n
            """
        let p = try #require(try parsePipelines(yaml, queries: ["a.sql": sql]).first)
        #expect(p.parameters.map(\.name) == ["model", "bounds", "flag", "quoted"])
        #expect(p.parameters.map(\.value) == [.string("gpt-4o"), .array([.int(1), .double(2.5)]), .bool(true), .string("42")])
        #expect(p.placeholders.map(\.name) == ["step_seconds", "window_start", "window_end", "model", "bounds", "flag", "quoted"])
    }

    @Test("placeholders are found in order of first use; quotes and comments are skipped")
    func placeholderExtraction() throws {
        let sql = """
            -- {commented:String} is not a placeholder
            /* nor {block:String} */
            SELECT '{quoted:String}', `{ident:String}`, "{dq:String}", 'it\\'s {escaped:String}'
            WHERE t >= { window_start : DateTime64(3, 'UTC') } AND t < {window_end:DateTime64(3, 'UTC')}
              AND t >= {window_start:DateTime64(3, 'UTC')} AND s = {step_seconds:UInt32}
            """
        let placeholders = try PipelineFile.placeholders(in: sql, file: "q.sql")
        #expect(placeholders == [
            .init(name: "window_start", type: "DateTime64(3, 'UTC')"),
            .init(name: "window_end", type: "DateTime64(3, 'UTC')"),
            .init(name: "step_seconds", type: "UInt32"),
        ])
    }

    @Test("window placeholder types: DateTime/DateTime64 in UTC or integer Unix seconds", arguments: [
        ("DateTime64(3, 'UTC')", true), ("DateTime64(6,'UTC')", true), ("DateTime('UTC')", true), ("UInt32", true), ("Int64", true),
        ("DateTime64(3)", false), ("DateTime", false), ("DateTime64(3, 'Europe/Berlin')", false), ("String", false), ("Date", false),
    ])
    func windowTypes(type: String, accepted: Bool) {
        let error = captureError { () throws(PipelineConfigError) in
            try PipelineFile.checkTimeType(.init(name: "window_start", type: type), file: "q.sql")
        }
        #expect((error == nil) == accepted)
        if let error {
            #expect(error.code == .template)
            #expect(error.file == "q.sql")
            #expect(error.key == "window_start")
        }
    }

    @Test("window parameter values are written for the declared type")
    func windowValues() throws {
        let sql = "SELECT {window_start:DateTime64(3, 'UTC')}, {window_end:UInt32}, {step_seconds:UInt32}, {x:String}"
        let yaml = """
            pipelines:
              - name: a
                query: a.sql
                parameters: {x: hello}
                metrics:
                  - metric_name: a.count
                    data_type: sum
                    value_column: n
            """
        let p = try #require(try parsePipelines(yaml, queries: ["a.sql": sql]).first)
        let values = WindowQuery.parameters(for: p, window: TimeWindow(start: T + 123_000_000, end: T + 60 * second))
        #expect(values.map(\.name) == ["window_start", "window_end", "step_seconds", "x"])
        #expect(values.map(\.value) == [.string("2026-11-29 10:00:00.123"), .int(1_795_946_460), .int(60), .string("hello")])
    }
}

/// One invalid pipeline file and the error it must produce.
struct ConfigErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let yaml: String
    var queries: [String: String] = [:]
    var code: PipelineConfigError.Code = .configuration
    var file = "bridge.yaml"
    let line: Int?
    let key: String?
    var pipeline: String?
    var testDescription: String { name }
}

private let metricTail = """
          - metric_name: portkey.requests
            data_type: sum
            value_column: n
    """

let configErrorCases: [ConfigErrorCase] = [
    ConfigErrorCase(name: "unknown key at the top level", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
        schedule: 5m
        """, line: 8, key: "schedule"),
    ConfigErrorCase(name: "unknown key under defaults", yaml: """
        defaults:
          step: 60s
          lagg: 120s
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 3, key: "lagg"),
    ConfigErrorCase(name: "unknown key in a pipeline", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            interval: 5m
            metrics:
        \(metricTail)
        """, line: 4, key: "interval", pipeline: "requests"),
    ConfigErrorCase(name: "unknown key in a metric", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
                temporality: delta
        """, line: 8, key: "temporality", pipeline: "requests"),
    ConfigErrorCase(name: "unknown key in the second metric", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
              - metric_name: portkey.other
                data_type: gauge
                value_column: n

                atribute_columns: [a]
        """, line: 12, key: "atribute_columns", pipeline: "requests"),
    ConfigErrorCase(name: "missing metric_name", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - data_type: sum
                value_column: n
        """, line: 5, key: "metric_name", pipeline: "requests"),
    ConfigErrorCase(name: "missing data_type", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - metric_name: portkey.requests
                value_column: n
        """, line: 5, key: "data_type", pipeline: "requests"),
    ConfigErrorCase(name: "missing value_column", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - metric_name: portkey.requests
                data_type: sum
                unit: "{request}"
        """, line: 5, key: "value_column", pipeline: "requests"),
    ConfigErrorCase(name: "missing query", yaml: """
        pipelines:
          - name: requests
            metrics:
              - metric_name: portkey.requests
                data_type: sum
                value_column: n
        """, line: 2, key: "query", pipeline: "requests"),
    ConfigErrorCase(name: "missing pipeline name", yaml: """
        pipelines:
          - query: requests.sql
            metrics:
        \(metricTail)
        """, line: 2, key: "name"),
    ConfigErrorCase(name: "missing pipelines", yaml: """
        defaults:
          step: 60s
        """, line: 1, key: "pipelines"),
    ConfigErrorCase(name: "pipelines is not a list", yaml: """
        pipelines:
          requests: requests.sql
        """, line: 2, key: "pipelines"),
    ConfigErrorCase(name: "empty metrics", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics: []
        """, line: 2, key: "metrics", pipeline: "requests"),
    ConfigErrorCase(name: "step: \"abc\"", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            step: "abc"
            metrics:
        \(metricTail)
        """, line: 4, key: "step", pipeline: "requests"),
    ConfigErrorCase(name: "step: 0", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            step: 0s
            metrics:
        \(metricTail)
        """, line: 4, key: "step", pipeline: "requests"),
    ConfigErrorCase(name: "step: [60] (a list)", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            step: [60]
            metrics:
        \(metricTail)
        """, line: 4, key: "step", pipeline: "requests"),
    ConfigErrorCase(name: "lag under defaults is a mapping", yaml: """
        defaults:
          lag: {seconds: 120}
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 2, key: "lag"),
    ConfigErrorCase(name: "lag: -5s", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            lag: -5s
            metrics:
        \(metricTail)
        """, line: 4, key: "lag", pipeline: "requests"),
    ConfigErrorCase(name: "max_points_per_request: -1", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            max_points_per_request: -1
            metrics:
        \(metricTail)
        """, line: 4, key: "max_points_per_request", pipeline: "requests"),
    ConfigErrorCase(name: "late_data: sometimes", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            late_data: sometimes
            metrics:
        \(metricTail)
        """, line: 4, key: "late_data", pipeline: "requests"),
    ConfigErrorCase(name: "late_data: [fold] (under defaults)", yaml: """
        defaults:
          late_data: [fold]
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 2, key: "late_data"),
    ConfigErrorCase(name: "max_point_age: 1m (shorter than step + lag)", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            max_point_age: 1m
            metrics:
        \(metricTail)
        """, line: 4, key: "max_point_age", pipeline: "requests"),
    ConfigErrorCase(name: "max_point_age: soon", yaml: """
        defaults:
          max_point_age: soon
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 2, key: "max_point_age"),
    ConfigErrorCase(name: "too_old: keep", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            too_old: keep
            metrics:
        \(metricTail)
        """, line: 4, key: "too_old", pipeline: "requests"),
    ConfigErrorCase(name: "max_buckets_per_query: many (under defaults)", yaml: """
        defaults:
          max_buckets_per_query: many
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 2, key: "max_buckets_per_query"),
    ConfigErrorCase(name: "monotonic: maybe", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
                monotonic: maybe
        """, line: 8, key: "monotonic", pipeline: "requests"),
    ConfigErrorCase(name: "enabled: sometimes", yaml: """
        pipelines:
          - name: requests
            enabled: sometimes
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 3, key: "enabled", pipeline: "requests"),
    ConfigErrorCase(name: "value_type: float", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
                value_type: float
        """, line: 8, key: "value_type", pipeline: "requests"),
    ConfigErrorCase(name: "data_type: counter", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - metric_name: portkey.requests
                data_type: counter
                value_column: n
        """, line: 6, key: "data_type", pipeline: "requests"),
    ConfigErrorCase(name: "attribute_columns lists a column twice", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
                attribute_columns: [model, model]
        """, line: 8, key: "attribute_columns", pipeline: "requests"),
    ConfigErrorCase(name: "explicit_bounds not increasing", yaml: """
        pipelines:
          - name: latency
            query: latency.sql
            metrics:
              - metric_name: duration
                data_type: histogram
                explicit_bounds: [0.1, 0.5, 0.5, 1]
                count_column: c
                sum_column: s
                bucket_counts_column: b
        """, line: 7, key: "explicit_bounds", pipeline: "latency"),
    ConfigErrorCase(name: "explicit_bounds decreasing", yaml: """
        pipelines:
          - name: latency
            query: latency.sql
            metrics:
              - metric_name: duration
                data_type: histogram
                count_column: c
                sum_column: s
                bucket_counts_column: b
                explicit_bounds: [2, 1]
        """, line: 10, key: "explicit_bounds", pipeline: "latency"),
    ConfigErrorCase(name: "explicit_bounds not numbers", yaml: """
        pipelines:
          - name: latency
            query: latency.sql
            metrics:
              - metric_name: duration
                data_type: histogram
                explicit_bounds: [1, two]
                count_column: c
                sum_column: s
                bucket_counts_column: b
        """, line: 7, key: "explicit_bounds", pipeline: "latency"),
    ConfigErrorCase(name: "quantiles > 1", yaml: """
        pipelines:
          - name: latency
            query: latency.sql
            metrics:
              - metric_name: latency
                data_type: summary
                quantiles: [0.5, 1.5]
                quantile_values_column: q
                count_column: c
                sum_column: s
        """, line: 7, key: "quantiles", pipeline: "latency"),
    ConfigErrorCase(name: "quantiles < 0", yaml: """
        pipelines:
          - name: latency
            query: latency.sql
            metrics:
              - metric_name: latency
                data_type: summary
                quantile_values_column: q
                quantiles: [-0.1, 0.5]
                count_column: c
                sum_column: s
        """, line: 8, key: "quantiles", pipeline: "latency"),
    ConfigErrorCase(name: "duplicate pipeline name", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - metric_name: a
                data_type: sum
                value_column: n
          - name: requests
            query: requests.sql
            metrics:
              - metric_name: b
                data_type: sum
                value_column: n
        """, line: 8, key: "name"),
    ConfigErrorCase(name: "the same metric_name in two pipelines", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
          - name: other
            query: requests.sql
            metrics:
              - metric_name: portkey.requests
                data_type: sum
                value_column: n
        """, line: 11, key: "metric_name", pipeline: "other"),
    ConfigErrorCase(name: "the same metric_name twice in a pipeline", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
        \(metricTail)
              - metric_name: portkey.requests
                data_type: gauge
                value_column: n
        """, line: 8, key: "metric_name", pipeline: "requests"),
    ConfigErrorCase(name: "pipeline name with a space", yaml: """
        pipelines:
          - name: my requests
            query: requests.sql
            metrics:
        \(metricTail)
        """, line: 2, key: "name"),
    ConfigErrorCase(name: "a parameter named like a window placeholder", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            parameters:
              window_start: "2026-01-01 00:00:00"
            metrics:
        \(metricTail)
        """, line: 5, key: "window_start", pipeline: "requests"),
    ConfigErrorCase(name: "a step of 10000000000 s (would overflow as nanoseconds)", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            step: 10000000000
            metrics:
        \(metricTail)
        """, line: 4, key: "step", pipeline: "requests"),
    ConfigErrorCase(name: "a step in days that overflows", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            step: 999999999999999999d
            metrics:
        \(metricTail)
        """, line: 4, key: "step", pipeline: "requests"),
    ConfigErrorCase(name: "a step of 0", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            step: 0
            metrics:
        \(metricTail)
        """, line: 4, key: "step", pipeline: "requests"),
    ConfigErrorCase(name: "a lag past 30 days", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            lag: 31d
            metrics:
        \(metricTail)
        """, line: 4, key: "lag", pipeline: "requests"),
    ConfigErrorCase(name: "max_request_bytes of 0", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            max_request_bytes: 0
            metrics:
        \(metricTail)
        """, line: 4, key: "max_request_bytes", pipeline: "requests"),
    ConfigErrorCase(name: "max_buckets_per_query of 10^12", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            max_buckets_per_query: 1000000000000
            metrics:
        \(metricTail)
        """, line: 4, key: "max_buckets_per_query", pipeline: "requests"),
    ConfigErrorCase(name: "a bucket_column that is not an identifier", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            bucket_column: "b`) ; DROP TABLE t --"
            metrics:
        \(metricTail)
        """, line: 4, key: "bucket_column", pipeline: "requests"),
    ConfigErrorCase(name: "a cardinality_limit of 1", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            cardinality_limit: 1
            metrics:
        \(metricTail)
        """, line: 4, key: "cardinality_limit", pipeline: "requests"),
    ConfigErrorCase(name: "a series_expiry of 1 s", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            series_expiry: 1s
            metrics:
        \(metricTail)
        """, line: 4, key: "series_expiry", pipeline: "requests"),
    ConfigErrorCase(name: "a metric_name with a NUL (it would be stored with the series)", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - metric_name: "portkey\\0requests"
                data_type: sum
                value_column: n
        """, line: 5, key: "metric_name", pipeline: "requests"),
    ConfigErrorCase(name: "a metric that is not a mapping", yaml: """
        pipelines:
          - name: requests
            query: requests.sql
            metrics:
              - portkey.requests
        """, line: 5, key: nil, pipeline: "requests"),
]

private let pipelineForTemplate = """
    pipelines:
      - name: requests
        query: requests.sql
        metrics:
    \(metricTail)
    """

let templateErrorCases: [ConfigErrorCase] = [
    ConfigErrorCase(name: "undeclared placeholder", yaml: pipelineForTemplate,
                    queries: ["requests.sql": validSQL + " AND ai_model = {model:String}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: "model", pipeline: "requests"),
    ConfigErrorCase(name: "template without {window_end}", yaml: pipelineForTemplate,
                    queries: ["requests.sql": "SELECT 1 AS bucket FROM t WHERE created_at >= {window_start:DateTime64(3, 'UTC')}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: "window_end", pipeline: "requests"),
    ConfigErrorCase(name: "template without {window_start}", yaml: pipelineForTemplate,
                    queries: ["requests.sql": "SELECT 1 AS bucket FROM t WHERE created_at < {window_end:DateTime64(3, 'UTC')}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: "window_start", pipeline: "requests"),
    ConfigErrorCase(name: "{window_end} only in a comment", yaml: pipelineForTemplate,
                    queries: ["requests.sql": "SELECT 1 FROM t WHERE created_at >= {window_start:DateTime64(3, 'UTC')} -- AND created_at < {window_end:DateTime64(3, 'UTC')}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: "window_end", pipeline: "requests"),
    ConfigErrorCase(name: "window placeholder without 'UTC'", yaml: pipelineForTemplate,
                    queries: ["requests.sql": "SELECT 1 FROM t WHERE created_at >= {window_start:DateTime64(3)} AND created_at < {window_end:DateTime64(3, 'UTC')}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: "window_start", pipeline: "requests"),
    ConfigErrorCase(name: "window placeholder in another time zone", yaml: pipelineForTemplate,
                    queries: ["requests.sql": "SELECT 1 FROM t WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime('Europe/Berlin')}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: "window_end", pipeline: "requests"),
    ConfigErrorCase(name: "malformed placeholder", yaml: pipelineForTemplate,
                    queries: ["requests.sql": validSQL + " AND x = {window_start}"],
                    code: .template, file: "queries/requests.sql", line: nil, key: nil, pipeline: "requests"),
]

@Suite("PipelineFile: every error names the file, the line and the key")
struct PipelineFileErrorTests {
    @Test("configuration errors", arguments: configErrorCases)
    func configurationErrors(_ c: ConfigErrorCase) throws {
        try check(c)
    }

    @Test("template errors", arguments: templateErrorCases)
    func templateErrors(_ c: ConfigErrorCase) throws {
        try check(c)
    }

    func check(_ c: ConfigErrorCase, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let error = try #require(captureError { () throws(PipelineConfigError) in try parsePipelines(c.yaml, queries: c.queries) },
                                 "expected \(c.name) to be rejected", sourceLocation: sourceLocation)
        #expect(error.code == c.code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.file == c.file, "\(error)", sourceLocation: sourceLocation)
        #expect(error.line == c.line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.key == c.key, "\(error)", sourceLocation: sourceLocation)
        if let pipeline = c.pipeline {
            #expect(error.pipeline == pipeline, "\(error)", sourceLocation: sourceLocation)
        }
        // The description carries file:line and key for the operator.
        let location = c.line.map { "\(c.file):\($0)" } ?? c.file
        #expect(error.description.contains(location), "\(error)", sourceLocation: sourceLocation)
        if let key = c.key {
            #expect(error.description.contains("'\(key)'"), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a key twice in a metric names its line and the key")
    func duplicateKey() throws {
        let yaml = """
            pipelines:
              - name: requests
                query: requests.sql
                metrics:
            \(metricTail)
                    value_column: m
            """
        try check(ConfigErrorCase(name: "a key twice in a metric", yaml: yaml, line: 8, key: "value_column"))
    }

    @Test("invalid YAML is a configuration error naming the file and the line")
    func invalidYAML() throws {
        let yaml = """
            pipelines:
              - name: requests
                query: [unclosed
            """
        let error = try #require(captureError { () throws(PipelineConfigError) in try parsePipelines(yaml) })
        #expect(error.code == .configuration)
        #expect(error.file == "bridge.yaml")
        #expect(error.message.hasPrefix("not valid YAML"))
        // Yams reports where it noticed the problem (end of input) and where the flow sequence began.
        #expect(error.message.contains("line 3, column 12"), "\(error)")
    }

    @Test("an empty file is a configuration error")
    func emptyFile() throws {
        let error = try #require(captureError { () throws(PipelineConfigError) in try parsePipelines("# nothing here\n") })
        #expect(error.code == .configuration)
        #expect(error.file == "bridge.yaml")
        #expect(error.message.contains("empty"))
    }

    @Test("a missing pipeline file names the file")
    func missingPipelineFile() throws {
        let path = NSTemporaryDirectory() + "otel-bridge-tests-\(UUID().uuidString)/bridge.yaml"
        let error = try #require(captureError { () throws(PipelineConfigError) in try PipelineFile.load(path: path) })
        #expect(error.code == .configuration)
        #expect(error.file == path)
    }

    @Test("an unreadable query file is a template error naming the pipeline file, the line of 'query' and the path")
    func unreadableQueryFile() throws {
        let folder = NSTemporaryDirectory() + "otel-bridge-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/config", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/queries", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try validSQL.write(toFile: folder + "/queries/good.sql", atomically: true, encoding: .utf8)
        let yaml = """
            pipelines:
              - name: good
                query: ../queries/good.sql
                metrics:
                  - metric_name: good.count
                    data_type: sum
                    value_column: n
              - name: missing
                query: ../queries/missing.sql
                metrics:
            \(metricTail)
            """
        let path = folder + "/config/bridge.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(captureError { () throws(PipelineConfigError) in try PipelineFile.load(path: path) })
        #expect(error.code == .template)
        #expect(error.file == path)
        #expect(error.key == "query")
        #expect(error.pipeline == "missing")
        #expect(error.message.contains(folder + "/config/../queries/missing.sql"))
        #expect(error.line == 9, "the error should point at the 'query:' line of the pipeline: \(error)")

        // The same file with the template present loads, with paths resolved against the YAML's folder.
        try validSQL.write(toFile: folder + "/queries/missing.sql", atomically: true, encoding: .utf8)
        let pipelines = try PipelineFile.load(path: path)
        #expect(pipelines.map(\.queryFile) == [folder + "/config/../queries/good.sql", folder + "/config/../queries/missing.sql"])
        #expect(pipelines.map(\.queryPath) == ["../queries/good.sql", "../queries/missing.sql"])
    }
}
