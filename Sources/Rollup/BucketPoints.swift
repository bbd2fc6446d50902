import OTLP
import PipelineConfig

/// The OTLP shape of a pipeline's metrics, and one bucket's points in that shape.
package enum BucketPoints {
    /// One point in the OTLP model's types.
    package enum Point: Equatable {
        case number(NumberPoint)
        case histogram(HistogramPoint)
        case summary(SummaryPoint)
    }

    /// The OTLP point of an emitted value (the dry-run printer's, and tests').
    package static func point(of value: Observation, metric: MetricMapping, attributes: [Attribute], start: UInt64, end: UInt64,
                              exemplar: Exemplar? = nil) -> Point {
        let exemplars = exemplar.map { [$0] } ?? []
        switch value {
        case .int(let v):
            return .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .int(v), exemplars: exemplars))
        case .double(let v):
            return .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .double(v), exemplars: exemplars))
        case .histogram(let count, let sum, let min, let max, let buckets):
            return .histogram(HistogramPoint(
                attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                bucketCounts: buckets, explicitBounds: metric.histogramBounds, min: min, max: max, exemplars: exemplars))
        case .summary(let count, let sum, let quantiles):
            return .summary(SummaryPoint(
                attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                quantiles: zip(metric.summaryQuantiles, quantiles).map { SummaryPoint.Quantile(quantile: $0, value: $1) }))
        }
    }

    /// Each metric of `pipeline` with no points: name, description, unit, kind, temporality.
    package static func headers(of pipeline: PipelineConfiguration, temporality: AggregationTemporality) -> [Metric] {
        pipeline.metrics.map { mapping in
            let data: MetricData = switch mapping.kind {
            case .sum(let sum): .sum(isMonotonic: sum.monotonic, temporality: temporality, points: [])
            case .gauge: .gauge(points: [])
            case .histogram: .histogram(temporality: temporality, points: [])
            case .summary: .summary(points: [])
            }
            return Metric(name: mapping.name, description: mapping.description, unit: mapping.unit, data: data)
        }
    }

    /// `points` grouped by metric, in metric order, each group as its metric's data (the
    /// points built with their attributes: for the dry-run printer).
    package static func grouped(_ points: [EmittedPoint], series: SeriesTable, end: UInt64, pipeline: PipelineConfiguration,
                                headers: [Metric]) -> [(metric: Int, data: MetricData)] {
        var byMetric: [Int: [Point]] = [:]
        for p in points {
            let m = p.metric
            byMetric[m, default: []].append(point(
                of: p.value, metric: pipeline.metrics[m], attributes: series.attributes[p.series], start: p.start, end: end, exemplar: p.exemplar))
        }
        return byMetric.keys.sorted().map { index in
            let points = byMetric[index]!
            let data: MetricData = switch headers[index].data {
            case .sum(let m, let t, _): .sum(isMonotonic: m, temporality: t, points: points.compactMap { if case .number(let p) = $0 { p } else { nil } })
            case .gauge: .gauge(points: points.compactMap { if case .number(let p) = $0 { p } else { nil } })
            case .histogram(let t, _): .histogram(temporality: t, points: points.compactMap { if case .histogram(let p) = $0 { p } else { nil } })
            case .summary: .summary(points: points.compactMap { if case .summary(let p) = $0 { p } else { nil } })
            }
            return (index, data)
        }
    }

    /// `points` in metric order, each metric's in the order they came (a stable grouping).
    package static func inMetricOrder(_ points: [EmittedPoint]) -> [EmittedPoint] {
        var sorted = true
        var last = -1
        for p in points {
            if p.metric < last { sorted = false; break }
            last = p.metric
        }
        if sorted { return points }
        return points.enumerated().sorted { ($0.element.metric, $0.offset) < ($1.element.metric, $1.offset) }.map(\.element)
    }
}

/// One point of a bucket as a pass hands it to its sink: the series (its index in the pass's
/// ``SeriesTable``, where its attributes and their encoding are) and its metric, the point's
/// start time and its value (the bucket's own, or the running totals). Every point of a bucket
/// ends at the bucket's end.
package struct EmittedPoint {
    package let series: Int
    package let metric: Int
    package var start: UInt64
    package var value: Observation
    /// The bucket's own exemplar (under either temporality: never accumulated).
    package var exemplar: Exemplar?

    package init(series: Int, metric: Int, start: UInt64, value: Observation, exemplar: Exemplar? = nil) {
        self.series = series
        self.metric = metric
        self.start = start
        self.value = value
        self.exemplar = exemplar
    }
}

extension MetricRequestWriter {
    /// One bucket's points (in metric order, all ending at `end`), encoded once in parts of at
    /// most `budget` bytes. For http/protobuf each series' attributes are encoded on its first
    /// point of the pass (kept in the ``SeriesTable``) and copied into the others from there.
    package func encode(_ points: [EmittedPoint], series: SeriesTable, end: UInt64, pipeline: PipelineConfiguration, budget: Int) -> [EncodedPoints] {
        guard wireProtocol == .httpProtobuf else {
            // JSON goes through swift-protobuf's encoder point by point: the attributes as they are.
            return encode(BucketPoints.grouped(points, series: series, end: end, pipeline: pipeline, headers: BucketPoints.headers(of: pipeline, temporality: .delta)),
                          budget: budget)
        }
        var bucket = self.bucket(budget: budget)
        var bounds: [[Double]?] = Array(repeating: nil, count: pipeline.metrics.count)
        series.withEncodings(of: points, by: self) { encodings in
            // A number point is about 30 bytes and its attributes: room for a bucket of them.
            bucket.reserveCapacity(points.reduce(0) { $0 + 32 + encodings[$1.series].count })
            for k in points.indices {
                // Fields read in place: a whole copy of the point costs a value-witness call.
                let m = points[k].metric, p = (series: points[k].series, start: points[k].start, exemplar: points[k].exemplar)
                let attributes = encodings[p.series]
                switch points[k].value {
                case .int(let v):
                    bucket.number(metric: m, protobufAttributes: attributes, start: p.start, end: end, value: .int(v), exemplars: p.exemplar.map { [$0] } ?? [])
                case .double(let v):
                    bucket.number(metric: m, protobufAttributes: attributes, start: p.start, end: end, value: .double(v), exemplars: p.exemplar.map { [$0] } ?? [])
                case .histogram(let count, let sum, let min, let max, let buckets):
                    if bounds[m] == nil { bounds[m] = pipeline.metrics[m].histogramBounds }
                    bucket.histogram(metric: m, protobufAttributes: attributes, start: p.start, end: end, count: count, sum: sum,
                                     bucketCounts: buckets, explicitBounds: bounds[m]!, min: min, max: max, exemplars: p.exemplar.map { [$0] } ?? [])
                case .summary(let count, let sum, let quantiles):
                    bucket.summary(metric: m, protobufAttributes: attributes, start: p.start, end: end, count: count, sum: sum,
                                   quantiles: zip(pipeline.metrics[m].summaryQuantiles, quantiles).map { SummaryPoint.Quantile(quantile: $0, value: $1) })
                }
            }
        }
        return bucket.finish()
    }
}
