/// The bridge's own model of an OTLP metrics request: plain values that the rollup pipeline
/// produces and ``MetricRequestWriter`` turns into bytes. Keeping generated protobuf types out of
/// the pipeline is what lets a faster encoder replace the swift-protobuf one.
public struct MetricBatch: Sendable, Equatable {
    public var resource: [Attribute]
    public var scope: InstrumentationScope
    public var metrics: [Metric]

    public init(resource: [Attribute], scope: InstrumentationScope, metrics: [Metric]) {
        self.resource = resource
        self.scope = scope
        self.metrics = metrics
    }

    /// Data points in the batch (a histogram or summary point counts as one).
    public var pointCount: Int { metrics.reduce(0) { $0 + $1.data.pointCount } }
}

public struct InstrumentationScope: Sendable, Equatable {
    public var name: String
    public var version: String

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}

public struct Attribute: Sendable, Equatable, Hashable {
    public enum Value: Sendable, Equatable, Hashable {
        case string(String)
        case int(Int64)
        case double(Double)
        case bool(Bool)
    }

    public var key: String
    public var value: Value

    public init(_ key: String, _ value: Value) {
        self.key = key
        self.value = value
    }
}

public enum AggregationTemporality: String, Sendable, Equatable {
    case delta, cumulative
}

public struct Metric: Sendable, Equatable {
    public var name: String
    public var description: String
    public var unit: String
    public var data: MetricData

    public init(name: String, description: String, unit: String, data: MetricData) {
        self.name = name
        self.description = description
        self.unit = unit
        self.data = data
    }
}

public enum MetricData: Sendable, Equatable {
    case sum(isMonotonic: Bool, temporality: AggregationTemporality, points: [NumberPoint])
    case gauge(points: [NumberPoint])
    case histogram(temporality: AggregationTemporality, points: [HistogramPoint])
    case summary(points: [SummaryPoint])

    public var pointCount: Int {
        switch self {
        case .sum(_, _, let p), .gauge(let p): p.count
        case .histogram(_, let p): p.count
        case .summary(let p): p.count
        }
    }
}

public struct NumberPoint: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case int(Int64)
        case double(Double)
    }

    public var attributes: [Attribute]
    public var startTimeUnixNano: UInt64
    public var timeUnixNano: UInt64
    public var value: Value
    public var exemplars: [Exemplar]

    public init(attributes: [Attribute], startTimeUnixNano: UInt64, timeUnixNano: UInt64, value: Value, exemplars: [Exemplar] = []) {
        self.attributes = attributes
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.value = value
        self.exemplars = exemplars
    }
}

/// One measurement behind a point (OTLP `Exemplar`): a request's value, its time, and the ids of
/// its span, so a backend can lead from the point to the trace. No filtered attributes.
public struct Exemplar: Sendable, Equatable {
    public var timeUnixNano: UInt64
    public var value: Double
    /// 16 bytes, or empty.
    public var traceID: [UInt8]
    /// 8 bytes, or empty.
    public var spanID: [UInt8]

    public init(timeUnixNano: UInt64, value: Double, traceID: [UInt8], spanID: [UInt8]) {
        self.timeUnixNano = timeUnixNano
        self.value = value
        self.traceID = traceID
        self.spanID = spanID
    }
}

public struct HistogramPoint: Sendable, Equatable {
    public var attributes: [Attribute]
    public var startTimeUnixNano: UInt64
    public var timeUnixNano: UInt64
    public var count: UInt64
    public var sum: Double?
    /// One more count than bounds: bucket i holds values in (bounds[i-1], bounds[i]].
    public var bucketCounts: [UInt64]
    public var explicitBounds: [Double]
    public var min: Double?
    public var max: Double?
    public var exemplars: [Exemplar]

    public init(
        attributes: [Attribute], startTimeUnixNano: UInt64, timeUnixNano: UInt64, count: UInt64, sum: Double?,
        bucketCounts: [UInt64], explicitBounds: [Double], min: Double?, max: Double?, exemplars: [Exemplar] = []
    ) {
        self.exemplars = exemplars
        self.attributes = attributes
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.count = count
        self.sum = sum
        self.bucketCounts = bucketCounts
        self.explicitBounds = explicitBounds
        self.min = min
        self.max = max
    }
}

public struct SummaryPoint: Sendable, Equatable {
    public struct Quantile: Sendable, Equatable {
        public var quantile: Double
        public var value: Double
        public init(quantile: Double, value: Double) {
            self.quantile = quantile
            self.value = value
        }
    }

    public var attributes: [Attribute]
    public var startTimeUnixNano: UInt64
    public var timeUnixNano: UInt64
    public var count: UInt64
    public var sum: Double
    public var quantiles: [Quantile]

    public init(
        attributes: [Attribute], startTimeUnixNano: UInt64, timeUnixNano: UInt64, count: UInt64, sum: Double,
        quantiles: [Quantile]
    ) {
        self.attributes = attributes
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.count = count
        self.sum = sum
        self.quantiles = quantiles
    }
}
