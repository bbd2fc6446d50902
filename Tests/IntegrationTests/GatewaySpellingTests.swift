import ClickHouse
import Foundation
import Testing
import TestSupport
import UTCTime

/// The gateway's own spellings of the traces settings, with the real binary and the real
/// services: `EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED` (the gateway's code) and
/// `EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT`/`_HEADERS` (its Helm chart) mean the documented
/// variables; two spellings that disagree exit 2 naming both; `validate` says which it read.
@Suite("The gateway's spellings of the traces settings")
struct GatewaySpellingTests {
    typealias Outcome = CommandLineTests.Outcome

    /// Rows from 15 to 5 minutes ago: all older than the traces pipeline's lag when it runs. The
    /// window follows the clock, and the generator's day curve halves its rate around 03:00 UTC:
    /// 20 a minute keeps about 100 rows even then, far over the 30 the test asks for.
    static func scenario() throws -> (Scenario, start: String) {
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = UTCInstant(unixNanoseconds: (now - 900) * 1_000_000_000).iso8601
        try s.seed(start: start, end: UTCInstant(unixNanoseconds: (now - 300) * 1_000_000_000).iso8601, seed: 5, ratePerMinute: 20)
        return (s, start)
    }

    @Test("the gateway's spellings export every row as a span, with their headers; '=' inside resource values is kept", .timeLimit(.minutes(10)))
    func gatewaySpellingsExport() throws {
        let (s, start) = try Self.scenario()
        let env = s.environment(startAt: start, extra: [
            "OTEL_RESOURCE_ATTRIBUTES": "test.id=\(s.id),k8s.pod.labels=app=bridge",
            "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
            "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS": "x-tenant=acme%3Dprod",
            "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES": "test.id=\(s.id),selector=tier=gold",
        ])

        // validate reads the same spellings, says so, and reaches the traces endpoint they name.
        let validate = try CommandLineTests.run(["validate"], environment: env)
        let environmentLine = try ValidateTests.line(validate, "environment")
        #expect(environmentLine.detail.contains("read EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED (the gateway code's spelling) for EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED"), "\(environmentLine.detail)")
        #expect(environmentLine.detail.contains("read EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT (the gateway Helm chart's spelling) for EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT"), "\(environmentLine.detail)")
        #expect(environmentLine.detail.contains("EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED=true"))
        let traces = try ValidateTests.line(validate, "otlp traces")
        #expect(traces.status == "ok", "\(traces.detail)")
        #expect(validate.status == 0, "\(validate.stdout)\n\(validate.stderr)")

        let run = try CommandLineTests.run(["run"], environment: env)
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try readAll(s.clickhouse.query("SELECT toString(id) FROM \(s.database).generations")).map { $0[0].text ?? "" }
        #expect(rows.count >= 30)
        let spans = try Receiver.spans(scope: s.receiverScope)
        var ids: [String] = []
        for span in spans {
            if case .string(let id)? = span.attributes["portkey.id"] { ids.append(id) }
            #expect(span.resource["selector"] == "tier=gold" && span.resource["test.id"] == s.id, "\(span.resource)")
        }
        #expect(ids.sorted() == rows.sorted(), "\(ids.count) spans for \(rows.count) rows")
        // Every traces request carried the Helm chart's header, percent-decoded, its '=' kept.
        let requests = try #require(try Control.getJSON(Services.otlpURL + "/__requests?signal=traces&scope=" + s.receiverScope) as? [[String: Any]])
        #expect(!requests.isEmpty)
        for request in requests {
            #expect((request["headers"] as? [String: Any])?["x-tenant"] as? String == "acme=prod", "\(request["headers"] ?? "")")
        }
        // The metrics' resource keeps its '=' too.
        let metrics = try Receiver.records(resourceKey: "test.id", value: s.id)
        #expect(!metrics.isEmpty)
        for record in metrics {
            for rm in Receiver.resourceMetrics(of: record) {
                #expect(Receiver.attributes(resourceOf: rm)["k8s.pod.labels"] == "app=bridge")
            }
        }
    }

    @Test("the documented spelling: validate says it read it", .timeLimit(.minutes(10)))
    func documentedSpelling() throws {
        let (s, start) = try Self.scenario()
        let env = s.environment(startAt: start, extra: [
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "1",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
        ])
        let validate = try CommandLineTests.run(["validate"], environment: env)
        let environmentLine = try ValidateTests.line(validate, "environment")
        #expect(environmentLine.detail.contains("; read EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED"), "\(environmentLine.detail)")
        #expect(environmentLine.detail.contains("; read EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT"), "\(environmentLine.detail)")
        // `1` is on for validate as for run: the traces endpoint is checked.
        #expect(try ValidateTests.line(validate, "otlp traces").status == "ok")
    }

    @Test("two spellings that disagree: run, validate and checkpoints exit 2 naming both, never a secret", .timeLimit(.minutes(10)), arguments: [
        (["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED": "false"],
         ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED", "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED"]),
        (["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
          "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": "http://a.example:4318", "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT": "http://u:url-secret-9@b.example:4318"],
         ["EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT", "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT"]),
        (["EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED": "yes",
          "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=hdr-secret-1", "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS": "x-api-key=hdr-secret-2"],
         ["EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS", "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS"]),
    ])
    func conflicts(overrides: [String: String], named: [String]) throws {
        let s = try Scenario()
        let env = s.environment(startAt: "2026-11-01T00:00:00Z", extra: overrides)
        for arguments in [["run"], ["validate"], ["checkpoints"]] {
            let outcome = try CommandLineTests.run(arguments, environment: env)
            let text = outcome.stdout + outcome.stderr
            #expect(outcome.status == 2, "\(arguments): \(text)")
            for name in named {
                #expect(text.contains(name), "\(arguments) does not name \(name): \(text)")
            }
            for secret in ["url-secret-9", "hdr-secret-1", "hdr-secret-2"] {
                #expect(!text.contains(secret), "\(arguments) shows a secret: \(text)")
            }
        }
        #expect(try s.received().isEmpty && Receiver.spans(scope: s.receiverScope).isEmpty)
    }
}
