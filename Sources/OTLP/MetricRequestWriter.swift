import SwiftProtobuf

/// Points encoded once, ready to be copied into a request: some of one bucket's points (all of
/// them unless the bucket is too large for one request), grouped by metric.
public struct EncodedPoints: Sendable, Equatable {
    /// The points of one metric.
    public struct Slot: Sendable, Equatable {
        /// The metric's index in the writer's ``MetricRequestWriter/metrics``.
        public var metric: Int
        /// Protobuf: the `data_points` fields, each tagged and length-prefixed. JSON: the point
        /// objects separated by commas.
        public var bytes: [UInt8]
        public var pointCount: Int

        public init(metric: Int, bytes: [UInt8], pointCount: Int) {
            self.metric = metric
            self.bytes = bytes
            self.pointCount = pointCount
        }
    }

    /// In increasing metric order, one per metric with points.
    public var slots: [Slot]
    public var pointCount: Int
    /// What these points add to a request at most, their metrics' headers included (the
    /// request's own framing is ``MetricRequestWriter/overhead``).
    public var byteCount: Int

    public init(slots: [Slot] = [], pointCount: Int = 0, byteCount: Int = 0) {
        self.slots = slots
        self.pointCount = pointCount
        self.byteCount = byteCount
    }
}

/// Writes `ExportMetricsServiceRequest` bodies from points encoded once.
///
/// A pass encodes each bucket's points as it reads them (``encode(_:budget:)``) and a request is
/// then assembled by copying the encoded points of its buckets behind headers whose lengths are
/// known (``assemble(_:)``): no request is encoded twice, and a request's size is known before
/// it is written, so batches are cut to the byte limit before anything is sent. The result is
/// byte for byte what ``SwiftProtobufMetricsEncoder`` gives for the same points (tested), in
/// protobuf and in OTLP/JSON. In protobuf the points are written directly, without messages
/// (``BucketWriter``), each series' attributes encoded once (``encodedAttributes(_:metric:)``).
public struct MetricRequestWriter: Sendable {
    public let wireProtocol: OTLPExporterConfiguration.WireProtocol
    /// The pipeline's metrics: names, descriptions, units and kinds (their points are ignored).
    public let metrics: [Metric]
    /// An upper bound of the bytes a request adds around its parts: the request, resource and
    /// scope framing. Each part counts its own metrics' headers (``slotOverhead``), so a request
    /// whose parts' `byteCount`s sum to at most `max_request_bytes - overhead` fits.
    public let overhead: Int
    /// Per metric: an upper bound of its header, length prefixes and data fields in a request.
    let slotOverhead: [Int]
    /// Per metric: the kind of its points.
    let pointKinds: [PointKind]

    private let resourceBytes: [UInt8]
    private let scopeBytes: [UInt8]
    /// Per metric: its fields before the data (name, description, unit), and after the points.
    private let metricHeads: [[UInt8]]
    private let dataTails: [[UInt8]]

    public init(resource: [Attribute], scope: InstrumentationScope, metrics: [Metric],
                wireProtocol: OTLPExporterConfiguration.WireProtocol) throws {
        self.wireProtocol = wireProtocol
        self.metrics = metrics
        pointKinds = metrics.map { PointKind($0.data) }
        var r = Opentelemetry_Proto_Resource_V1_Resource()
        r.attributes = resource.map(\.proto)
        var s = Opentelemetry_Proto_Common_V1_InstrumentationScope()
        s.name = scope.name
        s.version = scope.version
        var heads: [[UInt8]] = []
        var tails: [[UInt8]] = []
        for metric in metrics {
            var header = Opentelemetry_Proto_Metrics_V1_Metric()
            header.name = metric.name
            header.description_p = metric.description
            header.unit = metric.unit
            var empty = metric
            empty.data = empty.data.withoutPoints
            let data = empty.proto
            switch wireProtocol {
            case .httpProtobuf:
                heads.append(try header.serializedBytes())
                tails.append(try data.dataMessageBytes())
            case .httpJSON:
                // `{"name":…,"unit":…}` without its `}`; `{"aggregationTemporality":2,…}` as `,…`.
                var head: [UInt8] = try header.jsonUTF8Bytes(options: Self.jsonOptions)
                head.removeLast()
                heads.append(head)
                var tail: [UInt8] = try data.dataMessageJSON()
                tail.removeFirst()
                tail.removeLast()
                tails.append(tail.isEmpty ? [] : Array(",".utf8) + tail)
            }
        }
        switch wireProtocol {
        case .httpProtobuf:
            resourceBytes = try r.serializedBytes()
            scopeBytes = try s.serializedBytes()
            // Every length as a 5-byte varint: an upper bound for requests under 32 GiB.
            overhead = 6 + 6 + resourceBytes.count + 6 + 6 + scopeBytes.count
            slotOverhead = zip(heads, tails).map { h, t in 6 + h.count + 6 + t.count }
        case .httpJSON:
            resourceBytes = try r.jsonUTF8Bytes(options: Self.jsonOptions)
            scopeBytes = try s.jsonUTF8Bytes(options: Self.jsonOptions)
            overhead = Self.jsonPrefix.count + resourceBytes.count + Self.jsonScope.count + scopeBytes.count
                + Self.jsonMetrics.count + Self.jsonSuffix.count
            slotOverhead = zip(heads, tails).enumerated().map { i, ht in
                1 + ht.0.count + Self.jsonDataKey(metrics[i].data).count + Self.jsonPoints.count + 1 + ht.1.count + 2
            }
        }
        metricHeads = heads
        dataTails = tails
    }

