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
    /// How ``row(_:)-(RawRow)`` reads each of ``columns`` from a row's bytes.
    private let reads: [Read]
    private let types: [ClickHouseType]
    private let metadataType: ClickHouseType?
    /// The columns ``row(_:)-(RawRow)`` needs decoded into values: none, it reads the bytes. What
    /// to pass as `decode` to `next(into:raw:decode:)` of the query's stream.
    public let decode: [Bool]

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
        types = index.map { columns[$0].type }
        reads = types.map(Read.init)
        decode = Array(repeating: false, count: columns.count)
        metadataIndex = columns.firstIndex { $0.name == Self.metadataColumn }
        metadataType = metadataIndex.map { columns[$0].type }
        if let m = metadataIndex, !ResultBinding.isPairs(columns[m].type) {
            throw BridgeError(.template, "column `\(Self.metadataColumn)` must be (key, value) pairs, Array(Tuple(String, String)) or Map(String, String), not \(columns[m].typeName)",
                              pipeline: pipeline, file: file, key: Self.metadataColumn)
        }
    }

    /// The row from its values; a value of the wrong kind is an error naming its column.
    public func row(_ values: [ClickHouseValue]) throws(BridgeError) -> GenAIRow {
        try row(value: { values[index[$0]] }, metadata: { metadataIndex.map { values[$0] } })
    }

    /// The row from its bytes as the query's stream located them (`next(into:raw:decode:)` with
    /// ``decode``, which decodes no column into values): the same row as ``row(_:)-([ClickHouseValue])``
    /// of the decoded values, read without building them. Strings, UUIDs, DateTime64 and fixed-size
    /// numbers are read in place; any other type is decoded from its bytes as the stream would.
    public func row(_ raw: RawRow) throws(BridgeError) -> GenAIRow {
        let result = raw.bytes.withUnsafeBufferPointer { bytes in
            Result { () throws(BridgeError) -> GenAIRow in
                try row(value: { k in
                    let column = index[k]
                    return reads[k].value(bytes, from: raw.start(of: column), to: raw.ends[column]) ?? raw.value(of: column, type: types[k])
                }, metadata: {
                    guard let m = metadataIndex, let type = metadataType else { return nil }
                    // No pairs (an empty array or map: one zero byte) adds nothing.
                    if raw.ends[m] - raw.start(of: m) == 1, bytes[raw.start(of: m)] == 0, !type.isNullableType { return nil }
                    return raw.value(of: m, type: type)
                })
            }
        }
        return try result.get()
    }

    @inline(__always)
    private func row(value: (Int) -> ClickHouseValue, metadata: () -> ClickHouseValue?) throws(BridgeError) -> GenAIRow {
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
        if let pairs = metadata() { ResultBinding.appendPairs(Self.metadataColumn, pairs, to: &row.metadata) }
        return row
    }

    private func mismatch(_ k: Int, _ expected: String) -> BridgeError {
        BridgeError(.template, "column `\(Self.columns[k].name)` is not \(expected)", pipeline: pipeline, file: file, key: Self.columns[k].name)
    }
}

extension GenAIRowBinding {
    /// How a column's value is read from its bytes, decided once per result from its type: the
    /// types the traces query returns read in place, any other decoded by the ClickHouse module.
    enum Read: Sendable {
        case string, uuid
        case dateTime64(precision: Int)
        case unsigned(bytes: Int), signed(bytes: Int)
        case float64, bool
        case other(ClickHouseType)

        init(_ type: ClickHouseType) {
            switch type {
            case .string: self = .string
            case .uuid: self = .uuid
            case .dateTime64(let precision, _): self = .dateTime64(precision: precision)
            case .uint8: self = .unsigned(bytes: 1)
            case .uint16: self = .unsigned(bytes: 2)
            case .uint32: self = .unsigned(bytes: 4)
            case .uint64: self = .unsigned(bytes: 8)
            case .int8: self = .signed(bytes: 1)
            case .int16: self = .signed(bytes: 2)
            case .int32: self = .signed(bytes: 4)
            case .int64: self = .signed(bytes: 8)
            case .float64: self = .float64
            case .bool: self = .bool
            default: self = .other(type)
            }
        }

