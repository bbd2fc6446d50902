import Foundation
import Testing
@testable import ClickHouse
@testable import OTLP
@testable import Rollup

/// Nanoseconds per second, for readable timestamps.
let second: Int64 = 1_000_000_000

/// 2026-11-29T10:00:00Z in Unix nanoseconds (a multiple of every step used in these tests).
let T: Int64 = 1_795_946_400 * second

/// The error `body` threw, or nil when it returned normally.
func captureError<R>(_ body: () throws(BridgeError) -> R) -> BridgeError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// The repository root (this file is Tests/RollupTests/TestSupport.swift).
let repositoryRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A window template that passes every check.
let validSQL = """
    SELECT toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket, count() AS n
    FROM generations
    WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
    GROUP BY bucket ORDER BY bucket
    """

/// Parses `yaml` as file `bridge.yaml`, reading templates from `queries` (as `queries/<name>`).
func parsePipelines(_ yaml: String, queries: [String: String] = [:]) throws(BridgeError) -> [PipelineConfiguration] {
    try PipelineFile.parse(yaml: yaml, file: "bridge.yaml") { path throws(BridgeError) in
        guard let sql = queries[path] ?? (queries.isEmpty ? validSQL : nil) else {
            throw BridgeError(.template, "no such query \(path)", file: "bridge.yaml", key: "query")
        }
        return ("queries/" + path, sql)
    }
}

/// Structural equality of metric kinds (the production enum is not Equatable).
extension MetricMapping.Kind: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case let (.sum(v1, t1, m1), .sum(v2, t2, m2)):
            return v1 == v2 && t1 == t2 && m1 == m2
        case let (.gauge(v1, t1), .gauge(v2, t2)):
            return v1 == v2 && t1 == t2
        case let (.histogram(b1, c1, s1, mn1, mx1, k1), .histogram(b2, c2, s2, mn2, mx2, k2)):
            return b1 == b2 && c1 == c2 && s1 == s2 && mn1 == mn2 && mx1 == mx2 && k1 == k2
        case let (.summary(q1, v1, c1, s1), .summary(q2, v2, c2, s2)):
            return q1 == q2 && v1 == v2 && c1 == c2 && s1 == s2
        default:
            return false
        }
    }
}
