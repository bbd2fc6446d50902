import Foundation
import SwiftProtobuf

/// One span, encoded once, ready to be copied into a request.
public struct EncodedSpan: Sendable, Equatable {
    /// Protobuf: the `spans` field of `ScopeSpans`, tagged and length-prefixed. JSON: the span object.
    public var bytes: [UInt8]
    /// What the span adds to a request at most (its separator included).
    public var byteCount: Int { bytes.count + 1 }

    public init(bytes: [UInt8]) { self.bytes = bytes }
}

/// Writes `ExportTraceServiceRequest` bodies from spans encoded once, as ``MetricRequestWriter``
/// does for points: each span is encoded when its row is read (``encode(_:)``), and a request is
/// assembled by copying (``assemble(_:)``) behind headers whose lengths are known, so a batch is
/// cut to the byte limit before anything is written.
///
/// In OTLP/JSON, `traceId`, `spanId` and `parentSpanId` are lower-case hex strings, as the OTLP
/// specification requires, not the base64 that the generic protobuf JSON mapping writes for bytes.
public struct SpanRequestWriter: Sendable {
    public let wireProtocol: OTLPExporterConfiguration.WireProtocol
    /// An upper bound of the bytes a request adds around its spans.
    public let overhead: Int
    private let resourceBytes: [UInt8]
    private let scopeBytes: [UInt8]

    public init(resource: [Attribute], scope: InstrumentationScope, wireProtocol: OTLPExporterConfiguration.WireProtocol) throws {
        self.wireProtocol = wireProtocol
        var r = Opentelemetry_Proto_Resource_V1_Resource()
        r.attributes = resource.map(\.proto)
        var s = Opentelemetry_Proto_Common_V1_InstrumentationScope()
        s.name = scope.name
        s.version = scope.version
        switch wireProtocol {
        case .httpProtobuf:
            resourceBytes = try r.serializedBytes()
            scopeBytes = try s.serializedBytes()
            // Every length as a 5-byte varint: an upper bound for requests under 32 GiB.
            overhead = 6 + 6 + resourceBytes.count + 6 + 6 + scopeBytes.count
        case .httpJSON:
            resourceBytes = try r.jsonUTF8Bytes(options: MetricRequestWriter.jsonOptions)
            scopeBytes = try s.jsonUTF8Bytes(options: MetricRequestWriter.jsonOptions)
            overhead = Self.jsonPrefix.count + resourceBytes.count + Self.jsonScope.count + scopeBytes.count
                + Self.jsonSpans.count + Self.jsonSuffix.count
        }
    }

