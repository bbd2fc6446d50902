import ClickHouse
import OTLP
import Rollup

/// One row of `generations` as the traces query returns it (`queries/gen_ai_traces.sql`).
public struct GenAIRow: Sendable, Equatable {
    public var id: String
    /// Unix nanoseconds (whole milliseconds).
    public var createdAt: Int64
    public var traceID: String
    public var spanID: String
    public var parentSpanID: String
    public var provider: String
    public var model: String
    public var inputTokens: Int64
    public var outputTokens: Int64
    /// Cents of `currency`.
    public var costCents: Double
    public var currency: String
    public var status: Int64
    /// Milliseconds; may be anything a tenant's gateway wrote.
    public var responseTimeMs: Int64
    public var cacheStatus: String
    public var stream: Bool
    public var requestURL: String
    public var workspace: String
    public var virtualKey: String
    /// The listed request metadata as `portkey.metadata.<key>` attributes (the optional column
    /// `portkey.metadata` of (key, value) pairs; ``MetadataAttributes`` in PipelineConfig).
    public var metadata: [Attribute] = []

    public init(id: String, createdAt: Int64, traceID: String = "", spanID: String = "", parentSpanID: String = "",
                provider: String = "", model: String = "", inputTokens: Int64 = 0, outputTokens: Int64 = 0,
                costCents: Double = 0, currency: String = "", status: Int64 = 200, responseTimeMs: Int64 = 0,
                cacheStatus: String = "", stream: Bool = false, requestURL: String = "", workspace: String = "", virtualKey: String = "") {
        self.id = id
        self.createdAt = createdAt
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.provider = provider
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costCents = costCents
        self.currency = currency
        self.status = status
        self.responseTimeMs = responseTimeMs
        self.cacheStatus = cacheStatus
        self.stream = stream
        self.requestURL = requestURL
        self.workspace = workspace
        self.virtualKey = virtualKey
    }

    /// Where the row is in the pipeline's total order.
    public var keyset: Keyset { Keyset(time: createdAt, id: id) }
}

/// Reads ``GenAIRow``s from the traces query's result: checks the header once (every column
/// present, of a fitting type), then each row. Errors name the pipeline, the file and the column.
public struct GenAIRowBinding: Sendable {
    public static let columns: [(name: String, kind: Kind)] = [
        ("id", .text), ("created_at", .time), ("trace_id", .text), ("span_id", .text), ("parent_span_id", .text),
        ("ai_org", .text), ("ai_model", .text), ("req_units", .integer), ("res_units", .integer),
        ("cost", .number), ("cost_currency", .text), ("response_status_code", .integer), ("response_time", .integer),
        ("cache_status", .text), ("stream_mode", .integer), ("request_url", .text), ("workspace_slug", .text),
        ("virtual_key", .text),
    ]

    public enum Kind: Sendable { case text, time, integer, number }

    /// The optional column of request metadata pairs; without it spans carry no metadata.
    public static let metadataColumn = "portkey.metadata"

    private let index: [Int]
    private let metadataIndex: Int?
    private let pipeline: String
    private let file: String

    public init(columns: [ClickHouseColumn], pipeline: String, file: String) throws(BridgeError) {
        self.pipeline = pipeline
        self.file = file
        var index: [Int] = []
        for (name, _) in Self.columns {
            guard let i = columns.firstIndex(where: { $0.name == name }) else {
                throw BridgeError(.template, "the query's result has no column `\(name)` (it returns: \(columns.map(\.name).joined(separator: ", ")))",
                                  pipeline: pipeline, file: file, key: name)
            }
            index.append(i)
        }
        self.index = index
        metadataIndex = columns.firstIndex { $0.name == Self.metadataColumn }
        if let m = metadataIndex, !ResultBinding.isPairs(columns[m].type) {
            throw BridgeError(.template, "column `\(Self.metadataColumn)` must be (key, value) pairs, Array(Tuple(String, String)) or Map(String, String), not \(columns[m].typeName)",
                              pipeline: pipeline, file: file, key: Self.metadataColumn)
        }
    }

    /// The row from its values; a value of the wrong kind is an error naming its column.
    public func row(_ values: [ClickHouseValue]) throws(BridgeError) -> GenAIRow {
        func value(_ k: Int) -> ClickHouseValue { values[index[k]] }
        func text(_ k: Int) -> String {
            let v = value(k)
            return v.isNull ? "" : (v.text ?? "")
        }
        func integer(_ k: Int) throws(BridgeError) -> Int64 {
            let v = value(k)
            if v.isNull { return 0 }
            guard let i = v.int64 else { throw mismatch(k, "an integer") }
            return i
        }
        let created = value(1)
        guard let createdAt = created.unixNanoseconds else { throw mismatch(1, "a DateTime64") }
        let id = text(0)
        guard !id.isEmpty else { throw mismatch(0, "a UUID") }
        var row = GenAIRow(
            id: id, createdAt: createdAt, traceID: text(2), spanID: text(3), parentSpanID: text(4),
            provider: text(5), model: text(6), inputTokens: try integer(7), outputTokens: try integer(8),
            costCents: value(9).double ?? 0, currency: text(10), status: try integer(11), responseTimeMs: try integer(12),
            cacheStatus: text(13), stream: try integer(14) != 0, requestURL: text(15), workspace: text(16), virtualKey: text(17))
        if let m = metadataIndex { ResultBinding.appendPairs(Self.metadataColumn, values[m], to: &row.metadata) }
        return row
    }

    private func mismatch(_ k: Int, _ expected: String) -> BridgeError {
        BridgeError(.template, "column `\(Self.columns[k].name)` is not \(expected)", pipeline: pipeline, file: file, key: Self.columns[k].name)
    }
}