    // MARK: - Points

    /// Encodes one bucket's points (`metric` indexes ``metrics``; the data's kind must be that
    /// metric's), cut into parts of at most `budget` bytes; usually one part. A point larger than
    /// `budget` is a part of its own: the receiver decides.
    ///
    /// The points go through a ``BucketWriter``, each with its attributes encoded on the spot; a
    /// caller that knows its series encodes their attributes once and feeds the writer itself.
    public func encode(_ points: [(metric: Int, data: MetricData)], budget: Int) -> [EncodedPoints] {
        var bucket = bucket(budget: budget)
        for (metric, data) in points.sorted(by: { $0.metric < $1.metric }) {
            precondition(metrics.indices.contains(metric), "no metric \(metric)")
            switch data {
            case .sum(_, _, let ps), .gauge(let ps):
                for p in ps {
                    bucket.number(metric: metric, attributes: encodedAttributes(p.attributes, metric: metric),
                                  start: p.startTimeUnixNano, end: p.timeUnixNano, value: p.value, exemplars: p.exemplars)
                }
            case .histogram(_, let ps):
                for p in ps {
                    bucket.histogram(metric: metric, attributes: encodedAttributes(p.attributes, metric: metric),
                                     start: p.startTimeUnixNano, end: p.timeUnixNano, count: p.count, sum: p.sum,
                                     bucketCounts: p.bucketCounts, explicitBounds: p.explicitBounds, min: p.min, max: p.max,
                                     exemplars: p.exemplars)
                }
            case .summary(let ps):
                for p in ps {
                    bucket.summary(metric: metric, attributes: encodedAttributes(p.attributes, metric: metric),
                                   start: p.startTimeUnixNano, end: p.timeUnixNano, count: p.count, sum: p.sum, quantiles: p.quantiles)
                }
            }
        }
        return bucket.finish()
    }

    // MARK: - Requests

    /// The request body holding `parts`, in order, each metric's points together.
    public func assemble(_ parts: [EncodedPoints]) -> [UInt8] {
        // Each metric's points, in metric order, in the order of the parts.
        var byMetric: [(metric: Int, slots: [EncodedPoints.Slot])] = []
        for (metric, slots) in Dictionary(grouping: parts.flatMap(\.slots), by: \.metric).sorted(by: { $0.key < $1.key }) {
            byMetric.append((metric, slots))
        }
        switch wireProtocol {
        case .httpProtobuf: return assembleProtobuf(byMetric)
        case .httpJSON: return assembleJSON(byMetric)
        }
    }

    private func assembleProtobuf(_ byMetric: [(metric: Int, slots: [EncodedPoints.Slot])]) -> [UInt8] {
        // Sizes bottom-up, then one write top-down.
        var dataSizes: [Int] = []
        var metricSizes: [Int] = []
        for (metric, slots) in byMetric {
            let data = slots.reduce(0) { $0 + $1.bytes.count } + dataTails[metric].count
            dataSizes.append(data)
            metricSizes.append(metricHeads[metric].count + 1 + ProtobufWire.varintSize(data) + data)
        }
        let content = metricSizes.reduce(0) { $0 + 1 + ProtobufWire.varintSize($1) + $1 }
        return OTLPEnvelope.protobuf(resource: resourceBytes, scope: scopeBytes, contentSize: content) { out in
            func field(_ tag: UInt8, length: Int) {
                out.append(tag)
                out.appendVarint(length)
            }
            for (i, (metric, slots)) in byMetric.enumerated() {
                field(0x12, length: metricSizes[i])  // ScopeMetrics.metrics = 2
                out.append(contentsOf: metricHeads[metric])
                field(Self.dataTag(metrics[metric].data), length: dataSizes[i])
                for slot in slots { out.append(contentsOf: slot.bytes) }
                out.append(contentsOf: dataTails[metric])
            }
        }
    }

