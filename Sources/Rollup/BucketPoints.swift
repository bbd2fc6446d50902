import OTLP
import PipelineConfig

/// The OTLP shape of a pipeline's metrics, and one bucket's points in that shape.
package enum BucketPoints {
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

    /// `points` (in the order they were aggregated) grouped by metric, in metric order, each
    /// group as its metric's data.
    package static func grouped(_ points: [(metric: Int, point: SeriesAggregator.Point)], headers: [Metric]) -> [(metric: Int, data: MetricData)] {
        var byMetric: [Int: [SeriesAggregator.Point]] = [:]
        for (metric, point) in points { byMetric[metric, default: []].append(point) }
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
}