    /// Encodes one span. In protobuf the bytes are written by hand (``protobufField(_:)``), in JSON
    /// swift-protobuf's encoder writes all but the ids.
    public func encode(_ span: Span) throws -> EncodedSpan {
        switch wireProtocol {
        case .httpProtobuf:
            return EncodedSpan(bytes: Self.protobufField(span))
        case .httpJSON:
            var message = span.proto
            // The ids are written here, in hex; the generic mapping writes the rest.
            message.traceID = .init()
            message.spanID = .init()
            message.parentSpanID = .init()
            var body: [UInt8] = try message.jsonUTF8Bytes(options: MetricRequestWriter.jsonOptions)
            var ids = #"{"traceId":""# + hexString(span.traceID) + #"","spanId":""# + hexString(span.spanID) + "\""
            if !span.parentSpanID.isEmpty { ids += #","parentSpanId":""# + hexString(span.parentSpanID) + "\"" }
            body.removeFirst()  // "{"
            var out = Array(ids.utf8)
            if body.first != UInt8(ascii: "}") { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: body)
            return EncodedSpan(bytes: out)
        }
    }

    /// What swift-protobuf writes for `span` as a `ScopeSpans.spans` field: the reference the
    /// hand-written encoder is tested against, byte for byte, and measured against
    /// (`otel-bridge-bench spans`).
    public static func referenceProtobufField(_ span: Span) throws -> [UInt8] {
        let body: [UInt8] = try span.proto.serializedBytes()
        var out: [UInt8] = [0x12]
        out.appendVarint(body.count)
        out.append(contentsOf: body)
        return out
    }

    /// `span` as a `ScopeSpans.spans = 2` field (tagged, length-prefixed), written directly as
    /// ``BucketWriter`` writes points: the body's size is computed first, then the fields are
    /// appended into one buffer of that size, in field-number order and with the presence rules of
    /// the generated `Span.traverse` and `Status.traverse`, so the bytes are swift-protobuf's:
    ///
    /// trace_id = 1, span_id = 2, parent_span_id = 4 (bytes), name = 5 (string): omitted when
    /// empty; kind = 6 (enum varint): omitted when unspecified; start = 7, end = 8 (fixed64):
    /// omitted when 0; attributes = 9 (KeyValue); status = 15: present when its code is set or its
    /// message is not empty (as ``Span/proto`` sets it), with message = 2 and code = 3 under the
    /// same rules. The model carries no trace_state, events, links, dropped counts or flags.
    static func protobufField(_ span: Span) -> [UInt8] {
        span.traceID.withUnsafeBytes { traceID in
            span.spanID.withUnsafeBytes { spanID in
                span.parentSpanID.withUnsafeBytes { parentSpanID in
                    span.attributes.withUnsafeBufferPointer { attributes in
                        protobufField(traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, name: span.name, kind: span.kind,
                                      startTimeUnixNano: span.startTimeUnixNano, endTimeUnixNano: span.endTimeUnixNano,
                                      attributes: attributes, status: span.status)
                    }
                }
            }
        }
    }

    /// The span of these parts as a `ScopeSpans.spans` field: the very bytes of ``encode(_:)`` of
    /// the ``Span`` holding them (the one implementation: ``protobufField(_:)`` calls it), for a
    /// caller that has the parts without building a `Span` (ids in buffers of its own, attributes
    /// in a reused array).
    public static func protobufField(traceID: UnsafeRawBufferPointer, spanID: UnsafeRawBufferPointer, parentSpanID: UnsafeRawBufferPointer,
                                     name: String, kind: Span.Kind, startTimeUnixNano: UInt64, endTimeUnixNano: UInt64,
                                     attributes: UnsafeBufferPointer<Attribute>, status: Span.Status) -> [UInt8] {
        @inline(__always) func field(_ n: Int) -> Int { n == 0 ? 0 : 1 + ProtobufWire.varintSize(n) + n }
        let nameCount = name.utf8.count
        let statusMessage = status.message.utf8.count
        let hasStatus = status.code != .unset || statusMessage != 0
        let statusBody = field(statusMessage) + (status.code != .unset ? 1 + ProtobufWire.varintSize(status.code.rawValue) : 0)
        var body = field(traceID.count) + field(spanID.count) + field(parentSpanID.count) + field(nameCount)
        body += kind != .unspecified ? 1 + ProtobufWire.varintSize(kind.rawValue) : 0
        body += (startTimeUnixNano != 0 ? 9 : 0) + (endTimeUnixNano != 0 ? 9 : 0)
        for attribute in attributes { body += field(attribute.keyValueSize) }
        if hasStatus { body += 1 + ProtobufWire.varintSize(statusBody) + statusBody }

        // Written through a cursor into one buffer of the computed size (every write checked
        // against its end), not appended byte by byte.
        let total = 1 + ProtobufWire.varintSize(body) + body
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, written in
            var out = FieldCursor(buffer)
            out.byte(0x12)
            out.varint(body)
            @inline(__always) func bytes(_ tag: UInt8, _ b: UnsafeRawBufferPointer) {
                guard !b.isEmpty else { return }
                out.byte(tag)
                out.varint(b.count)
                out.bytes(b)
            }
            bytes(0x0A, traceID)
            bytes(0x12, spanID)
            bytes(0x22, parentSpanID)
            if nameCount != 0 {
                out.byte(0x2A)
                out.varint(nameCount)
                out.string(name)
            }
            if kind != .unspecified {
                out.byte(0x30)
                out.varint(kind.rawValue)
            }
            if startTimeUnixNano != 0 {
                out.byte(0x39)
                out.fixed64(startTimeUnixNano)
            }
            if endTimeUnixNano != 0 {
                out.byte(0x41)
                out.fixed64(endTimeUnixNano)
            }
            for attribute in attributes { out.keyValue(attribute, tag: 0x4A) }
            if hasStatus {
                out.byte(0x7A)
                out.varint(statusBody)
                if statusMessage != 0 {
                    out.byte(0x12)
                    out.varint(statusMessage)
                    out.string(status.message)
                }
                if status.code != .unset {
                    out.byte(0x18)
                    out.varint(status.code.rawValue)
                }
            }
            precondition(out.offset == total, "span size computed wrong")
            written = total
        }
    }

