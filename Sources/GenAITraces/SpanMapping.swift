import OTLP
import PipelineConfig

/// A row of `generations` as one span by the GenAI semantic conventions v1.41.1, or
/// semantic-conventions-genai under `gen_ai_latest_experimental` (`docs/traces.md` has the tables,
/// `docs/semconv.md` the differences). Total: every row, whatever a tenant wrote into it, gives a
/// valid span.
public struct SpanMapping: Sendable, Equatable {
    /// Also emit the deprecated names older backends read (`gen_ai.system`,
    /// `gen_ai.usage.prompt_tokens`, `gen_ai.usage.completion_tokens`); never under
    /// `gen_ai_latest_experimental`, which emits the latest names and not the old ones.
    public var deprecatedAttributes: Bool
    /// The conventions the span follows. The migration guide's inference-span changes (v1.41 to
    /// semantic-conventions-genai) rename or retype only attributes a gateway row does not have
    /// (cache write tokens, top_k, system instructions, output messages' finish reasons) and the
    /// span type, which OTLP does not carry: the attributes the bridge sets are the same in both.
    public var conventions: GenAIConventions

    /// The longest duration a span is given: a latency past a day is a bad value, kept in
    /// `portkey.response_time_ms`.
    public static let maxDurationMs: Int64 = 86_400_000

    public init(deprecatedAttributes: Bool = false, conventions: GenAIConventions = .v1_41_1) {
        self.deprecatedAttributes = deprecatedAttributes
        self.conventions = conventions
    }

    public func span(_ row: GenAIRow) -> Span {
        var attributes: [Attribute] = []
        attributes.reserveCapacity(20)
        let p = parts(row, attributes: &attributes)
        return Span(
            traceID: p.traceID.bytes, spanID: p.spanID.bytes, parentSpanID: p.parentSpanID.bytes, name: p.name, kind: .client,
            startTimeUnixNano: p.start, endTimeUnixNano: p.end, attributes: attributes, status: p.status)
    }

    /// What a span is made of besides its attributes, with the ids held inline.
    struct Parts {
        var traceID: InlineID
        var spanID: InlineID
        var parentSpanID: InlineID
        var name: String
        var start: UInt64
        var end: UInt64
        var status: Span.Status
    }

