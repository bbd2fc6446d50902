import ClickHouse
import Foundation
import PipelineConfig
import UTCTime

/// A half-open time range `[start, end)` in Unix nanoseconds.
public struct TimeWindow: Sendable, Equatable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public var description: String {
        "[\(UTCInstant(unixNanoseconds: start).iso8601), \(UTCInstant(unixNanoseconds: end).iso8601))"
    }
}

/// Which buckets a pass exports: the closed buckets `[t, t+step)` since the watermark, aligned to
/// the Unix epoch, where closed means `t + step <= now - lag`; split into query chunks of at most
/// `maxBucketsPerQuery` buckets so a long backlog never becomes one giant query.
public struct WindowPlanner: Sendable, Equatable {
    public var stepSeconds: Int64
    public var lagSeconds: Int64
    public var maxBucketsPerQuery: Int

    public init(stepSeconds: Int64, lagSeconds: Int64, maxBucketsPerQuery: Int) {
        precondition(stepSeconds > 0 && lagSeconds >= 0 && maxBucketsPerQuery > 0)
        self.stepSeconds = stepSeconds
        self.lagSeconds = lagSeconds
        self.maxBucketsPerQuery = maxBucketsPerQuery
    }

    package var step: Int64 { stepSeconds * 1_000_000_000 }

    /// `t` rounded down to a bucket boundary.
    public func alignDown(_ t: Int64) -> Int64 {
        let r = t % step
        return r >= 0 ? t - r : t - r - step
    }

    /// The first watermark of a pipeline without checkpoint: `start` aligned down.
    public func initialWatermark(_ start: Int64) -> Int64 { alignDown(start) }

    /// The end of the last closed bucket at `now`.
    public func closedUntil(now: Int64) -> Int64 {
        alignDown(now - lagSeconds * 1_000_000_000)
    }

    /// The query chunks of one pass from `watermark` until every closed bucket is covered. The
    /// watermark must be a bucket boundary (the bridge refuses one that is not, since rounding it
    /// down would export part of a bucket again); it is aligned down here only defensively.
    public func chunks(watermark: Int64, now: Int64) -> [TimeWindow] {
        let from = alignDown(watermark)
        let until = closedUntil(now: now)
        guard until > from else { return [] }
        var result: [TimeWindow] = []
        let span = step * Int64(maxBucketsPerQuery)
        var start = from
        while start < until {
            let end = min(start + span, until)
            result.append(TimeWindow(start: start, end: end))
            start = end
        }
        return result
    }

    /// Whether `t` is a bucket boundary.
    public func isAligned(_ t: Int64) -> Bool { t % step == 0 }
}

/// What a pass sends ClickHouse for a window: the template, wrapped to order its rows, and the
/// values of its placeholders.
package enum WindowQuery {
    /// The template wrapped so its rows come in bucket order whatever its own ORDER BY says: a row
    /// of an earlier bucket arriving after a later bucket was committed could not be exported any
    /// more. The template itself is sent unchanged inside the wrapper (no value is spliced).
    ///
    /// Within a bucket, rows come ordered by every attribute column too: which series of a metric
    /// past its cardinality limit keep their own attributes depends on the order they come in,
    /// and a batch sent again after a crash must be the same batch.
    package static func sql(for pipeline: PipelineConfiguration) -> String {
        var sql = Substring(pipeline.sql)
        while let last = sql.last, last.isWhitespace || last == ";" { sql.removeLast() }
        var columns = [pipeline.bucketColumn]
        for metric in pipeline.metrics { for c in metric.attributeColumns where !columns.contains(c) { columns.append(c) } }
        let keys = columns.map { "`" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`" }
        return "SELECT * FROM (\n\(sql)\n) ORDER BY \(keys.joined(separator: ", "))"
    }

    /// The values of `{window_start}`, `{window_end}`, `{step_seconds}` and `{metadata_keys}`, written for the type
    /// each placeholder declares, so a template chooses its types and the server's time zone
    /// plays no part; then the pipeline's own parameters.
    package static func parameters(for pipeline: PipelineConfiguration, window: TimeWindow) -> [(name: String, value: QueryParameter)] {
        var out: [(name: String, value: QueryParameter)] = []
        for p in pipeline.placeholders {
            switch p.name {
            case "window_start": out.append((p.name, time(window.start, type: p.type)))
            case "window_end": out.append((p.name, time(window.end, type: p.type)))
            case "step_seconds": out.append((p.name, .int(pipeline.stepSeconds)))
            case MetadataAttributes.placeholder: out.append((p.name, .array(pipeline.metadataAttributes.map { .string($0) })))
            default: break
            }
        }
        return out + pipeline.parameters
    }

    package static func time(_ ns: Int64, type: String) -> QueryParameter {
        let compact = type.replacingOccurrences(of: " ", with: "")
        let full = UTCInstant(unixNanoseconds: ns).clickHouseDateTime64  // YYYY-MM-DD hh:mm:ss.fffffffff
        if compact.hasPrefix("DateTime64(") {
            let digits = Int(compact.dropFirst("DateTime64(".count).prefix { $0.isNumber }) ?? 3
            return .string(digits == 0 ? String(full.prefix(19)) : String(full.prefix(20 + digits)))
        }
        if compact.hasPrefix("DateTime") { return .string(String(full.prefix(19))) }
        return .int(ns / 1_000_000_000)
    }
}
