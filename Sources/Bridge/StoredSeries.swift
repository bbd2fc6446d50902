import Rollup
import Checkpoints
import Foundation
import UTCTime

/// The checkpoint store as the aggregator's source of cumulative state, for one pipeline.
struct StoredSeries: SeriesStateSource {
    let store: CheckpointStore
    let pipeline: String
    /// A dry run ignores state committed past the watermark it read (it holds no lock).
    let notAfter: Int64?

    func counts() throws -> [String: Int] {
        try store.seriesCounts(pipeline: pipeline, excluding: SeriesID.of(BucketReader.overflowKey))
    }

    func load(metric: String, ids: [String]) throws -> [SeriesState] {
        // A dry run holds no lock: a running pass may have logged newer states.
        visible(try store.loadSeries(pipeline: pipeline, metric: metric, ids: ids, withLog: notAfter != nil))
    }

    func ids(metric: String) throws -> Set<String> { try store.seriesIDs(pipeline: pipeline, metric: metric) }

    func all() throws -> [SeriesState]? { visible(try store.loadSeries(pipeline: pipeline)) }

    private func visible(_ states: [SeriesState]) -> [SeriesState] {
        guard let notAfter else { return states }
        return states.filter { $0.lastBucketEnd.unixNanoseconds <= notAfter }
    }
}
