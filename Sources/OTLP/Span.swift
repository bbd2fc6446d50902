import Foundation

/// The bridge's own model of an OTLP span: plain values that the traces pipeline produces and a
/// ``SpanRequestWriter`` turns into bytes (generated protobuf types stay out of the pipeline).
public struct Span: Sendable, Equatable {
    public enum Kind: Int, Sendable, Equatable {
        case unspecified = 0, `internal` = 1, server = 2, client = 3, producer = 4, consumer = 5
    }

    public struct Status: Sendable, Equatable {
        public enum Code: Int, Sendable, Equatable { case unset = 0, ok = 1, error = 2 }
        public var code: Code
        public var message: String

        public init(code: Code = .unset, message: String = "") {
            self.code = code
            self.message = message
        }
    }

    /// 16 bytes, not all zero.
    public var traceID: [UInt8]
    /// 8 bytes, not all zero.
    public var spanID: [UInt8]
    /// 8 bytes, or empty for a root span.
    public var parentSpanID: [UInt8]
    public var name: String
    public var kind: Kind
    public var startTimeUnixNano: UInt64
    public var endTimeUnixNano: UInt64
    public var attributes: [Attribute]
    public var status: Status

    public init(traceID: [UInt8], spanID: [UInt8], parentSpanID: [UInt8] = [], name: String, kind: Kind,
                startTimeUnixNano: UInt64, endTimeUnixNano: UInt64, attributes: [Attribute] = [], status: Status = Status()) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.startTimeUnixNano = startTimeUnixNano
        self.endTimeUnixNano = endTimeUnixNano
        self.attributes = attributes
        self.status = status
    }
}

extension Span {
    /// The generated message; ids as bytes.
    var proto: Opentelemetry_Proto_Trace_V1_Span {
        var s = Opentelemetry_Proto_Trace_V1_Span()
        s.traceID = Data(traceID)
        s.spanID = Data(spanID)
        s.parentSpanID = Data(parentSpanID)
        s.name = name
        s.kind = Opentelemetry_Proto_Trace_V1_Span.SpanKind(rawValue: kind.rawValue) ?? .unspecified
        s.startTimeUnixNano = startTimeUnixNano
        s.endTimeUnixNano = endTimeUnixNano
        s.attributes = attributes.map(\.proto)
        if status.code != .unset || !status.message.isEmpty {
            var st = Opentelemetry_Proto_Trace_V1_Status()
            st.code = Opentelemetry_Proto_Trace_V1_Status.StatusCode(rawValue: status.code.rawValue) ?? .unset
            st.message = status.message
            s.status = st
        }
        return s
    }
}

/// Lower-case hex of `bytes` (OTLP/JSON writes trace and span ids so, not as base64).
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
