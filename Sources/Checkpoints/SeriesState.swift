import UTCTime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The cumulative running totals of one series of a pipeline's metric, a row of
/// `otel_bridge.series_state`. Which fields are set depends on the metric type: a Sum has
/// `intTotal` or `doubleTotal`; a Histogram has `count`, `sum` and `bucketCounts`; a Summary has
/// `count` and `sum`.
public struct SeriesState: Sendable, Equatable {
    /// Which series a state is of: one object per series, shared by all its states (a state is
    /// copied from the aggregator to the batch, the stage and the commit's memory: one reference
    /// per copy, not two strings).
    public final class Identity: Sendable, Hashable {
        /// The metric name, such as `portkey.requests`.
        public let metric: String
        /// The series' identity within the metric: ``SeriesID/of(_:)`` of the caller's canonical
        /// key of its attributes (64 hex digits, whatever the attribute values are).
        public let seriesID: String
        /// ``SeriesID/logKey(metric:seriesID:)``: the series in `series_log` (`series_state.log_key`).
        public let logKey: SeriesLogKey

        /// `logKey`: given by a caller that derived it once per series (or read it back); else computed.
        public init(metric: String, seriesID: String, logKey: SeriesLogKey? = nil) {
            self.metric = metric
            self.seriesID = seriesID
            self.logKey = logKey ?? SeriesID.logKey(metric: metric, seriesID: seriesID)
        }

        /// A series by ``SeriesID/of(_:)`` of its canonical key.
        public convenience init(metric: String, seriesKey: String) {
            self.init(metric: metric, seriesID: SeriesID.of(seriesKey))
        }

        public static func == (a: Identity, b: Identity) -> Bool {
            a === b || (a.logKey == b.logKey && a.metric == b.metric && a.seriesID == b.seriesID)
        }

        /// By the log key: 128 bits of SHA-256 of the metric and the id.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(logKey)
        }
    }

    public let identity: Identity
    /// The metric name, such as `portkey.requests`.
    public var metric: String { identity.metric }
    /// The series' identity within the metric (``Identity/seriesID``).
    public var seriesID: String { identity.seriesID }
    /// The series in `series_log` (``Identity/logKey``).
    public var logKey: SeriesLogKey { identity.logKey }
    /// The series' attributes as a JSON object, for operators reading the table (stored as
    /// `jsonb`; values are shown escaped and shortened, so any value can be stored: the
    /// identity is ``seriesID``). Empty in a state that updates a row already stored: the
    /// attributes of a stored series never change.
    public var attributesJSON: String
    /// Start of the first bucket in which the series appeared: its `start_time_unix_nano`.
    public var startTime: UTCInstant
    /// End of the last bucket folded into the totals.
    public var lastBucketEnd: UTCInstant
    /// Running total of an integer Sum.
    public var intTotal: Int64?
    /// Running total of a double Sum.
    public var doubleTotal: Double?
    /// Running count of a Histogram or Summary.
    public var count: Int64?
    /// Running sum of a Histogram or Summary.
    public var sum: Double?
    /// Running per-bucket counts of a Histogram.
    public var bucketCounts: [Int64]?

    public init(
        metric: String, seriesID: String, attributesJSON: String, startTime: UTCInstant, lastBucketEnd: UTCInstant,
        intTotal: Int64? = nil, doubleTotal: Double? = nil, count: Int64? = nil, sum: Double? = nil,
        bucketCounts: [Int64]? = nil, logKey: SeriesLogKey? = nil
    ) {
        self.init(identity: Identity(metric: metric, seriesID: seriesID, logKey: logKey), attributesJSON: attributesJSON,
                  startTime: startTime, lastBucketEnd: lastBucketEnd, intTotal: intTotal, doubleTotal: doubleTotal, count: count,
                  sum: sum, bucketCounts: bucketCounts)
    }

    /// A state of the series `identity` names.
    public init(
        identity: Identity, attributesJSON: String, startTime: UTCInstant, lastBucketEnd: UTCInstant,
        intTotal: Int64? = nil, doubleTotal: Double? = nil, count: Int64? = nil, sum: Double? = nil, bucketCounts: [Int64]? = nil
    ) {
        self.identity = identity
        self.attributesJSON = attributesJSON
        self.startTime = startTime
        self.lastBucketEnd = lastBucketEnd
        self.intTotal = intTotal
        self.doubleTotal = doubleTotal
        self.count = count
        self.sum = sum
        self.bucketCounts = bucketCounts
    }
}
