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
        var bytes = Substring(path).utf8[...]
        while bytes.last == UInt8(ascii: "/") { bytes = bytes.dropLast() }
        let lower = String(decoding: bytes, as: UTF8.self).asciiLowercased
        let segments = lower.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
        guard let last = segments.last else { return fallback }
        let previous = segments.count >= 2 ? segments[segments.count - 2] : ""
        // Vertex AI and Gemini: `…/models/M:generateContent`, `:streamGenerateContent`, `:embedContent`.
        if let colon = last.utf8.lastIndex(of: UInt8(ascii: ":")) {
            switch String(decoding: last.utf8[last.utf8.index(after: colon)...], as: UTF8.self) {
            case "generatecontent", "streamgeneratecontent": return "generate_content"
            case "embedcontent", "batchembedcontents": return "embeddings"
            case "rawpredict", "streamrawpredict": return "chat"  // Anthropic and Mistral models on Vertex: Messages/Chat APIs
            default: return fallback
            }
        }
        switch last {
        case "completions" where previous == "chat": return "chat"
        case "completions": return "text_completion"
        case "embeddings": return "embeddings"
        case "messages": return "chat"
        case "responses": return "chat"  // OpenAI's Responses API
        case "converse", "converse-stream": return "chat"  // Bedrock's Converse API
        case "invoke", "invoke-with-response-stream": return fallback  // Bedrock's InvokeModel: any model, any body
        default: return fallback
        }
    }
}
