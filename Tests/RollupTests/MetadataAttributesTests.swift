import Foundation
import Logging
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import ClickHouse
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup

/// Request metadata on an allow-list: the list's syntax (YAML and environment), the query
/// parameter, and the (key, value) pairs column becoming `portkey.metadata.<key>` attributes.
@Suite struct MetadataAttributesTests {
    static let sql = """
        SELECT toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
               arrayMap(k -> (k, 'v'), {metadata_keys:Array(String)}) AS `portkey.metadata`, count() AS n
        FROM generations
        WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
        GROUP BY bucket, `portkey.metadata` ORDER BY bucket
        """

    static func yaml(defaults: String = "", pipeline: String = "") -> String {
        """
        defaults:
          step: 60s
        \(defaults)
        pipelines:
          - name: meta
            query: meta.sql
        \(pipeline)
            metrics:
              - metric_name: m.requests
                data_type: sum
                value_column: n
                attribute_columns: [portkey.metadata]
          - name: other
            query: meta.sql
            metrics:
              - metric_name: m.other
                data_type: sum
                value_column: n
        """
    }

    @Test("defaults: and a pipeline's own list; none by default; the list is the template's {metadata_keys}")
    func lists() throws {
        let none = try parsePipelines(Self.yaml(), queries: ["meta.sql": Self.sql])
        #expect(none.map(\.metadataAttributes) == [[], []])
        let window = TimeWindow(start: 0, end: 60_000_000_000)
        let empty = WindowQuery.parameters(for: none[0], window: window).first { $0.name == "metadata_keys" }
        #expect(empty?.value == QueryParameter.array([]))

        let both = try parsePipelines(Self.yaml(defaults: "  metadata_attributes: [team, api_key_id]",
                                                pipeline: "    metadata_attributes: [feature]"), queries: ["meta.sql": Self.sql])
        #expect(both.map(\.metadataAttributes) == [["feature"], ["team", "api_key_id"]])
        let filled = WindowQuery.parameters(for: both[1], window: window).first { $0.name == "metadata_keys" }
        #expect(filled?.value == QueryParameter.array([.string("team"), .string("api_key_id")]))
    }

