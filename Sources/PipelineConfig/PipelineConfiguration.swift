import ClickHouse
import OTLP

/// One pipeline of `config/bridge.yaml`: a query template, its window, and the metrics mapped
/// from its result columns.
public struct PipelineConfiguration: Sendable {
    /// Unique name; the key of its checkpoint row.
    public var name: String
    public var enabled: Bool
    /// The query template's path as given in the YAML, and as resolved against the YAML's folder.
    public var queryPath: String
    public var queryFile: String
    public var sql: String
    /// `{name:Type}` placeholders found in the template.
    public var placeholders: [Placeholder]
    /// Bucket width in seconds (`step`, default 60 s).
    public var stepSeconds: Int64
    /// How long after a bucket's end it is still considered open (`lag`, default 120 s).
    public var lagSeconds: Int64
    /// The result column holding each row's bucket start (`bucket_column`, default `bucket`).
    public var bucketColumn: String
    /// At most this many buckets per query, so a backfill never runs one giant query.
    public var maxBucketsPerQuery: Int
    /// At most this many points per OTLP request (whole buckets stay together in a batch).
    public var maxPointsPerRequest: Int
    /// At most this many encoded bytes per OTLP request; a larger batch is split.
    public var maxRequestBytes: Int
    /// How far back (seconds) each pass queries exported buckets again to detect rows that
    /// arrived after their bucket was exported (`late_data_check`, default 0: off).
    public var lateDataCheckSeconds: Int64
    /// What a pass does with late rows it finds (`late_data`, default `fold`).
    public var lateData: LateDataPolicy = .fold
    /// Buckets whose end is older than this (seconds before now) when a batch is cut are not
    /// sent (`max_point_age`, or `BRIDGE_MAX_POINT_AGE`); `nil` when neither sets it, 0 off.
    public var maxPointAgeSeconds: Int64?
    /// What happens to the values of buckets too old to send (`too_old`, default `drop`).
    public var tooOld: TooOldPolicy = .drop
    /// A cumulative series idle this long (in bucket time) is forgotten: its state is deleted, and
    /// if it returns it restarts with a new start time (`series_expiry`, default 7 days).
    public var seriesExpirySeconds: Int64 = 7 * 86_400
    /// Extra query parameters from `parameters:` (bucket bounds, for example).
    public var parameters: [(name: String, value: QueryParameter)]
    /// Request metadata keys exported as `portkey.metadata.<key>` (`metadata_attributes`, or
    /// `BRIDGE_METADATA_ATTRIBUTES` for every pipeline; default none): the value of the template's
    /// `{metadata_keys:Array(String)}` (``MetadataAttributes``).
    public var metadataAttributes: [String] = []
    public var metrics: [MetricMapping]
    /// Where the pipeline starts in the YAML file.
    public var line: Int?

    /// A `{name:Type}` placeholder of a query template.
    public struct Placeholder: Sendable, Equatable {
        public var name: String
        public var type: String
    }
}

/// What a pass does with rows found in buckets it exported within `late_data_check`.
public enum LateDataPolicy: String, Sendable, CaseIterable {
    /// Their difference goes into each series' next exported point (totals equal the table).
    case fold
    /// They are reported (`late_buckets`), not exported.
    case report
}

/// What happens to the values of buckets older than `max_point_age`.
public enum TooOldPolicy: String, Sendable, CaseIterable {
    /// Not sent: cumulative series start again at the first point sent.
    case drop
    /// Not sent as points of their own: their values go into each series' first point sent.
    case fold
}

/// Which GenAI semantic conventions the export follows (`OTEL_SEMCONV_STABILITY_OPT_IN`): a metric
/// mapping may belong to one set (`semconv:` in the pipeline file), and only the mappings of the
/// chosen set, with those that name none, are loaded (`docs/semconv.md`).
public enum GenAIConventions: String, Sendable, CaseIterable {
    /// The GenAI conventions of semantic-conventions v1.41.1: the default.
    case v1_41_1 = "v1.41.1"
    /// open-telemetry/semantic-conventions-genai as of its migration guide from v1.41
    /// (`OTEL_SEMCONV_STABILITY_OPT_IN` containing `gen_ai_latest_experimental`).
    case latestExperimental = "gen_ai_latest_experimental"
}

/// How one metric is read from result columns (the Collector sqlquery receiver's vocabulary,
/// plus what histograms and summaries need).
public struct MetricMapping: Sendable {
    public enum ValueType: String, Sendable { case int, double }

    /// What kind of metric, and the result columns its value is read from.
    public enum Kind: Sendable, Equatable {
        case sum(Sum)
        case gauge(Gauge)
        case histogram(Histogram)
        case summary(Summary)
    }

    /// A Sum: one number per series (`data_type: sum`).
    public struct Sum: Sendable, Equatable {
        public var valueColumn: String
        public var valueType: ValueType
        /// A monotonic sum only grows; its values must not be negative (`monotonic`, default true).
        public var monotonic: Bool

