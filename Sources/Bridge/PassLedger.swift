import Checkpoints
import Foundation
import Rollup
import UTCTime

/// Where a pass keeps its books: the pipeline's lock, watermark, run record, cumulative series
/// state, commits and late-data digests. ``CheckpointLedger`` keeps them in the checkpoint store;
/// a dry run keeps none (``DryRunLedger``): it reads what is there and writes nothing. Every
/// method blocks; errors are the store's. `Sendable`: a pass's commits run on its worker thread
/// (``PassRunner``), never while the pass thread uses the same ledger.
protocol PassLedger: Sendable {
    /// Takes the pipeline's lock; false when another run holds it.
    func lock(pipeline: String) throws -> Bool
    func unlock(pipeline: String)
    func recordSkipped(pipeline: String, reason: String) throws
    /// The pipeline's watermark; a pipeline without checkpoint starts at `initial`.
    func watermark(pipeline: String, initial: UTCInstant) throws -> UTCInstant
    /// Opens the run record that commits count into.
    func startRun(pipeline: String, windowStart: UTCInstant) throws -> Int64
    func finishRun(_ runID: Int64, status: RunStatus, error: String?) throws
    /// Forgets cumulative series idle since before `idleBefore`; returns how many.
    func expireSeries(pipeline: String, idleBefore: UTCInstant) throws -> Int
    /// The stored cumulative state the pass starts from (at `watermark`).
    func series(pipeline: String, watermark: Int64) -> any SeriesStateSource
    /// Checks, before `batch` is sent, that the pass may still send (a lost store connection would
    /// also mean a lost lock), and begins the batch's commit: its books and series writes go to
    /// the store while the delivery is awaited, and ``commit(_:)`` of the batch as staged goes on
    /// from them. Nothing is committed before that commit; a stage whose writes cannot begin
    /// leaves the commit all the work. `holdFor`: how long the delivery may take before its first
    /// retry. Throws when the batch must not be sent.
    func stage(_ batch: BatchCommit, holdFor: Duration) throws
    /// Rolls back what ``stage(_:holdFor:)`` began (the delivery failed or waits to retry).
    func abandonStage()
    func commit(_ batch: BatchCommit) throws
    /// Brings the stored series state up to date with the pass's commits (a cumulative pass's
    /// last step; what it leaves, the next pass's first step does).
    func settleSeries(pipeline: String) throws
    func bucketDigests(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: String]
    func recordLateBuckets(pipeline: String, runID: Int64, digests: [BucketDigestRecord]) throws
    /// The stored records of the buckets in `[from, to)` with their exported values (`late_data: fold`).
    func exportedBuckets(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: BucketDigestRecord]
}

extension PassLedger {
    /// Books that write nothing ahead: the commit does all of it.
    func abandonStage() {}
    func settleSeries(pipeline: String) throws {}
}

/// The books in the checkpoint store, under the pipeline's advisory lock.
struct CheckpointLedger: PassLedger {
    let store: CheckpointStore

    func lock(pipeline: String) throws -> Bool { try store.tryLock(pipeline: pipeline) }
    func unlock(pipeline: String) { _ = try? store.unlock(pipeline: pipeline) }
    func recordSkipped(pipeline: String, reason: String) throws { _ = try store.recordSkippedRun(pipeline: pipeline, reason: reason) }

    func watermark(pipeline: String, initial: UTCInstant) throws -> UTCInstant {
        try store.ensureCheckpoint(pipeline: pipeline, initialWatermark: initial).watermark
    }

    func startRun(pipeline: String, windowStart: UTCInstant) throws -> Int64 {
        try store.startRun(pipeline: pipeline, windowStart: windowStart)
    }

    func finishRun(_ runID: Int64, status: RunStatus, error: String?) throws {
        try store.finishRun(runID: runID, status: status, error: error)
    }

    func expireSeries(pipeline: String, idleBefore: UTCInstant) throws -> Int {
        try store.expireSeries(pipeline: pipeline, idleBefore: idleBefore)
    }

    func series(pipeline: String, watermark: Int64) -> any SeriesStateSource {
        StoredSeries(store: store, pipeline: pipeline, notAfter: nil)
    }

    /// The connection is alive and its session still holds the pipeline's lock; the commit begun.
    func stage(_ batch: BatchCommit, holdFor: Duration) throws { try store.stage(batch, holdFor: holdFor) }
    func abandonStage() { store.abandonStage() }
    func commit(_ batch: BatchCommit) throws { try store.commit(batch) }
    func settleSeries(pipeline: String) throws { try store.settleSeries(pipeline: pipeline) }

    func bucketDigests(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: String] {
        try store.bucketDigests(pipeline: pipeline, from: from, to: to)
    }

    func recordLateBuckets(pipeline: String, runID: Int64, digests: [BucketDigestRecord]) throws {
        try store.recordLateBuckets(pipeline: pipeline, runID: runID, digests: digests)
    }

    func exportedBuckets(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: BucketDigestRecord] {
        try store.exportedBuckets(pipeline: pipeline, from: from, to: to)
    }
}

/// A dry run's books: it reads the watermark and the series state and writes nothing, takes no
/// lock and keeps no run record.
struct DryRunLedger: PassLedger {
    let store: CheckpointStore

    func lock(pipeline: String) throws -> Bool { true }
    func unlock(pipeline: String) {}
    func recordSkipped(pipeline: String, reason: String) throws {}

    func watermark(pipeline: String, initial: UTCInstant) throws -> UTCInstant {
        try store.checkpoint(pipeline: pipeline)?.watermark ?? initial
    }

    func startRun(pipeline: String, windowStart: UTCInstant) throws -> Int64 { 0 }
    func finishRun(_ runID: Int64, status: RunStatus, error: String?) throws {}
    func expireSeries(pipeline: String, idleBefore: UTCInstant) throws -> Int { 0 }

    func series(pipeline: String, watermark: Int64) -> any SeriesStateSource {
        // No lock: a pass may have committed since the watermark was read; state past it is
        // not the one this dry run starts from.
        StoredSeries(store: store, pipeline: pipeline, notAfter: watermark)
    }

    func stage(_ batch: BatchCommit, holdFor: Duration) throws {}
    func commit(_ batch: BatchCommit) throws {}
    // The stored digests and exported values are read, so that a dry run prints the late rows a
    // run would fold (and reports what it would report); nothing is recorded.
    func bucketDigests(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: String] {
        try store.bucketDigests(pipeline: pipeline, from: from, to: to)
    }
    func recordLateBuckets(pipeline: String, runID: Int64, digests: [BucketDigestRecord]) throws {}
    func exportedBuckets(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: BucketDigestRecord] {
        try store.exportedBuckets(pipeline: pipeline, from: from, to: to)
    }
}
