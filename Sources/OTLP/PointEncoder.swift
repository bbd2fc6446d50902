import SwiftProtobuf

/// A series' attributes, encoded once for the metric they belong to and then copied into each of its points.
public struct EncodedAttributes: Sendable, Equatable {
    public let attributes: [Attribute]
    /// Protobuf: the data point's tagged `attributes` fields (KeyValue messages), ready to copy. (Field 7 for
    /// Number and Summary points, 9 for Histogram points.) Empty for JSON.
    public let protobuf: [UInt8]

    init(attributes: [Attribute], protobuf: [UInt8]) {
        self.attributes = attributes
        self.protobuf = protobuf
    }

    /// No attributes (a placeholder in a cache of encoded attributes).
    public init() {
        self.init(attributes: [], protobuf: [])
    }
}

/// The kind of data point a metric holds, and where its points keep their attributes.
enum PointKind: Sendable {
    case number, histogram, summary

    init(_ data: MetricData) {
        switch data {
        case .sum, .gauge: self = .number
        case .histogram: self = .histogram
        case .summary: self = .summary
        }
    }

    /// The tag of the point's `attributes` field (length-delimited): 7 in NumberDataPoint and
    /// SummaryDataPoint, 9 in HistogramDataPoint.
    var attributesTag: UInt8 {
        switch self {
        case .number, .summary: 0x3A
        case .histogram: 0x4A
        }
    }
}

extension MetricRequestWriter {
    /// `attributes` encoded for the points of metric `metric` (an index into `metrics`).
    public func encodedAttributes(_ attributes: [Attribute], metric: Int) -> EncodedAttributes {
        precondition(metrics.indices.contains(metric), "no metric \(metric)")
        guard wireProtocol == .httpProtobuf else { return EncodedAttributes(attributes: attributes, protobuf: []) }
        let tag = pointKinds[metric].attributesTag
        let size = attributes.reduce(0) { $0 + 1 + ProtobufWire.varintSize($1.keyValueSize) + $1.keyValueSize }
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var cursor = FieldCursor(buffer)
            for attribute in attributes { cursor.keyValue(attribute, tag: tag) }
            count = cursor.offset
        }
        return EncodedAttributes(attributes: attributes, protobuf: out)
    }

    /// Starts encoding one bucket's points, cut into parts of at most `budget` bytes, exactly as `encode(_:budget:)` cuts them.
    public func bucket(budget: Int) -> BucketWriter {
        BucketWriter(writer: self, budget: budget)
    }
}

/// One bucket's points written as they come. Points must be added in increasing `metric` order (all points of
/// metric 0, then of metric 1, ...; precondition), each metric's points in the order they should appear;
/// `finish()` returns the same `[EncodedPoints]` that `encode(_:budget:)` returns for the same points.
///
/// In protobuf each point's size is computed from its values first, then its fields are written
/// straight into its metric's bytes, in field-number order and with the presence rules of the
/// generated swift-protobuf code (the `traverse` methods), so the bytes are swift-protobuf's. In
/// JSON each point goes through swift-protobuf's JSON encoder.
public struct BucketWriter: Sendable {
    private let writer: MetricRequestWriter
    private let budget: Int
    private var parts: [EncodedPoints] = []
    /// The part being filled. Its slots do not include the open one, its counts do.
    private var part = EncodedPoints()
    /// The open slot: its metric (-1: none), bytes and points.
    private var slotMetric = -1
    private var slotBytes: [UInt8] = []
    private var slotPoints = 0
    /// The size of the last slot closed, at most 1 MiB: the capacity a new slot starts with.
    private var lastSlotSize = 0
    private var lastMetric = 0

    init(writer: MetricRequestWriter, budget: Int) {
        self.writer = writer
        self.budget = budget
    }

    /// Adds a Sum or Gauge point of metric `metric`; `attributes` from
    /// ``MetricRequestWriter/encodedAttributes(_:metric:)`` for a metric of the same kind.
    public mutating func number(metric: Int, attributes: EncodedAttributes, start: UInt64, end: UInt64, value: NumberPoint.Value,
                                exemplars: [Exemplar] = []) {
        check(metric, .number, attributes)
        guard writer.wireProtocol == .httpProtobuf else {
            let point = NumberPoint(attributes: attributes.attributes, startTimeUnixNano: start, timeUnixNano: end, value: value, exemplars: exemplars)
            return json(metric, point.proto, ids: !exemplars.isEmpty)
        }
        attributes.protobuf.withUnsafeBytes { number(metric: metric, protobufAttributes: $0, start: start, end: end, value: value, exemplars: exemplars) }
    }

