import Rollup
import CurlHTTP
import OTLP
import PipelineConfig
import UTCTime

/// Where a pass delivers its batches: the OTLP exporter, or the dry-run printer.
protocol PointSink {
    /// The requests `batch` becomes: one, or several when it would exceed the byte limit. The pass
    /// splits a batch of several buckets on bucket boundaries instead (so every part can commit);
    /// only a single bucket too large for one request is sent as several.
    func encode(_ batch: MetricBatch, pipeline: PipelineConfiguration) throws(BridgeError) -> [PreparedRequest]
    /// Sends the requests; returns once every one is acknowledged (or throws).
    func send(_ requests: [PreparedRequest], pipeline: PipelineConfiguration) throws(BridgeError) -> ExportAcknowledgement
}

/// An encoded request body (and, for the printer, the batch it came from).
struct PreparedRequest {
    var body: [UInt8]
    var batch: MetricBatch?
}

/// Encodes batches and exports them, splitting any request that would exceed the pipeline's
/// byte limit (the point limit is applied when batches are formed).
final class OTLPSink: PointSink {
    let exporter: OTLPHTTPExporter
    let encoder: any MetricsEncoder

    init(exporter: OTLPHTTPExporter, encoder: any MetricsEncoder = SwiftProtobufMetricsEncoder()) {
        self.exporter = exporter
        self.encoder = encoder
    }

    func encode(_ batch: MetricBatch, pipeline: PipelineConfiguration) throws(BridgeError) -> [PreparedRequest] {
        try encodeWithinLimit(batch, limit: pipeline.maxRequestBytes, pipeline: pipeline.name).map { PreparedRequest(body: $0) }
    }

    func send(_ requests: [PreparedRequest], pipeline: PipelineConfiguration) throws(BridgeError) -> ExportAcknowledgement {
        var total = ExportAcknowledgement(rejected: 0, message: nil, attempts: 0)
        for request in requests {
            do {
                let ack = try exporter.export(body: request.body)
                total.rejected += ack.rejected
                total.attempts += ack.attempts
                if let m = ack.message { total.message = total.message.map { $0 + "; " + m } ?? m }
            } catch {
                throw BridgeError(.export, error.description, pipeline: pipeline.name, underlying: error)
            }
        }
        return total
    }

    /// Encodes `batch`, halving it until each part fits in `limit` bytes (a single point that
    /// does not fit is sent alone: the receiver decides).
    func encodeWithinLimit(_ batch: MetricBatch, limit: Int, pipeline: String) throws(BridgeError) -> [[UInt8]] {
        let body: [UInt8]
        do {
            body = try encoder.encode(batch, as: exporter.configuration.wireProtocol)
        } catch {
            throw BridgeError(.export, "cannot encode the batch: \(error)", pipeline: pipeline, underlying: error)
        }
        guard body.count > limit, batch.pointCount > 1 else { return [body] }
        let (a, b) = batch.halves()
        return try encodeWithinLimit(a, limit: limit, pipeline: pipeline) + encodeWithinLimit(b, limit: limit, pipeline: pipeline)
    }
}

extension MetricBatch {
    /// Two batches with about half the points each (points keep their order).
    func halves() -> (MetricBatch, MetricBatch) {
        let half = pointCount / 2
        var first = MetricBatch(resource: resource, scope: scope, metrics: [])
        var second = first
        var seen = 0
        for metric in metrics {
            let n = metric.data.pointCount
            if seen + n <= half {
                first.metrics.append(metric)
            } else if seen >= half {
                second.metrics.append(metric)
            } else {
                let (a, b) = metric.split(at: half - seen)
                first.metrics.append(a)
                second.metrics.append(b)
            }
            seen += n
        }
        return (first, second)
    }
}

extension Metric {
    func split(at k: Int) -> (Metric, Metric) {
        var a = self, b = self
        switch data {
        case .sum(let m, let t, let p):
            a.data = .sum(isMonotonic: m, temporality: t, points: Array(p[..<k]))
            b.data = .sum(isMonotonic: m, temporality: t, points: Array(p[k...]))
        case .gauge(let p):
            a.data = .gauge(points: Array(p[..<k]))
            b.data = .gauge(points: Array(p[k...]))
        case .histogram(let t, let p):
            a.data = .histogram(temporality: t, points: Array(p[..<k]))
            b.data = .histogram(temporality: t, points: Array(p[k...]))
        case .summary(let p):
            a.data = .summary(points: Array(p[..<k]))
            b.data = .summary(points: Array(p[k...]))
        }
        return (a, b)
    }
}

/// `--dry-run`: prints each point as a line (bucket end, metric, attributes, value) and
/// acknowledges nothing to anyone.
final class PrintingSink: PointSink {
    let write: (String) -> Void

    init(write: @escaping (String) -> Void) { self.write = write }

    func encode(_ batch: MetricBatch, pipeline: PipelineConfiguration) throws(BridgeError) -> [PreparedRequest] {
        [PreparedRequest(body: [], batch: batch)]
    }

    func send(_ requests: [PreparedRequest], pipeline: PipelineConfiguration) throws(BridgeError) -> ExportAcknowledgement {
        for metric in requests.compactMap(\.batch).flatMap(\.metrics) {
            for line in Self.lines(metric) { write(line) }
        }
        return ExportAcknowledgement()
    }

    static func lines(_ metric: Metric) -> [String] {
        func attrs(_ a: [Attribute]) -> String {
            "{" + a.map { a in
                switch a.value {
                case .string(let s): "\(a.key)=\(LogSafe.text(s))"
                case .int(let i): "\(a.key)=\(i)"
                case .double(let d): "\(a.key)=\(d)"
                case .bool(let b): "\(a.key)=\(b)"
                }
            }.joined(separator: ", ") + "}"
        }
        func window(_ start: UInt64, _ end: UInt64) -> String {
            "\(UTCInstant(unixNanoseconds: Int64(start)).iso8601)..\(UTCInstant(unixNanoseconds: Int64(end)).iso8601)"
        }
        switch metric.data {
        case .sum(_, _, let points), .gauge(let points):
            return points.map { p in
                let v: String = switch p.value { case .int(let i): String(i); case .double(let d): String(d) }
                return "\(window(p.startTimeUnixNano, p.timeUnixNano))  \(metric.name)  \(attrs(p.attributes))  \(v)"
            }
        case .histogram(_, let points):
            return points.map { p in
                "\(window(p.startTimeUnixNano, p.timeUnixNano))  \(metric.name)  \(attrs(p.attributes))  count=\(p.count) sum=\(p.sum ?? 0) min=\(p.min.map { String($0) } ?? "-") max=\(p.max.map { String($0) } ?? "-") buckets=\(p.bucketCounts)"
            }
        case .summary(let points):
            return points.map { p in
                "\(window(p.startTimeUnixNano, p.timeUnixNano))  \(metric.name)  \(attrs(p.attributes))  count=\(p.count) sum=\(p.sum) " + p.quantiles.map { "q\($0.quantile)=\($0.value)" }.joined(separator: " ")
            }
        }
    }
}
