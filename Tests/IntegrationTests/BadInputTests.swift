import Checkpoints
import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

/// Each bad query or result fails the pass with an error naming the pipeline, the file and the
/// column, sends nothing it should not, and leaves the watermark where the last acknowledged
/// batch put it.
@Suite("Bad queries and results move no watermark")
struct BadInputTests {
    /// A one-pipeline file `case.yaml` + `case.sql` in a fresh folder; the metric is a monotonic
    /// int sum `requests` read from column `requests` with attribute `gen_ai.provider.name`.
    static func pipelineFile(sql: String, valueType: String = "int", extra: String = "") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otel-bridge-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try sql.write(to: dir.appendingPathComponent("case.sql"), atomically: true, encoding: .utf8)
        let yaml = """
            pipelines:
              - name: case
                query: case.sql
                max_buckets_per_query: 30
            \(extra)
                metrics:
                  - metric_name: case.requests
                    data_type: sum
                    value_type: \(valueType)
                    monotonic: true
                    value_column: requests
                    attribute_columns: [gen_ai.provider.name]
            """
        let path = dir.appendingPathComponent("case.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func sql(value: String = "count()", bucket: String = "toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC')",
                    order: String = "ORDER BY bucket", groupProvider: Bool = true) -> String {
        """
        SELECT \(bucket) AS bucket, ai_org AS `gen_ai.provider.name`, \(value) AS requests
        FROM generations
        WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
        GROUP BY bucket\(groupProvider ? ", `gen_ai.provider.name`" : "")
        \(order)
        """
    }

    struct Outcome {
        var summary: PassSummary
        var watermark: Int64?
        var lastRun: Run?
        var received: [ReceivedPoint]
    }

    static func run(_ s: Scenario, file: String, start: String = "2026-03-05T10:00:00Z", now: String = "2026-03-05T11:05:00Z",
                    temporality: String = "cumulative") throws -> Outcome {
        let summaries = try s.bridge(s.environment(temporality: temporality, startAt: start, extra: ["BRIDGE_CONFIG": file]), now: ns(now)).run()
        let store = try s.store()
        let checkpoint = try store.checkpoint(pipeline: "case")
        return Outcome(summary: summaries[0], watermark: checkpoint.map { $0.watermark.unixNanoseconds },
                       lastRun: try store.recentRuns(pipeline: "case", limit: 1).first, received: try s.received())
    }

    static func seeded() throws -> Scenario {
        let s = try Scenario()
        try s.seed(start: "2026-03-05T10:00:00Z", end: "2026-03-05T11:00:00Z")
        return s
    }

    @Test("cases that fail on the first rows", arguments: [
        ("a SQL error", sql(value: "count(no_such_column)"), "no_such_column"),
        ("a negative count in a monotonic sum", sql(value: "-toInt64(count())"), "negative"),
        ("a misaligned bucket", sql(bucket: "toStartOfInterval(created_at, toIntervalSecond(60), 'UTC') + INTERVAL 7 SECOND"), "not aligned"),
        ("a bucket outside the window", sql(bucket: "toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') - INTERVAL 2 HOUR"), "outside the queried window"),
        ("a column the mapping needs is missing", sql().replacingOccurrences(of: "AS requests", with: "AS request_count"), "requests"),
    ])
    func failsAtOnce(name: String, sql: String, mentions: String) throws {
        let s = try Self.seeded()
        let outcome = try Self.run(s, file: try Self.pipelineFile(sql: sql))
        #expect(outcome.summary.status == .failed, "\(name)")
        let error = try #require(outcome.summary.error)
        #expect(error.contains("pipeline case"), "\(error)")
        #expect(error.contains("case.sql"), "\(error)")
        #expect(error.contains(mentions), "\(error)")
        #expect(outcome.watermark == ns("2026-03-05T10:00:00Z"), "\(name): the watermark must not move")
        #expect(outcome.received.isEmpty, "\(name): nothing may be sent")
        #expect(outcome.lastRun?.status == .failed)
        #expect(outcome.lastRun?.error?.contains(mentions) == true)
    }

