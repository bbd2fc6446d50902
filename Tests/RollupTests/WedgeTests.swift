import Checkpoints
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
import UTCTime

/// A pipeline stuck on a refused request, as `checkpoints` and `validate` describe it.
@Suite("Wedge")
struct WedgeTests {
    static func status(failures: Int, error: String?, failingSince: Int64? = T) -> PipelineStatus {
        PipelineStatus(pipeline: "requests", watermark: UTCInstant(unixNanoseconds: T), behind: .zero, updatedAt: UTCInstant(unixNanoseconds: T),
                       lastError: error, lastErrorAt: UTCInstant(unixNanoseconds: T + 3_600 * second), consecutiveFailures: failures,
                       failingSince: failingSince.map { UTCInstant(unixNanoseconds: $0) })
    }

    @Test("only failing runs refused by the receiver make a wedge; it says since when, the message and the remedy")
    func wedge() throws {
        let refused = "export failed: OTLP export to https://otlp.example/v1/metrics rejected by the receiver (HTTP 400): sample too old"
        let wedge = try #require(Wedge(Self.status(failures: 3, error: refused)))
        #expect(wedge.since == UTCInstant(unixNanoseconds: T))
        #expect(wedge.description(now: T + 7_500 * second)
                == "stuck since \(UTCInstant(unixNanoseconds: T).iso8601) (for 2h 5m) on a refused request: \(refused); \(wedge.remedy)")
        #expect(wedge.remedy.contains("max_point_age") && wedge.remedy.contains("otel-bridge checkpoints rewind requests --skip-ahead"))
        // Without a failing run recorded, since the last error.
        #expect(Wedge(Self.status(failures: 1, error: refused, failingSince: nil))?.since == UTCInstant(unixNanoseconds: T + 3_600 * second))
        #expect(Wedge(Self.status(failures: 0, error: refused)) == nil, "it succeeded since")
        #expect(Wedge(Self.status(failures: 5, error: "export failed: OTLP export to … retries exhausted (HTTP 503)")) == nil, "not a refusal")
        #expect(Wedge(Self.status(failures: 5, error: nil)) == nil)
    }
}