    /// Adds a Sum or Gauge point whose attributes are the bytes of an ``EncodedAttributes/protobuf``
    /// for a metric of the same kind, read in place (a caller that keeps every series' encoding
    /// in one buffer hands over a slice of it: nothing is copied or reference-counted per point).
    /// An http/protobuf writer's only.
    public mutating func number(metric: Int, protobufAttributes attributes: UnsafeRawBufferPointer, start: UInt64, end: UInt64,
                                value: NumberPoint.Value, exemplars: [Exemplar] = []) {
        check(metric, .number, protobuf: attributes)
        // start_time_unix_nano = 2, time_unix_nano = 3 (fixed64, omitted when 0); as_double = 4 or
        // as_int = 6 (a oneof: always written), exemplars = 5 between them; attributes = 7.
        let body = (start != 0 ? 9 : 0) + (end != 0 ? 9 : 0) + 9 + Self.size(exemplars) + attributes.count
        var head = open(metric, body: body)
        if start != 0 { head.fixed64(0x11, start) }
        if end != 0 { head.fixed64(0x19, end) }
        if case .double(let d) = value { head.fixed64(0x21, d.bitPattern) }
        head.append(to: &slotBytes)
        Self.write(exemplars, tag: 0x2A, to: &slotBytes)
        if case .int(let i) = value {
            var tail = FieldBuffer()
            tail.fixed64(0x31, UInt64(bitPattern: i))
            tail.append(to: &slotBytes)
        }
        slotBytes.appendBytes(attributes)
    }

    /// The framed size of `exemplars` as repeated message fields: each
    /// `Exemplar { time_unix_nano = 2 (fixed64, omitted when 0), as_double = 3 (always written),
    /// span_id = 4, trace_id = 5 (omitted when empty) }`.
    static func size(_ exemplars: [Exemplar]) -> Int {
        exemplars.reduce(0) { total, e in
            let body = bodySize(e)
            return total + 1 + ProtobufWire.varintSize(body) + body
        }
    }

    private static func bodySize(_ e: Exemplar) -> Int {
        func bytes(_ b: [UInt8]) -> Int { b.isEmpty ? 0 : 1 + ProtobufWire.varintSize(b.count) + b.count }
        return (e.timeUnixNano != 0 ? 9 : 0) + 9 + bytes(e.spanID) + bytes(e.traceID)
    }

    private static func write(_ exemplars: [Exemplar], tag: UInt8, to out: inout [UInt8]) {
        for e in exemplars {
            out.append(tag)
            out.appendVarint(bodySize(e))
            var fixed = FieldBuffer()
            if e.timeUnixNano != 0 { fixed.fixed64(0x11, e.timeUnixNano) }
            fixed.fixed64(0x19, e.value.bitPattern)
            fixed.append(to: &out)
            for (fieldTag, id) in [(UInt8(0x22), e.spanID), (0x2A, e.traceID)] where !id.isEmpty {
                out.append(fieldTag)
                out.appendVarint(id.count)
                out.append(contentsOf: id)
            }
        }
    }

    /// Adds a Histogram point of metric `metric`; `sum`, `min` and `max` are written when set.
    public mutating func histogram(metric: Int, attributes: EncodedAttributes, start: UInt64, end: UInt64, count: UInt64, sum: Double?,
                                   bucketCounts: [UInt64], explicitBounds: [Double], min: Double?, max: Double?, exemplars: [Exemplar] = []) {
        check(metric, .histogram, attributes)
        guard writer.wireProtocol == .httpProtobuf else {
            let point = HistogramPoint(attributes: attributes.attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                                       bucketCounts: bucketCounts, explicitBounds: explicitBounds, min: min, max: max, exemplars: exemplars)
            return json(metric, point.proto, ids: !exemplars.isEmpty)
        }
        attributes.protobuf.withUnsafeBytes {
            histogram(metric: metric, protobufAttributes: $0, start: start, end: end, count: count, sum: sum, bucketCounts: bucketCounts,
                      explicitBounds: explicitBounds, min: min, max: max, exemplars: exemplars)
        }
    }