    /// The request body holding `spans`, in order.
    public func assemble(_ spans: [EncodedSpan]) -> [UInt8] {
        switch wireProtocol {
        case .httpProtobuf:
            // Each encoded span is a tagged ScopeSpans.spans field already.
            return OTLPEnvelope.protobuf(resource: resourceBytes, scope: scopeBytes, contentSize: spans.reduce(0) { $0 + $1.bytes.count }) { out in
                for span in spans { out.append(contentsOf: span.bytes) }
            }
        case .httpJSON:
            var out: [UInt8] = Self.jsonPrefix + resourceBytes + Self.jsonScope + scopeBytes + Self.jsonSpans
            out.reserveCapacity(out.count + spans.reduce(0) { $0 + $1.byteCount } + Self.jsonSuffix.count)
            for (i, span) in spans.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: span.bytes)
            }
            out.append(contentsOf: Self.jsonSuffix)
            return out
        }
    }

    private static let jsonPrefix = Array(#"{"resourceSpans":[{"resource":"#.utf8)
    private static let jsonScope = Array(#","scopeSpans":[{"scope":"#.utf8)
    private static let jsonSpans = Array(#","spans":["#.utf8)
    private static let jsonSuffix = Array("]}]}]}".utf8)
}

/// Writes protobuf fields into a buffer whose size was computed first: each write is checked
/// against the buffer's end (a size computed wrong stops the process, it never writes past it).
struct FieldCursor {
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private(set) var offset = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!
        capacity = buffer.count
    }

    @inline(__always)
    private func room(_ n: Int) {
        precondition(n <= capacity - offset, "protobuf size computed wrong")
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        room(1)
        base[offset] = b
        offset += 1
    }

    @inline(__always)
    mutating func varint(_ v: Int) { varint(UInt64(v)) }

    @inline(__always)
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(v))
    }

    @inline(__always)
    mutating func bytes(_ b: UnsafeRawBufferPointer) {
        guard let source = b.baseAddress, b.count > 0 else { return }
        room(b.count)
        UnsafeMutableRawPointer(base + offset).copyMemory(from: source, byteCount: b.count)
        offset += b.count
    }

    @inline(__always)
    mutating func string(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { bytes(UnsafeRawBufferPointer($0)) }
        if done == nil { for b in s.utf8 { byte(b) } }
    }

    /// 8 bytes, little-endian (fixed64, sfixed64 and double fields).
    @inline(__always)
    mutating func fixed64(_ v: UInt64) {
        room(8)
        UnsafeMutableRawPointer(base + offset).storeBytes(of: v.littleEndian, as: UInt64.self)
        offset += 8
    }

    /// `attribute` as a `KeyValue` field with tag `tag` (length-delimited), as swift-protobuf writes it:
    /// a span's attributes and a series' `EncodedAttributes` both.
    @inline(__always)
    mutating func keyValue(_ attribute: Attribute, tag: UInt8) {
        let key = attribute.key.utf8.count
        byte(tag)
        varint(attribute.keyValueSize)
        if key != 0 {
            byte(0x0A)
            varint(key)
            string(attribute.key)
        }
        byte(0x12)
        varint(attribute.value.anyValueSize)
        switch attribute.value {
        case .string(let s):
            byte(0x0A)  // string_value = 1
            varint(s.utf8.count)
            string(s)
        case .bool(let b):
            byte(0x10)  // bool_value = 2
            byte(b ? 1 : 0)
        case .int(let i):
            byte(0x18)  // int_value = 3, a varint: 10 bytes when negative
            varint(UInt64(bitPattern: i))
        case .double(let d):
            byte(0x21)  // double_value = 4, fixed 8 bytes
            fixed64(d.bitPattern)
        }
    }
}
