/// The gateway's provider slugs (`ai_org`) as the GenAI semantic conventions (v1.41.1) name them
/// in `gen_ai.provider.name`, where they differ. The same table is in the shipped metric queries
/// (`queries/*.sql`, a `transform`), so the spans and the metrics of one provider join.
public enum ProviderName {
    /// Gateway slug → well-known value. Any other slug is used as it is.
    public static let wellKnown: [(slug: String, name: String)] = [
        ("azure-openai", "azure.ai.openai"),
        ("bedrock", "aws.bedrock"),
        ("vertex-ai", "gcp.vertex_ai"),
        ("google", "gcp.gemini"),
        ("mistral-ai", "mistral_ai"),
        ("x-ai", "x_ai"),
        ("perplexity-ai", "perplexity"),
    ]

    /// `gen_ai.provider.name` for the gateway's `ai_org`; empty stays empty (the attribute is omitted).
    /// Seven comparisons (a length, then bytes) cost less than hashing the slug.
    public static func map(_ slug: String) -> String {
        guard !slug.isEmpty else { return slug }
        for entry in wellKnown where entry.slug == slug { return entry.name }
        return slug
    }
}