    /// A Histogram point with its attributes' protobuf bytes read in place (as for ``number(metric:protobufAttributes:start:end:value:exemplars:)``).
    public mutating func histogram(metric: Int, protobufAttributes attributes: UnsafeRawBufferPointer, start: UInt64, end: UInt64, count: UInt64,
                                   sum: Double?, bucketCounts: [UInt64], explicitBounds: [Double], min: Double?, max: Double?,
                                   exemplars: [Exemplar] = []) {
        check(metric, .histogram, protobuf: attributes)
        // start = 2, time = 3, count = 4 (fixed64, omitted when 0); sum = 5, min = 11, max = 12
        // (optional doubles: written when set); bucket_counts = 6, explicit_bounds = 7 (packed,
        // omitted when empty); exemplars = 8; attributes = 9.
        func packed(_ n: Int) -> Int { n == 0 ? 0 : 1 + ProtobufWire.varintSize(8 * n) + 8 * n }
        var body = (start != 0 ? 9 : 0) + (end != 0 ? 9 : 0) + (count != 0 ? 9 : 0) + (sum != nil ? 9 : 0)
        body += packed(bucketCounts.count) + packed(explicitBounds.count) + Self.size(exemplars) + attributes.count
        body += (min != nil ? 9 : 0) + (max != nil ? 9 : 0)
        var head = open(metric, body: body)
        if start != 0 { head.fixed64(0x11, start) }
        if end != 0 { head.fixed64(0x19, end) }
        if count != 0 { head.fixed64(0x21, count) }
        if let sum { head.fixed64(0x29, sum.bitPattern) }
        head.append(to: &slotBytes)
        if !bucketCounts.isEmpty {
            slotBytes.append(0x32)
            slotBytes.appendVarint(8 * bucketCounts.count)
            slotBytes.appendFixed64s(bucketCounts)
        }
        if !explicitBounds.isEmpty {
            slotBytes.append(0x3A)
            slotBytes.appendVarint(8 * explicitBounds.count)
            slotBytes.appendFixed64s(explicitBounds)
        }
        Self.write(exemplars, tag: 0x42, to: &slotBytes)
        slotBytes.appendBytes(attributes)
        var tail = FieldBuffer()
        if let min { tail.fixed64(0x59, min.bitPattern) }
        if let max { tail.fixed64(0x61, max.bitPattern) }
        tail.append(to: &slotBytes)
    }

    /// Adds a Summary point of metric `metric`.
    public mutating func summary(metric: Int, attributes: EncodedAttributes, start: UInt64, end: UInt64, count: UInt64, sum: Double,
                                 quantiles: [SummaryPoint.Quantile]) {
        check(metric, .summary, attributes)
        guard writer.wireProtocol == .httpProtobuf else {
            let point = SummaryPoint(attributes: attributes.attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                                     quantiles: quantiles)
            return json(metric, point.proto)
        }
        attributes.protobuf.withUnsafeBytes {
            summary(metric: metric, protobufAttributes: $0, start: start, end: end, count: count, sum: sum, quantiles: quantiles)
        }
    }

    /// A Summary point with its attributes' protobuf bytes read in place (as for ``number(metric:protobufAttributes:start:end:value:exemplars:)``).
    public mutating func summary(metric: Int, protobufAttributes attributes: UnsafeRawBufferPointer, start: UInt64, end: UInt64, count: UInt64,
                                 sum: Double, quantiles: [SummaryPoint.Quantile]) {
        check(metric, .summary, protobuf: attributes)
        // start = 2, time = 3, count = 4 (fixed64, omitted when 0); sum = 5 (a double omitted when
        // its bit pattern is 0: -0.0 is written); quantile_values = 6, each ValueAtQuantile
        // { quantile = 1, value = 2 } with the same rule; attributes = 7.
        func size(_ q: SummaryPoint.Quantile) -> Int {
            (q.quantile.bitPattern != 0 ? 9 : 0) + (q.value.bitPattern != 0 ? 9 : 0)
        }
        var body = (start != 0 ? 9 : 0) + (end != 0 ? 9 : 0) + (count != 0 ? 9 : 0) + (sum.bitPattern != 0 ? 9 : 0)
        for q in quantiles { body += 2 + size(q) }
        body += attributes.count
        var head = open(metric, body: body)
        if start != 0 { head.fixed64(0x11, start) }
        if end != 0 { head.fixed64(0x19, end) }
        if count != 0 { head.fixed64(0x21, count) }
        if sum.bitPattern != 0 { head.fixed64(0x29, sum.bitPattern) }
        head.append(to: &slotBytes)
        for q in quantiles {
            var field = FieldBuffer()
            field.byte(0x32)
            field.byte(UInt8(size(q)))  // at most 18: one varint byte
            if q.quantile.bitPattern != 0 { field.fixed64(0x09, q.quantile.bitPattern) }
            if q.value.bitPattern != 0 { field.fixed64(0x11, q.value.bitPattern) }
            field.append(to: &slotBytes)
        }
        slotBytes.appendBytes(attributes)
    }

