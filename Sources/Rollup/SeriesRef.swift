import Checkpoints

/// One series of one metric: the key of the cumulative state a pass loads, changes and commits.
package struct SeriesRef: Hashable {
    /// The metric's name.
    package var metric: String
    /// ``SeriesID/of(_:)`` of the series' canonical attribute key.
    package var id: String
    /// ``SeriesID/logKey(metric:seriesID:)`` of the two.
    package let logKey: SeriesLogKey

    package init(metric: String, id: String, logKey: SeriesLogKey? = nil) {
        self.metric = metric
        self.id = id
        self.logKey = logKey ?? SeriesID.logKey(metric: metric, seriesID: id)
    }

    /// The series of `seriesKey` (``SeriesAggregator/seriesKey(_:)``) in `metric`.
    package init(metric: String, seriesKey: String) {
        self.init(metric: metric, id: SeriesID.of(seriesKey))
    }

    /// The series a stored state belongs to.
    package init(_ state: SeriesState) {
        self.init(metric: state.metric, id: state.seriesID, logKey: state.logKey)
    }

    /// Hashed on the first 16 digits of the id (a SHA-256: they spread as well as all 64) and
    /// the metric's length; compared in full. A pass hashes a ref per changed series per bucket.
    package func hash(into hasher: inout Hasher) {
        var prefix: UInt64 = 0
        for byte in id.utf8.prefix(16) { prefix = prefix << 4 | UInt64(byte & 0x0F) ^ UInt64(byte >> 6) }
        hasher.combine(prefix)
        hasher.combine(metric.utf8.count)
    }

    package static func == (a: SeriesRef, b: SeriesRef) -> Bool { a.id == b.id && a.metric == b.metric }
}
