/// `gen_ai.operation.name` from the request's path, with the values of the GenAI semantic
/// conventions (v1.41.1): `chat`, `text_completion`, `embeddings`, `generate_content`. Never empty.
///
/// One mapping for spans and metrics: `queries/latency.sql` and `queries/tokens.sql` compute the
/// same in ClickHouse SQL (`RequestURLSQLTests` requires equal answers over every shape). Read over
/// the path's bytes: trailing `/` dropped, ASCII lower-cased, split at `/` with empty segments
/// skipped; a last segment holding `:` is a Google verb (`…/models/M:generateContent`).
public enum OperationName {
    /// What a path that names no known operation gets: the conventions' generic value for
    /// content generation (Bedrock's `/model/M/invoke`, an unknown or unparsable path).
    public static let fallback = "generate_content"

    /// The operations of inference (chat, completions, content generation): under
    /// `gen_ai_latest_experimental` their durations are `gen_ai.client.inference.duration`.
    public static let inference: Set<String> = ["chat", "text_completion", "generate_content"]

    /// The operation of `path` (the URL's path, without query or fragment).
    public static func of(path: String) -> String {
        var path = path
        return path.withUTF8 { of(path: $0, 0..<$0.count) }
    }

    /// The operation of the path in `bytes[range]`, read in place: no copy, no allocation, the
    /// segments compared lower-cased with the known names.
    static func of(path bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        let slash = UInt8(ascii: "/")
        var end = range.upperBound
        while end > range.lowerBound, bytes[end - 1] == slash { end -= 1 }
        guard end > range.lowerBound else { return fallback }  // no segment
        // The last segment (never empty: trailing slashes are gone), then the one before it.
        var start = end
        while start > range.lowerBound, bytes[start - 1] != slash { start -= 1 }
        let last = start..<end
        var previousEnd = start
        while previousEnd > range.lowerBound, bytes[previousEnd - 1] == slash { previousEnd -= 1 }
        var previousStart = previousEnd
        while previousStart > range.lowerBound, bytes[previousStart - 1] != slash { previousStart -= 1 }
        let previous = previousStart..<previousEnd
        @inline(__always) func isLast(_ name: StaticString) -> Bool { RequestURL.equalsLowercased(bytes, last, name) }
        // Vertex AI and Gemini: `…/models/M:generateContent`, `:streamGenerateContent`, `:embedContent`.
        if let colon = RequestURL.Parts.lastIndex(of: UInt8(ascii: ":"), in: bytes, last) {
            let verb = (colon + 1)..<end
            @inline(__always) func isVerb(_ name: StaticString) -> Bool { RequestURL.equalsLowercased(bytes, verb, name) }
            if isVerb("generatecontent") || isVerb("streamgeneratecontent") { return "generate_content" }
            if isVerb("embedcontent") || isVerb("batchembedcontents") { return "embeddings" }
            if isVerb("rawpredict") || isVerb("streamrawpredict") { return "chat" }  // Anthropic and Mistral models on Vertex: Messages/Chat APIs
            return fallback
        }
        if isLast("completions") { return RequestURL.equalsLowercased(bytes, previous, "chat") ? "chat" : "text_completion" }
        if isLast("embeddings") { return "embeddings" }
        if isLast("messages") { return "chat" }
        if isLast("responses") { return "chat" }  // OpenAI's Responses API
        if isLast("converse") || isLast("converse-stream") { return "chat" }  // Bedrock's Converse API
        // Bedrock's InvokeModel (`invoke`, `invoke-with-response-stream`: any model, any body),
        // and every other path.
        return fallback
    }
}
