/// `gen_ai.operation.name` from the request's path, with the values of the GenAI semantic
/// conventions (v1.41.1): `chat`, `text_completion`, `embeddings`, `generate_content`, … Never empty.
public enum OperationName {
    /// What a path that names no known operation gets: the conventions' generic value for
    /// content generation (Bedrock's `/model/M/invoke`, an unknown or unparsable path).
    public static let fallback = "generate_content"

    /// The operation of `path` (the URL's path, without query or fragment).
    public static func of(path: String) -> String {
        var p = Substring(path)
        while p.hasSuffix("/") { p = p.dropLast() }
        let lower = p.lowercased()
        // Vertex AI and Gemini: `…/models/M:generateContent`, `:streamGenerateContent`, `:embedContent`.
        if let colon = lower.lastIndex(of: ":"), !lower[colon...].contains("/") {
            let verb = lower[lower.index(after: colon)...]
            switch verb {
            case "generatecontent", "streamgeneratecontent": return "generate_content"
            case "embedcontent", "batchembedcontents": return "embeddings"
            case "rawpredict", "streamrawpredict": return "chat"  // Anthropic and Mistral models on Vertex: Messages/Chat APIs
            default: return fallback
            }
        }
        let segments = lower.split(separator: "/")
        guard let last = segments.last else { return fallback }
        let previous = segments.count >= 2 ? segments[segments.count - 2] : ""
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
