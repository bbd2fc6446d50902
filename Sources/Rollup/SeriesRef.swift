import Checkpoints

/// One series of one metric: the key of the cumulative state a pass loads, changes and commits.
package struct SeriesRef: Hashable, Comparable {
    /// The metric's name.
    package var metric: String
    /// ``SeriesID/of(_:)`` of the series' canonical attribute key.
    package var id: String

    package init(metric: String, id: String) {
        self.metric = metric
        self.id = id
    }

    /// The series of `seriesKey` (``SeriesAggregator/seriesKey(_:)``) in `metric`.
    package init(metric: String, seriesKey: String) {
        self.init(metric: metric, id: SeriesID.of(seriesKey))
    }

    /// The series a stored state belongs to.
    package init(_ state: SeriesState) {
        self.init(metric: state.metric, id: state.seriesID)
    }

    /// By metric, then id: the order in which changed states are committed.
    package static func < (a: SeriesRef, b: SeriesRef) -> Bool {
        (a.metric, a.id) < (b.metric, b.id)
    }
}