    /// The span of `row`: its attributes appended to `attributes`, the rest returned. The one
    /// mapping behind ``span(_:)`` and ``SpanEncoder``.
    func parts(_ row: GenAIRow, attributes: inout [Attribute]) -> Parts {
        // The URL read in place: its host and port, and the operation from its path.
        var requestURL = row.requestURL
        let (operation, host, port) = requestURL.withUTF8 { bytes in
            let url = RequestURL.Parts(bytes)
            return (OperationName.of(path: bytes, url.path),
                    RequestURL.string(bytes, url.host).asciiLowercased, url.nonDefaultPort(bytes))
        }
        let provider = ProviderName.map(row.provider)

        // Ids: the gateway's when valid, else derived, so a re-sent row has the same ids (and the
        // metrics' exemplars name this span).
        let ids = SpanIDs.inline(id: row.id, traceID: row.traceID, spanID: row.spanID)
        let gatewayTraceIDKept = ids.gatewayTraceIDKept
        let parent = row.parentSpanID.isEmpty ? InlineID() : SpanIDs.validInline(row.parentSpanID, count: 8) ?? InlineID()

        // Times: start at created_at, end after the latency (never before the start).
        var durationMs = max(row.responseTimeMs, 0)
        let clamped = durationMs > Self.maxDurationMs || row.responseTimeMs < 0
        durationMs = min(durationMs, Self.maxDurationMs)
        let start = UInt64(clamping: row.createdAt)
        let end = start &+ UInt64(durationMs) * 1_000_000

        attributes.append(Attribute("gen_ai.operation.name", .string(operation)))
        if !provider.isEmpty { attributes.append(Attribute("gen_ai.provider.name", .string(provider))) }
        if !row.model.isEmpty { attributes.append(Attribute("gen_ai.request.model", .string(row.model))) }
        attributes.append(Attribute("gen_ai.usage.input_tokens", .int(row.inputTokens)))
        attributes.append(Attribute("gen_ai.usage.output_tokens", .int(row.outputTokens)))
        if row.stream { attributes.append(Attribute("gen_ai.request.stream", .bool(true))) }
        if !host.isEmpty {
            attributes.append(Attribute("server.address", .string(host)))
            if let port { attributes.append(Attribute("server.port", .int(Int64(port)))) }
        }
        if row.status != 0 { attributes.append(Attribute("http.response.status_code", .int(row.status))) }
        if row.status >= 400 { attributes.append(Attribute("error.type", .string(String(row.status)))) }
        if deprecatedAttributes && conventions == .v1_41_1 {
            if !provider.isEmpty { attributes.append(Attribute("gen_ai.system", .string(provider))) }
            attributes.append(Attribute("gen_ai.usage.prompt_tokens", .int(row.inputTokens)))
            attributes.append(Attribute("gen_ai.usage.completion_tokens", .int(row.outputTokens)))
        }
        attributes.append(Attribute("portkey.id", .string(row.id)))
        if !row.workspace.isEmpty { attributes.append(Attribute("portkey.workspace", .string(row.workspace))) }
        if !row.cacheStatus.isEmpty { attributes.append(Attribute("portkey.cache_status", .string(row.cacheStatus))) }
        if row.costCents.isFinite { attributes.append(Attribute("portkey.cost", .double(Self.units(cents: row.costCents)))) }
        if !row.currency.isEmpty { attributes.append(Attribute("portkey.currency", .string(row.currency))) }
        if !row.virtualKey.isEmpty { attributes.append(Attribute("portkey.virtual_key", .string(row.virtualKey))) }
        if gatewayTraceIDKept { attributes.append(Attribute("portkey.trace_id", .string(row.traceID))) }
        if clamped { attributes.append(Attribute("portkey.response_time_ms", .int(row.responseTimeMs))) }
        attributes += row.metadata

        return Parts(
            traceID: ids.traceID, spanID: ids.spanID, parentSpanID: parent,
            name: row.model.isEmpty ? operation : "\(operation) \(row.model)",
            start: start, end: end, status: row.status >= 400 ? Span.Status(code: .error) : Span.Status())
    }

    /// Cents as units of the currency, rounded to 9 decimals as the cost metric is.
    static func units(cents: Double) -> Double {
        (cents / 100 * 1e9).rounded() / 1e9
    }
}

/// Rows to encoded spans, as `writer.encode(mapping.span(row))` writes them, byte for byte, for
/// the traces pass's loop: in protobuf the span's parts go straight to the hand-written encoder
/// (``SpanRequestWriter/protobufField(traceID:spanID:parentSpanID:name:kind:startTimeUnixNano:endTimeUnixNano:attributes:status:)``),
/// its ids held inline and its attributes in an array reused from row to row, so no ``Span`` is
/// built; OTLP/JSON goes through ``SpanMapping/span(_:)`` and the writer.
public struct SpanEncoder: Sendable {
    public let mapping: SpanMapping
    public let writer: SpanRequestWriter
    private var attributes: [Attribute] = []

    public init(mapping: SpanMapping, writer: SpanRequestWriter) {
        self.mapping = mapping
        self.writer = writer
        attributes.reserveCapacity(24)
    }

    /// The span of `row`, encoded.
    public mutating func encode(_ row: GenAIRow) throws -> EncodedSpan {
        guard writer.wireProtocol == .httpProtobuf else { return try writer.encode(mapping.span(row)) }
        attributes.removeAll(keepingCapacity: true)
        let p = mapping.parts(row, attributes: &attributes)
        let bytes = p.traceID.withUnsafeBytes { traceID in
            p.spanID.withUnsafeBytes { spanID in
                p.parentSpanID.withUnsafeBytes { parentSpanID in
                    attributes.withUnsafeBufferPointer { attributes in
                        SpanRequestWriter.protobufField(traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, name: p.name, kind: .client,
                                                        startTimeUnixNano: p.start, endTimeUnixNano: p.end, attributes: attributes, status: p.status)
                    }
                }
            }
        }
        return EncodedSpan(bytes: bytes)
    }
}
