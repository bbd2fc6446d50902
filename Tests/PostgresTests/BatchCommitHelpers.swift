@testable import Checkpoints
import UTCTime

extension CheckpointStore {
    /// A ``BatchCommit`` spelled out, for tests that check one field at a time.
    func commitBatch(
        pipeline: String, runID: Int64, newWatermark: UTCInstant, rowsRead: Int64, pointsExported: Int64, pointsRejected: Int64,
        rejectionMessage: String? = nil, series: [SeriesState], seriesOverflowed: Int = 0,
        bucketDigests: [(bucketStart: UTCInstant, digest: String)] = [], pruneDigestsBefore: UTCInstant? = nil, requireLock: Bool = false
    ) throws {
        var batch = BatchCommit(pipeline: pipeline, runID: runID, watermark: newWatermark)
        batch.rowsRead = rowsRead
        batch.pointsExported = pointsExported
        batch.pointsRejected = pointsRejected
        batch.rejectionMessage = rejectionMessage
        batch.series = series
        batch.seriesOverflowed = seriesOverflowed
        batch.bucketDigests = bucketDigests.map { BucketDigestRecord(bucketStart: $0.bucketStart, digest: $0.digest) }
        batch.pruneDigestsBefore = pruneDigestsBefore
        batch.requireLock = requireLock
        try commit(batch)
    }
}