        /// The value in `bytes[start..<end]` (one whole encoded value, as the stream checked it),
        /// as `RowBinary.decode` gives it; `nil` when it must be decoded by the ClickHouse module
        /// (another type, or a String that is not valid UTF-8, which the decoder escapes).
        @inline(__always)
        func value(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> ClickHouseValue? {
            @inline(__always) func load(_ n: Int) -> UInt64 {
                var v: UInt64 = 0
                for i in 0..<n { v |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
                return v
            }
            switch self {
            case .string:
                // A LEB128 length, then the bytes: the value's bytes are the last `length` ones.
                var i = start, length = 0, shift = 0
                while i < end, shift < 64 {
                    let b = bytes[i]
                    i += 1
                    length |= Int(b & 0x7F) << shift
                    if b & 0x80 == 0 { break }
                    shift += 7
                }
                guard end - i == length else { return nil }
                if length == 0 { return .string("") }
                let text = UnsafeBufferPointer(rebasing: bytes[i..<end])
                return GenAIRowBinding.validUTF8String(text).map { .string($0) }
            case .uuid:
                guard end - start == 16 else { return nil }
                var high: UInt64 = 0, low: UInt64 = 0
                for i in 0..<8 {
                    high |= UInt64(bytes[start + i]) << (8 * UInt64(i))
                    low |= UInt64(bytes[start + 8 + i]) << (8 * UInt64(i))
                }
                return .string(uuidText(high: high, low: low))
            case .dateTime64(let precision):
                guard end - start == 8 else { return nil }
                return .dateTime64(ticks: Int64(bitPattern: load(8)), precision: precision)
            case .unsigned(let n):
                guard end - start == n else { return nil }
                return .uint(load(n))
            case .signed(let n):
                guard end - start == n else { return nil }
                let shift = UInt64(64 - 8 * n)
                return .int(Int64(bitPattern: load(n) << shift) >> shift)
            case .float64:
                guard end - start == 8 else { return nil }
                return .float(Double(bitPattern: load(8)))
            case .bool:
                guard end - start == 1 else { return nil }
                return .bool(bytes[start] != 0)
            case .other:
                return nil
            }
        }
    }

    /// `bytes` as a String when they are valid UTF-8, else `nil`: `String(validating:as:)`'s
    /// answer, without its generic path (which looks up type metadata on every call). ASCII, the
    /// usual case, is checked by a loop; other text is decoded and compared with its bytes (decoding
    /// repairs invalid UTF-8, so the two differ exactly when the bytes are not valid).
    @inline(__always)
    static func validUTF8String(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var high: UInt8 = 0
        for b in bytes { high |= b }
        let s = String(decoding: bytes, as: UTF8.self)
        if high < 0x80 { return s }
        return s.utf8.elementsEqual(bytes) ? s : nil
    }

    /// A UUID's text as ClickHouse writes it (and the decoder gives it): the two little-endian
    /// halves in lower-case hex, grouped 8-4-4-4-12.
    static func uuidText(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            let digits: StaticString = "0123456789abcdef"
            let hex = digits.utf8Start
            var j = 0
            for i in 0..<16 {
                if i == 8 || i == 12 { out[j] = UInt8(ascii: "-"); j += 1 }
                out[j] = hex[Int(high >> (60 - 4 * UInt64(i)) & 0xF)]
                j += 1
            }
            for i in 0..<16 {
                if i == 0 || i == 4 { out[j] = UInt8(ascii: "-"); j += 1 }
                out[j] = hex[Int(low >> (60 - 4 * UInt64(i)) & 0xF)]
                j += 1
            }
            return j
        }
    }
}

private extension ClickHouseType {
    var isNullableType: Bool { if case .nullable = self { true } else { false } }
}
