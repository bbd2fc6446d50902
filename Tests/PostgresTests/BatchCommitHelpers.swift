import Foundation
@testable import Checkpoints
import UTCTime

extension CheckpointStore {
    /// A ``BatchCommit`` spelled out, for tests that check one field at a time.
    func commitBatch(
        pipeline: String, runID: Int64, newWatermark: Date, rowsRead: Int64, pointsExported: Int64, pointsRejected: Int64,
        rejectionMessage: String? = nil, series: [SeriesState], seriesOverflowed: Int = 0,
        bucketDigests: [(bucketStart: Date, digest: String)] = [], pruneDigestsBefore: Date? = nil, requireLock: Bool = false
    ) throws {
        var batch = BatchCommit(pipeline: pipeline, runID: runID, watermark: UTCInstant(newWatermark))
        batch.rowsRead = rowsRead
        batch.pointsExported = pointsExported
        batch.pointsRejected = pointsRejected
        batch.rejectionMessage = rejectionMessage
        batch.series = series
        batch.seriesOverflowed = seriesOverflowed
        batch.bucketDigests = bucketDigests.map { BucketDigestRecord(bucketStart: UTCInstant($0.bucketStart), digest: $0.digest) }
        batch.pruneDigestsBefore = pruneDigestsBefore.map(UTCInstant.init)
        batch.requireLock = requireLock
        try commit(batch)
    }
}
