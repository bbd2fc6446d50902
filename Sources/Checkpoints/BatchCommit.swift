import UTCTime

/// What one acknowledged batch commits, as one value: the watermark it moves to, the run's
/// counters, the cumulative series state as of its last bucket and the digests of its buckets.
/// ``CheckpointStore/commit(_:)`` writes all of it in one transaction.
public struct BatchCommit: Sendable, Equatable {
    public var pipeline: String
    public var runID: Int64
    /// The new watermark: the start of the first bucket not in the batch.
    public var watermark: UTCInstant
    /// A keyset pipeline's (GenAI traces) last exported row at `watermark`: stored in
    /// `checkpoints.watermark_id`; `nil` for the rollups.
    public var watermarkID: String?
    public var rowsRead: Int64 = 0
    public var pointsExported: Int64 = 0
    /// Points the receiver reported rejected in a partial success, and what it said.
    public var pointsRejected: Int64 = 0
    public var rejectionMessage: String?
    /// The series whose totals changed, as they are after the batch; others keep their rows.
    public var series: [SeriesState] = []
    /// Series aggregated into an overflow series in the batch's buckets.
    public var seriesOverflowed = 0
    /// The digest of every bucket the batch covers that is recent enough to be checked for late
    /// data, empty buckets included.
    public var bucketDigests: [BucketDigestRecord] = []
    /// Digests of buckets before this are no longer needed.
    public var pruneDigestsBefore: UTCInstant?
    /// Late rows found by the pass's late-data check (`late_data: fold`), counted in the run with
    /// the batch that carries them: changed buckets, series differences folded into the batch's
    /// points, and those that could not be folded.
    public var lateBuckets = 0
    public var lateFolded: Int64 = 0
    public var lateUnfolded: Int64 = 0
    /// Buckets the watermark passes without sending them (`max_point_age`), recorded with it.
    public var gap: GapRecord?
    /// Refuse unless this session holds the pipeline's advisory lock (see `docs/checkpoints.md`).
    public var requireLock = false

    public init(pipeline: String, runID: Int64, watermark: UTCInstant) {
        self.pipeline = pipeline
        self.runID = runID
        self.watermark = watermark
    }
}

/// A bucket's digest as stored in `otel_bridge.bucket_digests`, and with `late_data: fold` its
/// series' own values as exported (`Rollup.LateFold`'s encoding), the baseline late rows are
/// measured against.
public struct BucketDigestRecord: Sendable, Equatable {
    public var bucketStart: UTCInstant
    public var digest: String
    public var exported: String?

    public init(bucketStart: UTCInstant, digest: String, exported: String? = nil) {
        self.bucketStart = bucketStart
        self.digest = digest
        self.exported = exported
    }
}

/// Buckets the watermark passed without sending them, as `otel_bridge.gaps` shows them.
public struct GapRecord: Sendable, Equatable {
    public var pipeline: String
    /// The buckets `[rangeStart, rangeEnd)`.
    public var rangeStart: UTCInstant
    public var rangeEnd: UTCInstant
    public var buckets: Int64
    /// Result rows read for them and the points they would have been; `nil` when not read
    /// (`checkpoints rewind --skip-ahead`).
    public var rows: Int64?
    public var points: Int64?
    /// `max_point_age` or `skip-ahead`.
    public var reason: String
    /// What became of their values: `drop` or `fold` (into the first point sent).
    public var policy: String
    public var runID: Int64?
    public var recordedAt: UTCInstant?

    public init(pipeline: String, rangeStart: UTCInstant, rangeEnd: UTCInstant, buckets: Int64, rows: Int64?, points: Int64?,
                reason: String, policy: String, runID: Int64? = nil, recordedAt: UTCInstant? = nil) {
        self.pipeline = pipeline
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
        self.buckets = buckets
        self.rows = rows
        self.points = points
        self.reason = reason
        self.policy = policy
        self.runID = runID
        self.recordedAt = recordedAt
    }
}
