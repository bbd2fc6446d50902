import Foundation

/// One span the receiver recorded (`GET /__requests?signal=traces`), decoded from its OTLP/JSON
/// form: ids as lower-case hex (the receiver's protobuf JSON writes them as base64), times as
/// integers, attributes typed.
public struct ReceivedSpan: Sendable, Equatable, CustomStringConvertible {
    public enum Value: Sendable, Equatable, Hashable, CustomStringConvertible {
        case string(String), int(Int64), double(Double), bool(Bool)
        public var description: String {
            switch self {
            case .string(let s): "\"\(s)\""
            case .int(let i): "\(i)"
            case .double(let d): "\(d)"
            case .bool(let b): "\(b)"
            }
        }
    }

    public var traceID: String
    public var spanID: String
    public var parentSpanID: String
    public var name: String
    /// `SPAN_KIND_CLIENT`, …
    public var kind: String
    public var start: Int64
    public var end: Int64
    public var attributes: [String: Value]
    /// `STATUS_CODE_ERROR`, or "" when unset.
    public var statusCode: String
    /// The receiver's sequence number of the request, and whether it acknowledged it.
    public var request: Int
    public var accepted: Bool
    public var resource: [String: String]

    public init(traceID: String, spanID: String, parentSpanID: String, name: String, kind: String, start: Int64, end: Int64,
                attributes: [String: Value], statusCode: String, request: Int = 0, accepted: Bool = true, resource: [String: String] = [:]) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.start = start
        self.end = end
        self.attributes = attributes
        self.statusCode = statusCode
        self.request = request
        self.accepted = accepted
        self.resource = resource
    }

    /// The span without where it arrived: what two sends of one row must share.
    public var content: ReceivedSpan {
        var c = self
        c.request = 0
        c.accepted = true
        return c
    }

    public var description: String {
        "\(name) \(traceID)/\(spanID)<\(parentSpanID) \(kind) [\(start)..\(end)] \(statusCode) \(attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
    }
}

extension Receiver {
    /// The traces endpoint of `scope`.
    public static func tracesBase(scope: String) -> String { Services.otlpURL + scope }

    /// Every span of every traces export sent to `scope`, in the order received, acknowledged or not.
    public static func spans(scope: String) throws -> [ReceivedSpan] {
        guard let records = try Control.getJSON(Services.otlpURL + "/__requests?signal=traces&scope=" + scope) as? [[String: Any]] else {
            throw TestFailure("the receiver's /__requests is not a list of records")
        }
        var out: [ReceivedSpan] = []
        for record in records {
            let seq = record["seq"] as? Int ?? 0
            let accepted = record["accepted"] as? Bool ?? false
            for rs in (record["body"] as? [String: Any])?["resourceSpans"] as? [[String: Any]] ?? [] {
                let resource = attributes(resourceOf: rs)
                for ss in rs["scopeSpans"] as? [[String: Any]] ?? [] {
                    for s in ss["spans"] as? [[String: Any]] ?? [] {
                        out.append(ReceivedSpan(
                            traceID: hex(s["traceId"]), spanID: hex(s["spanId"]), parentSpanID: hex(s["parentSpanId"]),
                            name: s["name"] as? String ?? "", kind: s["kind"] as? String ?? "",
                            start: int64(s["startTimeUnixNano"]), end: int64(s["endTimeUnixNano"]),
                            attributes: typedAttributes(s["attributes"]),
                            statusCode: (s["status"] as? [String: Any])?["code"] as? String ?? "",
                            request: seq, accepted: accepted, resource: resource))
                    }
                }
            }
        }
        return out
    }

    static func hex(_ any: Any?) -> String {
        guard let b64 = any as? String, let data = Data(base64Encoded: b64) else { return "" }
        return data.map { String(format: "%02x", $0) }.joined()
    }

    static func typedAttributes(_ any: Any?) -> [String: ReceivedSpan.Value] {
        var out: [String: ReceivedSpan.Value] = [:]
        for kv in any as? [[String: Any]] ?? [] {
            guard let key = kv["key"] as? String, let value = kv["value"] as? [String: Any] else { continue }
            if let s = value["stringValue"] as? String { out[key] = .string(s) }
            else if let i = value["intValue"] { out[key] = .int(int64(i)) }
            else if let d = double(value["doubleValue"]) { out[key] = .double(d) }
            else if let b = value["boolValue"] as? Bool { out[key] = .bool(b) }
        }
        return out
    }
}
