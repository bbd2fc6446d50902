import Foundation
import SwiftProtobuf

/// The reference encoder: maps a whole ``MetricBatch`` onto the generated swift-protobuf types
/// and serializes them. Simple and obviously correct; the pass writes its requests with
/// ``MetricRequestWriter`` instead, which the tests compare with this byte for byte.
public struct SwiftProtobufMetricsEncoder: Sendable {
    public init() {}

    /// The request body in `wireProtocol` (protobuf bytes or OTLP JSON).
    public func encode(_ batch: MetricBatch, as wireProtocol: OTLPExporterConfiguration.WireProtocol) throws -> [UInt8] {
        let request = batch.proto
        switch wireProtocol {
        case .httpProtobuf:
            return try request.serializedBytes()
        case .httpJSON:
            return OTLPJSON.hexIDs(try request.jsonUTF8Bytes(options: MetricRequestWriter.jsonOptions))
        }
    }
}

extension MetricBatch {
    /// The `ExportMetricsServiceRequest` for this batch: one ResourceMetrics, one ScopeMetrics.
    public var proto: Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest {
        var scopeMetrics = Opentelemetry_Proto_Metrics_V1_ScopeMetrics()
        scopeMetrics.scope.name = scope.name
        scopeMetrics.scope.version = scope.version
        scopeMetrics.metrics = metrics.map(\.proto)
        var resourceMetrics = Opentelemetry_Proto_Metrics_V1_ResourceMetrics()
        resourceMetrics.resource.attributes = resource.map(\.proto)
        resourceMetrics.scopeMetrics = [scopeMetrics]
        var request = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest()
        request.resourceMetrics = [resourceMetrics]
        return request
    }
}

extension Metric {
    var proto: Opentelemetry_Proto_Metrics_V1_Metric {
        var m = Opentelemetry_Proto_Metrics_V1_Metric()
        m.name = name
        m.description_p = description
        m.unit = unit
        switch data {
        case .sum(let isMonotonic, let temporality, let points):
            var sum = Opentelemetry_Proto_Metrics_V1_Sum()
            sum.isMonotonic = isMonotonic
            sum.aggregationTemporality = temporality.proto
            sum.dataPoints = points.map(\.proto)
            m.sum = sum
        case .gauge(let points):
            var gauge = Opentelemetry_Proto_Metrics_V1_Gauge()
            gauge.dataPoints = points.map(\.proto)
            m.gauge = gauge
        case .histogram(let temporality, let points):
            var histogram = Opentelemetry_Proto_Metrics_V1_Histogram()
            histogram.aggregationTemporality = temporality.proto
            histogram.dataPoints = points.map(\.proto)
            m.histogram = histogram
        case .summary(let points):
            var summary = Opentelemetry_Proto_Metrics_V1_Summary()
            summary.dataPoints = points.map(\.proto)
            m.summary = summary
        }
        return m
    }
}

extension AggregationTemporality {
    var proto: Opentelemetry_Proto_Metrics_V1_AggregationTemporality {
        switch self {
        case .delta: .delta
        case .cumulative: .cumulative
        }
    }
}

extension Attribute {
    var proto: Opentelemetry_Proto_Common_V1_KeyValue {
        var kv = Opentelemetry_Proto_Common_V1_KeyValue()
        kv.key = key
        switch value {
        case .string(let s): kv.value.stringValue = s
        case .int(let i): kv.value.intValue = i
        case .double(let d): kv.value.doubleValue = d
        case .bool(let b): kv.value.boolValue = b
        }
        return kv
    }
}

extension NumberPoint {
    var proto: Opentelemetry_Proto_Metrics_V1_NumberDataPoint {
        var p = Opentelemetry_Proto_Metrics_V1_NumberDataPoint()
        p.attributes = attributes.map(\.proto)
        p.startTimeUnixNano = startTimeUnixNano
        p.timeUnixNano = timeUnixNano
        switch value {
        case .int(let i): p.asInt = i
        case .double(let d): p.asDouble = d
        }
        p.exemplars = exemplars.map(\.proto)
        return p
    }
}

extension Exemplar {
    var proto: Opentelemetry_Proto_Metrics_V1_Exemplar {
        var e = Opentelemetry_Proto_Metrics_V1_Exemplar()
        e.timeUnixNano = timeUnixNano
        e.asDouble = value
        e.traceID = Data(traceID)
        e.spanID = Data(spanID)
        return e
    }
}

extension HistogramPoint {
    var proto: Opentelemetry_Proto_Metrics_V1_HistogramDataPoint {
        var p = Opentelemetry_Proto_Metrics_V1_HistogramDataPoint()
        p.attributes = attributes.map(\.proto)
        p.startTimeUnixNano = startTimeUnixNano
        p.timeUnixNano = timeUnixNano
        p.count = count
        if let sum { p.sum = sum }
        p.bucketCounts = bucketCounts
        p.explicitBounds = explicitBounds
        if let min { p.min = min }
        if let max { p.max = max }
        p.exemplars = exemplars.map(\.proto)
        return p
    }
}

extension SummaryPoint {
    var proto: Opentelemetry_Proto_Metrics_V1_SummaryDataPoint {
        var p = Opentelemetry_Proto_Metrics_V1_SummaryDataPoint()
        p.attributes = attributes.map(\.proto)
        p.startTimeUnixNano = startTimeUnixNano
        p.timeUnixNano = timeUnixNano
        p.count = count
        p.sum = sum
        p.quantileValues = quantiles.map {
            var q = Opentelemetry_Proto_Metrics_V1_SummaryDataPoint.ValueAtQuantile()
            q.quantile = $0.quantile
            q.value = $0.value
            return q
        }
        return p
    }
}