        public init(valueColumn: String, valueType: ValueType, monotonic: Bool) {
            self.valueColumn = valueColumn
            self.valueType = valueType
            self.monotonic = monotonic
        }
    }

    /// A Gauge: one number per series (`data_type: gauge`).
    public struct Gauge: Sendable, Equatable {
        public var valueColumn: String
        public var valueType: ValueType

        public init(valueColumn: String, valueType: ValueType) {
            self.valueColumn = valueColumn
            self.valueType = valueType
        }
    }

    /// An explicit-bucket Histogram (`data_type: histogram`): the query computes count, sum,
    /// optionally min and max, and one count per bucket `(previous bound, bound]` plus overflow.
    public struct Histogram: Sendable, Equatable {
        /// `explicit_bounds`: finite and strictly increasing.
        public var bounds: [Double]
        public var countColumn: String
        public var sumColumn: String
        public var minColumn: String?
        public var maxColumn: String?
        /// An `Array` of integers with one more element than `bounds`.
        public var bucketCountsColumn: String

        public init(bounds: [Double], countColumn: String, sumColumn: String, minColumn: String?, maxColumn: String?,
                    bucketCountsColumn: String) {
            self.bounds = bounds
            self.countColumn = countColumn
            self.sumColumn = sumColumn
            self.minColumn = minColumn
            self.maxColumn = maxColumn
            self.bucketCountsColumn = bucketCountsColumn
        }
    }

    /// A Summary (`data_type: summary`): count, sum and the values at fixed quantile levels.
    public struct Summary: Sendable, Equatable {
        /// `quantiles`: the levels, each in [0, 1].
        public var quantiles: [Double]
        /// An `Array` of numbers, one per level (`quantilesExact(…)(x)`).
        public var quantileValuesColumn: String
        public var countColumn: String
        public var sumColumn: String

        public init(quantiles: [Double], quantileValuesColumn: String, countColumn: String, sumColumn: String) {
            self.quantiles = quantiles
            self.quantileValuesColumn = quantileValuesColumn
            self.countColumn = countColumn
            self.sumColumn = sumColumn
        }
    }

    public var name: String
    public var description: String
    public var unit: String
    /// Result columns that become attributes, named as the attribute keys; an empty string or
    /// NULL omits the attribute. A column of (key, value) pairs (`Array(Tuple(String, String))`
    /// or `Map(String, String)`) named `p` gives one attribute `p.<key>` per pair instead.
    public var attributeColumns: [String]
    /// Attributes added to every point.
    public var staticAttributes: [Attribute]
    public var kind: Kind
    /// At most this many distinct series (the OpenTelemetry SDK's cardinality limit, default
    /// 2000): the first `limit - 1` keep their attributes, the rest are aggregated into one series
    /// with the single attribute `otel.metric.overflow=true` (`cardinality_limit`).
    public var cardinalityLimit: Int = 2_000
    /// The result column of each point's exemplar (`exemplar_column`; sums, gauges and histograms):
    /// a `Tuple(time, trace_id, span_id, id, value)` of one request of the group, typically
    /// `argMax((created_at, trace_id, span_id, toString(id), x), (x, created_at, id))`. The point
    /// carries it with the trace and span ids the GenAI traces pipeline gives that row's span
    /// (`SpanIDs.of`). Without it (the default) points carry no exemplar.
    public var exemplarColumn: String?
    /// `row_filter`: the metric reads only the result rows whose listed string columns each hold
    /// one of the listed values (rows of one grouping set, or of some operations); empty: every row.
    public var rowFilter: [RowFilter] = []
    /// `semconv`: the GenAI conventions this mapping belongs to; `nil` (the default) for all.
    public var conventions: GenAIConventions?
    public var line: Int?

    /// One column of a ``MetricMapping/rowFilter`` and the values a row may hold in it.
    public struct RowFilter: Sendable, Equatable {
        public var column: String
        public var values: [String]

        public init(column: String, values: [String]) {
            self.column = column
            self.values = values
        }
    }

    /// Every result column this metric reads.
    public var columns: [String] {
        var list = attributeColumns + rowFilter.map(\.column)
        switch kind {
        case .sum(let sum): list.append(sum.valueColumn)
        case .gauge(let gauge): list.append(gauge.valueColumn)
        case .histogram(let h): list += [h.countColumn, h.sumColumn, h.bucketCountsColumn] + [h.minColumn, h.maxColumn].compactMap { $0 }
        case .summary(let s): list += [s.quantileValuesColumn, s.countColumn, s.sumColumn]
        }
        if let exemplarColumn { list.append(exemplarColumn) }
        return list
    }

    public var dataTypeName: String {
        switch kind {
        case .sum: "sum"
        case .gauge: "gauge"
        case .histogram: "histogram"
        case .summary: "summary"
        }
    }
}
