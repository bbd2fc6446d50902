import UTCTime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A row of the `otel_bridge.pipeline_status` view.
public struct PipelineStatus: Sendable, Equatable {
    public var pipeline: String
    public var watermark: UTCInstant
    /// How far the watermark is behind the database's `now()`.
    public var behind: Duration
    /// When the watermark last changed.
    public var updatedAt: UTCInstant
    public var lastSuccessAt: UTCInstant?
    public var lastError: String?
    public var lastErrorAt: UTCInstant?
    public var consecutiveFailures: Int
    /// Status of the most recent run (by start time), `nil` if it never ran.
    public var lastRunStatus: RunStatus?
    /// When the most recent run finished, `nil` if it is running or never ran.
    public var lastRunFinishedAt: UTCInstant?
    /// Whether some session holds the pipeline's advisory lock, that is, a pass is running now.
    public var locked: Bool
    /// Exported buckets found changed by late rows in the last 24 hours.
    public var lateBuckets24h: Int64
    /// Series aggregated into `otel.metric.overflow=true` (a metric at its cardinality limit) by
    /// the runs of the last 24 hours.
    public var seriesOverflowed24h: Int64
    /// Late rows of the last 24 hours (`late_data: fold`): series differences folded into the
    /// export, and those that could not be folded.
    public var lateFolded24h: Int64
    public var lateUnfolded24h: Int64
    /// Points not sent in the last 24 hours, the watermark passing their buckets (`otel_bridge.gaps`).
    public var pointsSkipped24h: Int64
    /// The start of the first failed run since the last successful one: how long the pipeline
    /// has been failing (`nil` when its last run did not fail).
    public var failingSince: UTCInstant?

    public init(
        pipeline: String, watermark: UTCInstant, behind: Duration, updatedAt: UTCInstant, lastSuccessAt: UTCInstant? = nil,
        lastError: String? = nil, lastErrorAt: UTCInstant? = nil, consecutiveFailures: Int = 0,
        lastRunStatus: RunStatus? = nil, lastRunFinishedAt: UTCInstant? = nil, locked: Bool = false,
        lateBuckets24h: Int64 = 0, seriesOverflowed24h: Int64 = 0, lateFolded24h: Int64 = 0, lateUnfolded24h: Int64 = 0, pointsSkipped24h: Int64 = 0, failingSince: UTCInstant? = nil
    ) {
        self.pipeline = pipeline
        self.watermark = watermark
        self.behind = behind
        self.updatedAt = updatedAt
        self.lastSuccessAt = lastSuccessAt
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.consecutiveFailures = consecutiveFailures
        self.lastRunStatus = lastRunStatus
        self.lastRunFinishedAt = lastRunFinishedAt
        self.locked = locked
        self.lateBuckets24h = lateBuckets24h
        self.seriesOverflowed24h = seriesOverflowed24h
        self.lateFolded24h = lateFolded24h
        self.lateUnfolded24h = lateUnfolded24h
        self.pointsSkipped24h = pointsSkipped24h
        self.failingSince = failingSince
    }
}
