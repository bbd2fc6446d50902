import Rollup
import CurlHTTP
import OTLP
import PipelineConfig
import UTCTime

/// Where a pass delivers its batches: the OTLP exporter, or the dry-run printer. A sink is made
/// for one pipeline (it knows its metrics). `Sendable`: the pass's worker thread sends while the
/// pass thread encodes the next buckets (``PassRunner``).
protocol PointSink: Sendable {
    /// Bytes a request adds around its points: a pass cuts its batches to `max_request_bytes`
    /// less this.
    var requestOverhead: Int { get }
    /// One bucket's points (in metric order, all ending at `end`), encoded once, in parts of at
    /// most `budget` bytes (one part unless the bucket is larger than a request).
    func encode(_ points: [EmittedPoint], series: SeriesTable, end: UInt64, budget: Int) throws(BridgeError) -> [EncodedPoints]
    /// Sends the requests in order; returns once every one is acknowledged (or throws). Calls
    /// `willRetry` before each wait for a retry.
    func send(_ requests: [[EncodedPoints]], willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement
    /// How long one attempt at a request may take.
    var attemptTimeout: Duration { get }
}

/// Writes requests with a ``MetricRequestWriter`` and exports them.
final class OTLPSink: PointSink {
    let exporter: OTLPHTTPExporter
    let writer: MetricRequestWriter
    let pipeline: PipelineConfiguration

    init(exporter: OTLPHTTPExporter, writer: MetricRequestWriter, pipeline: PipelineConfiguration) {
        self.exporter = exporter
        self.writer = writer
        self.pipeline = pipeline
    }

    var requestOverhead: Int { writer.overhead }

    func encode(_ points: [EmittedPoint], series: SeriesTable, end: UInt64, budget: Int) throws(BridgeError) -> [EncodedPoints] {
        writer.encode(points, series: series, end: end, pipeline: pipeline, budget: budget)
    }

    var attemptTimeout: Duration { exporter.configuration.timeout }

    func send(_ requests: [[EncodedPoints]], willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement {
        var total = ExportAcknowledgement(rejected: 0, message: nil, attempts: 0)
        for request in requests {
            do {
                let ack = try exporter.export(body: writer.assemble(request), willRetry: willRetry)
                total.rejected += ack.rejected
                total.attempts += ack.attempts
                if let m = ack.message { total.message = total.message.map { $0 + "; " + m } ?? m }
            } catch {
                throw BridgeError(.export, error.description, pipeline: pipeline.name, underlying: error)
            }
        }
        return total
    }
}

/// `--dry-run`: prints each point as a line (bucket end, metric, attributes, value) and
/// acknowledges nothing to anyone.
final class PrintingSink: PointSink {
    let write: @Sendable (String) -> Void
    /// The pipeline's metrics (names, kinds).
    let metrics: [Metric]
    /// The pipeline whose points it prints (histogram bounds, summary quantiles).
    let pipeline: PipelineConfiguration?

    init(metrics: [Metric], pipeline: PipelineConfiguration? = nil, write: @escaping @Sendable (String) -> Void) {
        self.metrics = metrics
        self.pipeline = pipeline
        self.write = write
    }

    var requestOverhead: Int { 0 }

    func encode(_ points: [EmittedPoint], series: SeriesTable, end: UInt64, budget: Int) throws(BridgeError) -> [EncodedPoints] {
        guard let pipeline else { preconditionFailure("a PrintingSink for points needs its pipeline") }
        return try encode(BucketPoints.grouped(points, series: series, end: end, pipeline: pipeline, headers: metrics), budget: budget)
    }

    /// Each point's line, "encoded" as text: the printer has no byte limit, so one part.
    func encode(_ points: [(metric: Int, data: MetricData)], budget: Int) throws(BridgeError) -> [EncodedPoints] {
        var part = EncodedPoints()
        for (index, data) in points.sorted(by: { $0.metric < $1.metric }) {
            var metric = metrics[index]
            metric.data = data
            let lines = Self.lines(metric)
            part.slots.append(EncodedPoints.Slot(metric: index, bytes: Array(lines.map { $0 + "\n" }.joined().utf8), pointCount: lines.count))
            part.pointCount += lines.count
        }
        return part.pointCount > 0 ? [part] : []
    }

    var attemptTimeout: Duration { .zero }

    /// Prints each metric's lines together, in the pipeline's order, as one request would hold them.
    func send(_ requests: [[EncodedPoints]], willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement {
        for request in requests {
            for (_, slots) in Dictionary(grouping: request.flatMap(\.slots), by: \.metric).sorted(by: { $0.key < $1.key }) {
                for slot in slots {
                    for line in String(decoding: slot.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
                        write(String(line))
                    }
                }
            }
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
        /// `  exemplar=<value>@<time> trace=<hex> span=<hex>` per exemplar; nothing without.
        func exemplars(_ es: [Exemplar]) -> String {
            es.map { "  exemplar=\($0.value)@\(UTCInstant(unixNanoseconds: Int64(clamping: $0.timeUnixNano)).iso8601) trace=\(hexString($0.traceID)) span=\(hexString($0.spanID))" }.joined()
        }
        switch metric.data {
        case .sum(_, _, let points), .gauge(let points):
            return points.map { p in
                let v: String = switch p.value { case .int(let i): String(i); case .double(let d): String(d) }
                return "\(window(p.startTimeUnixNano, p.timeUnixNano))  \(metric.name)  \(attrs(p.attributes))  \(v)" + exemplars(p.exemplars)
            }
        case .histogram(_, let points):
            return points.map { p in
                "\(window(p.startTimeUnixNano, p.timeUnixNano))  \(metric.name)  \(attrs(p.attributes))  count=\(p.count) sum=\(p.sum ?? 0) min=\(p.min.map { String($0) } ?? "-") max=\(p.max.map { String($0) } ?? "-") buckets=\(p.bucketCounts)" + exemplars(p.exemplars)
            }
        case .summary(let points):
            return points.map { p in
                "\(window(p.startTimeUnixNano, p.timeUnixNano))  \(metric.name)  \(attrs(p.attributes))  count=\(p.count) sum=\(p.sum) " + p.quantiles.map { "q\($0.quantile)=\($0.value)" }.joined(separator: " ")
            }
        }
    }
}
