import Rollup

/// What one pass of one pipeline did.
public struct PassSummary: Sendable, Equatable {
    public var pipeline: String
    public var status: Status
    /// The watermark before and after the pass.
    public var watermarkBefore: Int64
    public var watermarkAfter: Int64
    public var rowsRead: Int64 = 0
    public var pointsExported: Int64 = 0
    public var pointsRejected: Int64 = 0
    public var batches = 0
    public var queries = 0
    /// Result rows merged into a series that already had a row in their bucket.
    public var mergedRows = 0
    /// Distinct series aggregated into `otel.metric.overflow=true`, by metric (summed over buckets).
    public var seriesOverflowed: [String: Int] = [:]
    /// Exported buckets found changed by late rows (with `late_data_check`).
    public var lateBuckets = 0
    /// Late series differences folded into this pass's points (`late_data: fold`), and those
    /// that could not be folded.
    public var lateFolded = 0
    public var lateUnfolded = 0
    /// Points not sent because their buckets were older than `max_point_age` (a gap recorded).
    public var pointsSkipped: Int64 = 0
    /// What went wrong (redacted, one line), and its kind.
    public var error: String?
    public var errorCode: BridgeError.Code?

    public enum Status: String, Sendable { case ok, failed, skipped }

    package init(pipeline: String, status: Status, watermarkBefore: Int64, watermarkAfter: Int64) {
        self.pipeline = pipeline
        self.status = status
        self.watermarkBefore = watermarkBefore
        self.watermarkAfter = watermarkAfter
    }
}
