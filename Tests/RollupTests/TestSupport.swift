import Foundation
import Testing
@testable import ClickHouse
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup

/// Nanoseconds per second, for readable timestamps.
let second: Int64 = 1_000_000_000

/// 2026-11-29T10:00:00Z in Unix nanoseconds (a multiple of every step used in these tests).
let T: Int64 = 1_795_946_400 * second

/// The error `body` threw, or nil when it returned normally.
func captureError<E: Error, R>(_ body: () throws(E) -> R) -> E? {
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
func parsePipelines(_ yaml: String, queries: [String: String] = [:]) throws(PipelineConfigError) -> [PipelineConfiguration] {
    try PipelineFile.parse(yaml: yaml, file: "bridge.yaml") { path throws(PipelineConfigError) in
        guard let sql = queries[path] ?? (queries.isEmpty ? validSQL : nil) else {
            throw PipelineConfigError(.template, "no such query \(path)", file: "bridge.yaml", key: "query")
        }
        return ("queries/" + path, sql)
    }
}