    /// The bucket's parts, as ``MetricRequestWriter/encode(_:budget:)`` returns them (none without
    /// points). The writer is empty again afterwards.
    public mutating func finish() -> [EncodedPoints] {
        closeSlot()
        if part.pointCount > 0 { parts.append(part) }
        let done = parts
        parts = []
        part = EncodedPoints()
        lastMetric = 0
        return done
    }

    /// Makes room for about `bytes` of points in the next slot (the first of a bucket has no
    /// last slot's size to go by: without this it would grow, copied, a dozen times).
    public mutating func reserveCapacity(_ bytes: Int) {
        if slotMetric < 0 { lastSlotSize = Swift.max(lastSlotSize, Swift.min(bytes, budget, 1 << 20)) }
    }

    // MARK: - Slots and parts

    @inline(__always)
    private func check(_ metric: Int, _ kind: PointKind, _ attributes: EncodedAttributes) {
        check(metric, kind)
        precondition(writer.wireProtocol != .httpProtobuf || attributes.protobuf.isEmpty == attributes.attributes.isEmpty,
                     "attributes encoded by a writer of another wire protocol")
    }

    @inline(__always)
    private func check(_ metric: Int, _ kind: PointKind, protobuf attributes: UnsafeRawBufferPointer) {
        precondition(writer.wireProtocol == .httpProtobuf, "attributes as protobuf bytes for a writer of \(writer.wireProtocol)")
        check(metric, kind)
        precondition(attributes.first.map { $0 == kind.attributesTag } ?? true, "attributes encoded for another kind of metric than \(metric)")
    }

    @inline(__always)
    private func check(_ metric: Int, _ kind: PointKind) {
        precondition(metric >= 0 && metric < writer.pointKinds.count, "no metric \(metric)")
        precondition(metric >= lastMetric, "points must come in increasing metric order: \(metric) after \(lastMetric)")
        precondition(writer.pointKinds[metric] == kind, "metric \(metric) does not hold \(kind) points")
    }

    /// Makes room for a point that adds `framed` bytes to its slot: cuts the part first if the
    /// point does not fit in it (unless the part is empty), and opens the metric's slot.
    private mutating func reserve(_ metric: Int, framed: Int) {
        lastMetric = metric
        let header = slotMetric == metric ? 0 : writer.slotOverhead[metric]
        if part.pointCount > 0 && part.byteCount + header + framed > budget {
            closeSlot()
            parts.append(part)
            part = EncodedPoints()
        }
        if slotMetric != metric {
            closeSlot()
            slotMetric = metric
            // The last slot's size: a good guess when a metric's points go on in a new part.
            slotBytes.reserveCapacity(lastSlotSize)
            part.byteCount += writer.slotOverhead[metric]
        }
        slotPoints += 1
        part.pointCount += 1
        part.byteCount += framed
    }

    private mutating func closeSlot() {
        guard slotMetric >= 0 else { return }
        part.slots.append(EncodedPoints.Slot(metric: slotMetric, bytes: slotBytes, pointCount: slotPoints))
        lastSlotSize = Swift.min(slotBytes.count, 1 << 20)
        slotMetric = -1
        slotBytes = []
        slotPoints = 0
    }

    /// Opens a protobuf point of `body` bytes: its `data_points = 1` tag and length, to which the
    /// caller adds the point's first fields before appending it.
    @inline(__always)
    private mutating func open(_ metric: Int, body: Int) -> FieldBuffer {
        reserve(metric, framed: 1 + ProtobufWire.varintSize(body) + body)
        var head = FieldBuffer()
        head.byte(0x0A)
        head.varint(UInt64(body))
        return head
    }

