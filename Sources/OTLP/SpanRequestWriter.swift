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

    /// Encodes one span.
    public func encode(_ span: Span) throws -> EncodedSpan {
        var message = span.proto
        switch wireProtocol {
        case .httpProtobuf:
            let body: [UInt8] = try message.serializedBytes()
            var out: [UInt8] = [0x12]  // ScopeSpans.spans = 2, length-delimited
            out.reserveCapacity(body.count + 6)
            out.appendVarint(body.count)
            out.append(contentsOf: body)
            return EncodedSpan(bytes: out)
        case .httpJSON:
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
