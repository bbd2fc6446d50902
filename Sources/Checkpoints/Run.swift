import UTCTime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The status of a run in `otel_bridge.runs`.
public enum RunStatus: String, Sendable, Hashable, CaseIterable {
    /// A pass is in flight (or crashed: a `running` row whose pipeline is not locked).
    case running
    /// The pass finished and every batch it committed was acknowledged.
    case ok
    /// The pass failed; the watermark stays after the last committed batch.
    case failed
    /// Another process held the pipeline's lock; nothing was done.
    case skipped
}

/// A row of `otel_bridge.runs`: one pass of a pipeline.
public struct Run: Sendable, Equatable {
    public var id: Int64
    public var pipeline: String
    public var startedAt: UTCInstant
    public var finishedAt: UTCInstant?
    /// The watermark when the pass started.
    public var windowStart: UTCInstant?
    /// The watermark after the last committed batch.
    public var windowEnd: UTCInstant?
    public var status: RunStatus
    /// ClickHouse rows read by committed batches.
    public var rowsRead: Int64
    /// Data points acknowledged by the OTLP endpoint.
    public var pointsExported: Int64
    /// Batches committed.
    public var batchesAcknowledged: Int
    /// Data points the endpoint rejected in a partial success.
    public var pointsRejected: Int64
    /// The receiver's partial-success messages, if any.
    public var rejectionMessage: String?
    /// Exported buckets this pass found changed in ClickHouse (rows that arrived after export).
    public var lateBuckets: Int
    /// Series differences of late rows folded into this run's points (`late_data: fold`), and
    /// those that could not be folded.
    public var lateFolded: Int64
    public var lateUnfolded: Int64
    /// The error of a failed run, or why a run was skipped.
    public var error: String?
    /// The host (pod) that ran the pass.
    public var host: String?
    /// The process id that ran the pass.
    public var pid: Int?

    public init(
        id: Int64, pipeline: String, startedAt: UTCInstant, finishedAt: UTCInstant? = nil, windowStart: UTCInstant? = nil,
        windowEnd: UTCInstant? = nil, status: RunStatus, rowsRead: Int64 = 0, pointsExported: Int64 = 0,
        batchesAcknowledged: Int = 0, pointsRejected: Int64 = 0, rejectionMessage: String? = nil, lateBuckets: Int = 0, lateFolded: Int64 = 0, lateUnfolded: Int64 = 0, error: String? = nil, host: String? = nil,
        pid: Int? = nil
    ) {
        self.id = id
        self.pipeline = pipeline
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.status = status
        self.rowsRead = rowsRead
        self.pointsExported = pointsExported
        self.batchesAcknowledged = batchesAcknowledged
        self.pointsRejected = pointsRejected
        self.rejectionMessage = rejectionMessage
        self.lateBuckets = lateBuckets
        self.lateFolded = lateFolded
        self.lateUnfolded = lateUnfolded
        self.error = error
        self.host = host
        self.pid = pid
    }
}