    private func assembleJSON(_ byMetric: [(metric: Int, slots: [EncodedPoints.Slot])]) -> [UInt8] {
        var out: [UInt8] = Self.jsonPrefix + resourceBytes + Self.jsonScope + scopeBytes + Self.jsonMetrics
        for (i, (metric, slots)) in byMetric.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: metricHeads[metric])
            out.append(contentsOf: Self.jsonDataKey(metrics[metric].data))
            out.append(contentsOf: Self.jsonPoints)
            for (j, slot) in slots.enumerated() {
                if j > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: slot.bytes)
            }
            out.append(UInt8(ascii: "]"))
            out.append(contentsOf: dataTails[metric])
            out.append(contentsOf: Array("}}".utf8))
        }
        out.append(contentsOf: Self.jsonSuffix)
        return out
    }

    // MARK: - Wire details

    static let jsonOptions: JSONEncodingOptions = {
        var options = JSONEncodingOptions()
        options.alwaysPrintInt64sAsNumbers = false
        options.alwaysPrintEnumsAsInts = true  // OTLP/JSON: enums as integers
        options.preserveProtoFieldNames = false  // OTLP/JSON: lowerCamelCase keys
        return options
    }()

    private static let jsonPrefix = Array(#"{"resourceMetrics":[{"resource":"#.utf8)
    private static let jsonScope = Array(#","scopeMetrics":[{"scope":"#.utf8)
    private static let jsonMetrics = Array(#","metrics":["#.utf8)
    private static let jsonSuffix = Array("]}]}]}".utf8)
    private static let jsonPoints = Array(#"{"dataPoints":["#.utf8)

    private static func jsonDataKey(_ data: MetricData) -> [UInt8] {
        switch data {
        case .gauge: Array(#","gauge":"#.utf8)
        case .sum: Array(#","sum":"#.utf8)
        case .histogram: Array(#","histogram":"#.utf8)
        case .summary: Array(#","summary":"#.utf8)
        }
    }

    /// The `Metric` field of the data: gauge = 5, sum = 7, histogram = 9, summary = 11.
    private static func dataTag(_ data: MetricData) -> UInt8 {
        switch data {
        case .gauge: 0x2A
        case .sum: 0x3A
        case .histogram: 0x4A
        case .summary: 0x5A
        }
    }

}

/// The frame every OTLP export request shares: one resource, one scope, and the content (the
/// scope's metrics or spans), each length known before anything is written.
enum OTLPEnvelope {
    /// `Export*ServiceRequest { resource_* = 1 { resource = 1, scope_* = 2 { scope = 1, content } } }`
    /// in protobuf: `write` appends exactly `contentSize` bytes of tagged content fields.
    static func protobuf(resource: [UInt8], scope: [UInt8], contentSize: Int, write: (inout [UInt8]) -> Void) -> [UInt8] {
        let v: (UInt64) -> Int = ProtobufWire.varintSize
        let scoped = 1 + v(UInt64(scope.count)) + scope.count + contentSize
        let resourced = 1 + v(UInt64(resource.count)) + resource.count + 1 + v(UInt64(scoped)) + scoped
        var out: [UInt8] = []
        out.reserveCapacity(1 + v(UInt64(resourced)) + resourced)
        func field(_ tag: UInt8, length: Int) {
            out.append(tag)
            out.appendVarint(length)
        }
        field(0x0A, length: resourced)  // the request's resource_metrics / resource_spans = 1
        field(0x0A, length: resource.count)  // resource = 1
        out.append(contentsOf: resource)
        field(0x12, length: scoped)  // scope_metrics / scope_spans = 2
        field(0x0A, length: scope.count)  // scope = 1
        out.append(contentsOf: scope)
        let before = out.count
        write(&out)
        assert(out.count - before == contentSize, "the content is not the size announced")
        return out
    }
}

extension MetricData {
    /// The same kind, temporality and monotonicity, with no points.
    var withoutPoints: MetricData {
        switch self {
        case .sum(let m, let t, _): .sum(isMonotonic: m, temporality: t, points: [])
        case .gauge: .gauge(points: [])
        case .histogram(let t, _): .histogram(temporality: t, points: [])
        case .summary: .summary(points: [])
        }
    }
}

extension Opentelemetry_Proto_Metrics_V1_Metric {
    /// The data message (Sum, Gauge, …) alone: with no points, the fields that follow them.
    func dataMessageBytes() throws -> [UInt8] {
        switch data {
        case .gauge(let g): try g.serializedBytes()
        case .sum(let s): try s.serializedBytes()
        case .histogram(let h): try h.serializedBytes()
        case .summary(let s): try s.serializedBytes()
        default: []
        }
    }

    func dataMessageJSON() throws -> [UInt8] {
        let options = MetricRequestWriter.jsonOptions
        return switch data {
        case .gauge(let g): try g.jsonUTF8Bytes(options: options)
        case .sum(let s): try s.jsonUTF8Bytes(options: options)
        case .histogram(let h): try h.jsonUTF8Bytes(options: options)
        case .summary(let s): try s.jsonUTF8Bytes(options: options)
        default: Array("{}".utf8)
        }
    }
}