    @Test("a bad list is a configuration error naming the file, the line, the key and the entry", arguments: [
        ("[team, team]", "entry 2 ('team') is listed twice"),
        ("[team, \"a b\"]", "entry 2 ('a b') may only contain"),
        ("[\"\"]", "entry 1 is empty"),
        ("team", "must be a list of metadata keys"),
        ("[\(String(repeating: "k", count: 65))]", "longer than 64 characters"),
        ("[a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]", "17 keys, at most 16"),
    ])
    func badList(list: String, message: String) throws {
        let error = try #require(captureError { () throws(PipelineConfigError) in
            _ = try parsePipelines(Self.yaml(pipeline: "    metadata_attributes: \(list)"), queries: ["meta.sql": Self.sql])
        })
        #expect(error.code == .configuration)
        #expect(error.file == "bridge.yaml")
        #expect(error.key == "metadata_attributes")
        #expect(error.line == 7)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test("{metadata_keys} of another type is a template error naming the placeholder")
    func placeholderType() throws {
        let sql = Self.sql.replacingOccurrences(of: "{metadata_keys:Array(String)}", with: "{metadata_keys:String}")
        let error = try #require(captureError { () throws(PipelineConfigError) in
            _ = try parsePipelines(Self.yaml(), queries: ["meta.sql": sql])
        })
        #expect(error.code == .template)
        #expect(error.key == "metadata_keys")
        #expect(error.message.contains("Array(String)"))
    }

    @Test("BRIDGE_METADATA_ATTRIBUTES: every pipeline's list and the spans'; a bad entry names the variable")
    func environment() throws {
        let c = try BridgeConfiguration(environment: ["BRIDGE_METADATA_ATTRIBUTES": " team , feature "])
        #expect(c.metadataAttributes == ["team", "feature"])
        #expect(c.genAITraces.metadataAttributes == ["team", "feature"])
        #expect(try BridgeConfiguration(environment: [:]).metadataAttributes == nil)
        let pipelines = try parsePipelines(Self.yaml(pipeline: "    metadata_attributes: [x]"), queries: ["meta.sql": Self.sql])
        let bridge = Bridge(configuration: c, pipelines: pipelines, logger: Logger(label: "t"))
        #expect(bridge.pipelines.map(\.metadataAttributes) == [["team", "feature"], ["team", "feature"]])

        let error = try #require(captureError { () throws(BridgeError) in
            try BridgeConfiguration(environment: ["BRIDGE_METADATA_ATTRIBUTES": "team,,feature"])
        })
        #expect(error.code == .configuration)
        #expect(error.key == "BRIDGE_METADATA_ATTRIBUTES")
        #expect(error.message.contains("entry 2 is empty"))
    }

    @Test("the spans' list: BRIDGE_METADATA_ATTRIBUTES, else the pipeline file's defaults")
    func spansList() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("meta-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.sql.write(toFile: folder + "/meta.sql", atomically: true, encoding: .utf8)
        try Self.yaml(defaults: "  metadata_attributes: [team]").write(toFile: folder + "/bridge.yaml", atomically: true, encoding: .utf8)
        let env = ["BRIDGE_CONFIG": folder + "/bridge.yaml", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
                   "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": repositoryRoot + "/queries/gen_ai_traces.sql"]
        let fromFile = try Bridge.load(environment: env, logger: Logger(label: "t"))
        #expect(fromFile.configuration.genAITraces.metadataAttributes == ["team"])
        #expect(fromFile.pipelines.map(\.metadataAttributes) == [["team"], ["team"]])
        let fromEnvironment = try Bridge.load(environment: env.merging(["BRIDGE_METADATA_ATTRIBUTES": "feature"]) { $1 }, logger: Logger(label: "t"))
        #expect(fromEnvironment.configuration.genAITraces.metadataAttributes == ["feature"])
        #expect(fromEnvironment.pipelines.map(\.metadataAttributes) == [["feature"], ["feature"]])
    }

    static let columns: [ClickHouseRowStream.Column] = [
        .init(name: "bucket", type: .dateTime(timezone: "UTC"), typeName: "DateTime('UTC')"),
        .init(name: "portkey.metadata", type: .array(.tuple([.string, .string])), typeName: "Array(Tuple(String, String))"),
        .init(name: "n", type: .uint64, typeName: "UInt64"),
    ]

    @Test("pairs become portkey.metadata.<key> in their order; empty keys or values and an empty list add nothing")
    func pairs() throws {
        let pipeline = try parsePipelines(Self.yaml(), queries: ["meta.sql": Self.sql])[0]
        let binding = try ResultBinding(pipeline: pipeline, columns: Self.columns)
        func attributes(_ pairs: ClickHouseValue) -> [Attribute] {
            binding.attributes(of: binding.metrics[0], in: [.dateTime(seconds: 0), pairs, .uint(1)])
        }
        let pair = { (k: String, v: String) in ClickHouseValue.tuple([.string(k), .string(v)]) }
        #expect(attributes(.array([pair("team", "a"), pair("feature", "x")])) ==
                [Attribute("portkey.metadata.team", .string("a")), Attribute("portkey.metadata.feature", .string("x"))])
        #expect(attributes(.array([pair("team", ""), pair("", "x"), pair("api_key_id", "k1")])) ==
                [Attribute("portkey.metadata.api_key_id", .string("k1"))])
        #expect(attributes(.array([])) == [])
        #expect(attributes(.map([.string("team"), .string("a")])) == [Attribute("portkey.metadata.team", .string("a"))])
    }

    @Test("a pairs column of another element type is a template error naming the column")
    func pairsType() throws {
        let pipeline = try parsePipelines(Self.yaml(), queries: ["meta.sql": Self.sql])[0]
        var columns = Self.columns
        columns[1] = .init(name: "portkey.metadata", type: .array(.tuple([.string, .uint32])), typeName: "Array(Tuple(String, UInt32))")
        let error = try #require(captureError { () throws(BridgeError) in try ResultBinding(pipeline: pipeline, columns: columns) })
        #expect(error.code == .template)
        #expect(error.key == "portkey.metadata")
        #expect(error.message.contains("Array(Tuple(String, String))"))
    }
}
