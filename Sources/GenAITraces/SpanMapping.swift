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
        let url = RequestURL(row.requestURL)
        let operation = OperationName.of(path: url.path)
        let provider = ProviderName.map(row.provider)

        // Ids: the gateway's when valid, else derived, so a re-sent row has the same ids (and the
        // metrics' exemplars name this span).
        let ids = SpanIDs.of(id: row.id, traceID: row.traceID, spanID: row.spanID)
        let traceID = ids.traceID, spanID = ids.spanID, gatewayTraceIDKept = ids.gatewayTraceIDKept
        let parent = SpanIDs.valid(row.parentSpanID, count: 8) ?? []

        // Times: start at created_at, end after the latency (never before the start).
        var durationMs = max(row.responseTimeMs, 0)
        let clamped = durationMs > Self.maxDurationMs || row.responseTimeMs < 0
        durationMs = min(durationMs, Self.maxDurationMs)
        let start = UInt64(clamping: row.createdAt)
        let end = start &+ UInt64(durationMs) * 1_000_000

        var attributes: [Attribute] = [Attribute("gen_ai.operation.name", .string(operation))]
        attributes.reserveCapacity(20)
        if !provider.isEmpty { attributes.append(Attribute("gen_ai.provider.name", .string(provider))) }
        if !row.model.isEmpty { attributes.append(Attribute("gen_ai.request.model", .string(row.model))) }
        attributes.append(Attribute("gen_ai.usage.input_tokens", .int(row.inputTokens)))
        attributes.append(Attribute("gen_ai.usage.output_tokens", .int(row.outputTokens)))
        if row.stream { attributes.append(Attribute("gen_ai.request.stream", .bool(true))) }
        if !url.host.isEmpty {
            attributes.append(Attribute("server.address", .string(url.host)))
            if let port = url.nonDefaultPort { attributes.append(Attribute("server.port", .int(Int64(port)))) }
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

        return Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent,
            name: row.model.isEmpty ? operation : operation + " " + row.model,
            kind: .client, startTimeUnixNano: start, endTimeUnixNano: end, attributes: attributes,
            status: row.status >= 400 ? Span.Status(code: .error) : Span.Status())
    }

    /// Cents as units of the currency, rounded to 9 decimals as the cost metric is.
    static func units(cents: Double) -> Double {
        (cents / 100 * 1e9).rounded() / 1e9
    }
}