    @Test("a template that orders rows otherwise (or not at all) still exports every bucket once")
    func unorderedTemplate() throws {
        let s = try Self.seeded()
        let outcome = try Self.run(s, file: try Self.pipelineFile(sql: Self.sql(order: "ORDER BY bucket DESC")), temporality: "delta")
        #expect(outcome.summary.status == .ok, "\(outcome.summary.error ?? "")")
        #expect(outcome.watermark == ns("2026-03-05T11:03:00Z"))
        // Requests per provider and bucket, from the raw rows.
        var want: [String: Int64] = [:]
        for r in try s.rawRows() where r.createdAt < ns("2026-03-05T11:03:00Z") {
            want["\(r.provider)|\(r.createdAt / 60_000_000_000 * 60_000_000_000 + 60_000_000_000)", default: 0] += 1
        }
        var got: [String: Int64] = [:]
        for p in outcome.received {
            guard case .int(let v) = p.value else { continue }
            let key = "\(p.attributes["gen_ai.provider.name"] ?? "")|\(p.time)"
            #expect(got[key] == nil, "sent twice: \(key)")
            got[key] = v
        }
        #expect(got == want)
    }

    @Test("NaN in a double sum")
    func nan() throws {
        let s = try Self.seeded()
        let outcome = try Self.run(s, file: try Self.pipelineFile(sql: Self.sql(value: "if(count() > 0, nan, 0)"), valueType: "double"))
        #expect(outcome.summary.status == .failed)
        #expect(outcome.summary.error?.contains("not a finite number") == true)
        #expect(outcome.watermark == ns("2026-03-05T10:00:00Z"))
        #expect(outcome.received.isEmpty)
    }

    @Test("a failure in a later query keeps what earlier batches committed, and the next pass resumes there")
    func laterChunkFails() throws {
        let s = try Self.seeded()
        // Buckets from 10:40 on return a negative count; chunks are 30 buckets (10:00–10:30, 10:30–11:00, …).
        let failing = Self.sql(value: "if(bucket >= toDateTime('2026-03-05 10:40:00', 'UTC'), -1, toInt64(count()))")
        let file = try Self.pipelineFile(sql: failing)
        let outcome = try Self.run(s, file: file)
        #expect(outcome.summary.status == .failed)
        #expect(outcome.watermark == ns("2026-03-05T10:30:00Z"))
        #expect(!outcome.received.isEmpty)
        #expect(outcome.received.allSatisfy { $0.time <= ns("2026-03-05T10:30:00Z") })
        let sentBefore = outcome.received.count

        // Fixed query: the next pass starts at 10:30 and sends each later bucket once.
        try Self.sql().write(toFile: (file as NSString).deletingLastPathComponent + "/case.sql", atomically: true, encoding: .utf8)
        let fixed = try Self.run(s, file: file)
        #expect(fixed.summary.status == .ok)
        #expect(fixed.summary.watermarkBefore == ns("2026-03-05T10:30:00Z"))
        #expect(fixed.watermark == ns("2026-03-05T11:03:00Z"))
        let times = fixed.received.map(\.time)
        let perSeriesTime = Dictionary(grouping: fixed.received, by: { "\($0.seriesKey)|\($0.time)" })
        #expect(perSeriesTime.values.allSatisfy { $0.count == 1 }, "no bucket is sent twice")
        #expect(times.filter { $0 <= ns("2026-03-05T10:30:00Z") }.count == sentBefore)
    }

    @Test("configuration errors stop before anything runs", arguments: [
        ("metrics: []", "missing or empty 'metrics'"),
        ("    nonsense_key: 1", "unknown key 'nonsense_key'"),
    ])
    func configuration(extra: String, mentions: String) throws {
        let s = try Scenario()
        var yaml = try String(contentsOfFile: try Self.pipelineFile(sql: Self.sql()), encoding: .utf8)
        yaml = extra.hasPrefix("metrics") ? yaml.components(separatedBy: "    metrics:")[0] + "    " + extra + "\n" : yaml.replacingOccurrences(of: "    query: case.sql", with: "    query: case.sql\n" + extra)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try s.bridge(s.environment(startAt: "2026-03-05T10:00:00Z", extra: ["BRIDGE_CONFIG": path]), now: ns("2026-03-05T11:05:00Z"))
        } throws: { error in
            guard let e = error as? BridgeError else { return false }
            return e.code == .configuration && e.code.exitCode == 2 && e.description.contains(mentions) && e.description.contains(path)
        }
    }
}