    /// - Parameter ids: the point has exemplars, whose ids OTLP/JSON writes in hex.
    private mutating func json(_ metric: Int, _ message: some SwiftProtobuf.Message, ids: Bool = false) {
        var body: [UInt8]
        do {
            body = try message.jsonUTF8Bytes(options: MetricRequestWriter.jsonOptions)
            if ids { body = OTLPJSON.hexIDs(body) }
        } catch {
            // Only `Any` fields with unregistered types make JSON encoding throw; points have none.
            preconditionFailure("JSON encoding of a data point failed: \(error)")
        }
        reserve(metric, framed: body.count + 1)  // and a comma
        if slotPoints > 1 { slotBytes.append(UInt8(ascii: ",")) }
        slotBytes.append(contentsOf: body)
    }
}

// MARK: - Protobuf wire format

/// Up to 48 bytes of fields built on the stack and appended in one copy: a point's tag, length and
/// fixed fields (at most 1 + 10 + 4 × 9 bytes).
struct FieldBuffer {
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    private var count = 0

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        let i = count
        withUnsafeMutableBytes(of: &storage) { $0[i] = b }
        count += 1
    }

    @inline(__always)
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(v))
    }

    /// A tag and 8 bytes, little-endian (fixed64, sfixed64 and double fields).
    @inline(__always)
    mutating func fixed64(_ tag: UInt8, _ v: UInt64) {
        let i = count
        precondition(i + 9 <= 48)
        withUnsafeMutableBytes(of: &storage) {
            $0[i] = tag
            $0.storeBytes(of: v.littleEndian, toByteOffset: i + 1, as: UInt64.self)
        }
        count += 9
    }

    @inline(__always)
    func append(to out: inout [UInt8]) {
        var storage = storage
        let n = count
        withUnsafeBytes(of: &storage) { out.appendBytes(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
    }
}

/// Protobuf wire-format sizes, shared by the request writers.
enum ProtobufWire {
    static func varintSize(_ v: Int) -> Int { varintSize(UInt64(v)) }

    static func varintSize(_ v: UInt64) -> Int {
        var n = 1
        var v = v >> 7
        while v != 0 { n += 1; v >>= 7 }
        return n
    }
}

extension [UInt8] {
    @inline(__always)
    mutating func appendVarint(_ v: Int) { appendVarint(UInt64(v)) }

    @inline(__always)
    mutating func appendVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    /// Appends raw bytes in one copy. (`append(contentsOf:)` of an `UnsafeRawBufferPointer` takes
    /// the generic path, element by element: a raw buffer offers no typed contiguous storage.)
    @inline(__always)
    mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        bytes.withMemoryRebound(to: UInt8.self) { append(contentsOf: $0) }
    }

    /// Packed fixed64 or double values: 8 bytes each, little-endian.
    @inline(__always)
    mutating func appendFixed64s<T: BitwiseCopyable>(_ values: [T]) {
        precondition(MemoryLayout<T>.size == 8)
        #if _endian(little)
        values.withUnsafeBytes { appendBytes($0) }
        #else
        for v in values { Swift.withUnsafeBytes(of: v) { append(contentsOf: $0.reversed()) } }
        #endif
    }

    /// 8 bytes, little-endian (fixed64, sfixed64 and double fields).
    @inline(__always)
    mutating func appendFixed64(_ v: UInt64) {
        Swift.withUnsafeBytes(of: v.littleEndian) { appendBytes($0) }
    }
}

extension Attribute {
    /// The size of the attribute as a `KeyValue` message body: `key = 1` (omitted when empty) and
    /// `value = 2` (an AnyValue, always set, whose oneof member is written even when it is the default).
    var keyValueSize: Int {
        let key = self.key.utf8.count
        let keyField = key == 0 ? 0 : 1 + ProtobufWire.varintSize(key) + key
        return keyField + 1 + ProtobufWire.varintSize(value.anyValueSize) + value.anyValueSize
    }
}

extension Attribute.Value {
    /// The size of the value as an `AnyValue` message body.
    var anyValueSize: Int {
        switch self {
        case .string(let s): 1 + ProtobufWire.varintSize(s.utf8.count) + s.utf8.count
        case .int(let i): 1 + ProtobufWire.varintSize(UInt64(bitPattern: i))
        case .double: 9
        case .bool: 2
        }
    }
}
