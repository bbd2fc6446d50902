import CurlHTTP
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import Rollup

@Suite("Redactor and LogSafe: no secret and no forged line in what the bridge prints or stores")
struct RedactorTests {
    static let environment = [
        "CLICKHOUSE_PASSWORD": "ch-s3cret-pw\n",
        "CLICKHOUSE_URL": "user:url/pa?ss#word@clickhouse:8123",
        "CHECKPOINT_DATABASE_URL": "host=db user=bridge password='pg s3cret\\'x' dbname=b",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=otlp-key-123,x-tenant=tenant-token%2Fabc",
        "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20trace-token",
        "OTEL_ENDPOINT": "https://u:endpoint-pw@otlp.example",
        "PGPASSWORD": "libpq-pw",
    ]

    @Test("every configured secret, in every form, is replaced", arguments: [
        "ch-s3cret-pw", "url/pa?ss#word", "pg s3cret'x", "otlp-key-123", "tenant-token%2Fabc", "tenant-token/abc",
        "Bearer%20trace-token", "Bearer trace-token", "endpoint-pw", "libpq-pw",
    ])
    func secrets(secret: String) {
        let redact = Redactor(environment: Self.environment)
        let out = redact("error: connecting with \(secret) failed; again: \(secret)")
        #expect(!out.contains(secret), "\(out)")
        #expect(out.contains("***"))
    }

    @Test("control characters from data cannot start a forged line or colour a terminal")
    func escaping() {
        let redact = Redactor(secrets: [])
        let out = redact("model gpt\n2026-01-01 ERROR forged\u{1B}[31m\u{0}\u{202E}")
        #expect(!out.contains("\n") && !out.contains("\u{1B}") && !out.contains("\u{0}") && !out.contains("\u{202E}"))
        #expect(out.contains("\\n2026") && out.contains("\\u{1B}[31m"))
        #expect(LogSafe.text(String(repeating: "x", count: 2_000), limit: 100).count == 101)
        #expect(LogSafe.text("plain text: ok") == "plain text: ok")
    }

    @Test("short secrets are not searched for (they would blank out ordinary words)")
    func shortSecrets() {
        #expect(Redactor(secrets: ["ab"]).secrets.isEmpty)
        #expect(Redactor(secrets: ["abc"]).secrets == ["abc"])
    }
}
