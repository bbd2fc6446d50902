import Foundation

/// The OTLP receiver of `scripts/stack.sh` (`scripts/services/otlp_receiver.py`): its scripted
/// answers per endpoint scope, and what it recorded, flattened into ``ReceivedPoint``s.
///
/// A scope is a path prefix (`/s/<name>`) before `/v1/metrics`: answers scripted for one scope never
/// reach exports sent to another, so tests running in parallel never consume each other's faults.
public enum Receiver {
    /// The metrics endpoint of `scope` (`""`: the unscoped `/v1/metrics`).
    public static func metricsEndpoint(scope: String = "") -> String {
        Services.otlpURL + scope + "/v1/metrics"
    }

    /// Merges `fields` (`script`, `default`, …) into `scope`'s control state (`POST /__control`).
    public static func control(scope: String, _ fields: [String: Any]) throws {
        try Control.post(Services.otlpURL + "/__control", json: fields.merging(["scope": scope]) { $1 })
    }

    /// Every recorded metrics export, oldest first; only those sent to `scope` when given.
    public static func records(scope: String? = nil) throws -> [[String: Any]] {
        let query = scope.map { "&scope=" + $0 } ?? ""
        guard let records = try Control.getJSON(Services.otlpURL + "/__requests?signal=metrics" + query) as? [[String: Any]] else {
            throw TestFailure("the receiver's /__requests is not a list of records")
        }
        return records
    }

    /// The records of exports one of whose resources carries `key` = `value` (a string), oldest first.
    public static func records(resourceKey key: String, value: String) throws -> [[String: Any]] {
        try records().filter { record in
            resourceMetrics(of: record).contains { attributes(resourceOf: $0)[key] == value }
        }
    }

    /// Whether a metric is the bridge's own (`otel_bridge.*` self-telemetry), not a rollup's.
    public static func isSelfTelemetry(_ metric: String) -> Bool { metric.hasPrefix("otel_bridge.") }

    /// Whether a recorded export is a self-telemetry request (all its metrics `otel_bridge.*`).
    public static func isSelfTelemetry(record: [String: Any]) -> Bool {
        let names = resourceMetrics(of: record).flatMap { rm in
            (rm["scopeMetrics"] as? [[String: Any]] ?? []).flatMap { sm in (sm["metrics"] as? [[String: Any]] ?? []).map { $0["name"] as? String ?? "" } }
        }
        return !names.isEmpty && names.allSatisfy(isSelfTelemetry)
    }

    /// Every point of every accepted metrics export whose resource carries `key` = `value`, in the
    /// order received: the rollups' points, or with `selfTelemetry` the bridge's own ones.
    public static func points(resourceKey key: String, value: String, selfTelemetry: Bool = false) throws -> [ReceivedPoint] {
        var out: [ReceivedPoint] = []
        for record in try records() where (record["accepted"] as? Bool) == true {
            let seq = record["seq"] as? Int ?? 0
            for rm in resourceMetrics(of: record) where attributes(resourceOf: rm)[key] == value {
                for sm in rm["scopeMetrics"] as? [[String: Any]] ?? [] {
                    for m in sm["metrics"] as? [[String: Any]] ?? [] {
                        guard isSelfTelemetry(m["name"] as? String ?? "") == selfTelemetry else { continue }
                        out += points(of: m, request: seq)
                    }
                }
            }
        }
        return out
    }

    // MARK: - Decoding the receiver's JSON (the OTLP/JSON mapping)

    public static func resourceMetrics(of record: [String: Any]) -> [[String: Any]] {
        (record["body"] as? [String: Any])?["resourceMetrics"] as? [[String: Any]] ?? []
    }

    public static func attributes(resourceOf rm: [String: Any]) -> [String: String] {
        attributes((rm["resource"] as? [String: Any])?["attributes"])
    }

    /// OTLP key/values as text; non-string values are prefixed with their type (`int:200`).
    static func attributes(_ any: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for kv in any as? [[String: Any]] ?? [] {
            guard let key = kv["key"] as? String, let value = kv["value"] as? [String: Any] else { continue }
            if let s = value["stringValue"] as? String { out[key] = s }
            else if let i = value["intValue"] { out[key] = "int:\(i)" }
            else if let d = value["doubleValue"] { out[key] = "double:\(d)" }
            else if let b = value["boolValue"] { out[key] = "bool:\(b)" }
        }
        return out
    }

    /// A 64-bit integer, which the JSON mapping writes as a string.
    static func int64(_ any: Any?) -> Int64 {
        if let s = any as? String { return Int64(s) ?? -1 }
        if let n = any as? NSNumber { return n.int64Value }
        return 0
    }

    static func double(_ any: Any?) -> Double? {
        if let n = any as? NSNumber { return n.doubleValue }
        if let s = any as? String { return Double(s) }
        return nil
    }

    static func points(of m: [String: Any], request: Int) -> [ReceivedPoint] {
        let name = m["name"] as? String ?? "", unit = m["unit"] as? String ?? ""
        var out: [ReceivedPoint] = []
        func base(_ p: [String: Any], _ kind: String, _ temporality: Int, _ value: ReceivedPoint.Value) -> ReceivedPoint {
            var point = ReceivedPoint(metric: name, unit: unit, kind: kind, temporality: temporality, attributes: attributes(p["attributes"]),
                                      start: int64(p["startTimeUnixNano"]), time: int64(p["timeUnixNano"]), value: value, request: request)
            point.exemplars = (p["exemplars"] as? [[String: Any]] ?? []).map { e in
                ReceivedPoint.Exemplar(time: int64(e["timeUnixNano"]), value: double(e["asDouble"]) ?? .nan,
                                       traceID: hex(e["traceId"]), spanID: hex(e["spanId"]))
            }
            return point
        }
        func temporality(_ d: [String: Any]) -> Int {
            switch d["aggregationTemporality"] {
            case let s as String: s == "AGGREGATION_TEMPORALITY_CUMULATIVE" ? 2 : s == "AGGREGATION_TEMPORALITY_DELTA" ? 1 : 0
            case let n as NSNumber: n.intValue
            default: 0
            }
        }
        if let sum = m["sum"] as? [String: Any] {
            for p in sum["dataPoints"] as? [[String: Any]] ?? [] {
                let v: ReceivedPoint.Value = p["asInt"] != nil ? .int(int64(p["asInt"])) : .double(double(p["asDouble"]) ?? 0)
                out.append(base(p, "sum", temporality(sum), v))
            }
        }
        if let g = m["gauge"] as? [String: Any] {
            for p in g["dataPoints"] as? [[String: Any]] ?? [] {
                let v: ReceivedPoint.Value = p["asInt"] != nil ? .int(int64(p["asInt"])) : .double(double(p["asDouble"]) ?? 0)
                out.append(base(p, "gauge", 0, v))
            }
        }
        if let h = m["histogram"] as? [String: Any] {
            for p in h["dataPoints"] as? [[String: Any]] ?? [] {
                let buckets = (p["bucketCounts"] as? [Any] ?? []).map { int64($0) }
                let bounds = (p["explicitBounds"] as? [Any] ?? []).compactMap { double($0) }
                out.append(base(p, "histogram", temporality(h), .histogram(
                    count: int64(p["count"]), sum: double(p["sum"]) ?? 0, min: double(p["min"]), max: double(p["max"]), buckets: buckets, bounds: bounds)))
            }
        }
        if let s = m["summary"] as? [String: Any] {
            for p in s["dataPoints"] as? [[String: Any]] ?? [] {
                var q: [Double: Double] = [:]
                for qv in p["quantileValues"] as? [[String: Any]] ?? [] { q[double(qv["quantile"]) ?? 0] = double(qv["value"]) ?? 0 }
                out.append(base(p, "summary", 0, .summary(count: int64(p["count"]), sum: double(p["sum"]) ?? 0, quantiles: q)))
            }
        }
        return out
    }
}

/// A data point as the OTLP receiver decoded it.
public struct ReceivedPoint: Equatable, CustomStringConvertible, Sendable {
    public enum Value: Equatable, Sendable {
        case int(Int64)
        case double(Double)
        case histogram(count: Int64, sum: Double, min: Double?, max: Double?, buckets: [Int64], bounds: [Double])
        case summary(count: Int64, sum: Double, quantiles: [Double: Double])
    }

    public var metric: String
    public var unit: String
    public var kind: String  // sum, gauge, histogram, summary
    public var temporality: Int  // 1 delta, 2 cumulative, 0 none
    public var attributes: [String: String]
    public var start: Int64
    public var time: Int64
    public var value: Value
    public var request: Int  // receiver sequence number
    /// Its exemplars, ids as lower-case hex.
    public var exemplars: [Exemplar] = []

    public struct Exemplar: Equatable, Sendable {
        public var time: Int64
        public var value: Double
        public var traceID: String
        public var spanID: String
    }

    public init(metric: String, unit: String, kind: String, temporality: Int, attributes: [String: String],
                start: Int64, time: Int64, value: Value, request: Int) {
        self.metric = metric
        self.unit = unit
        self.kind = kind
        self.temporality = temporality
        self.attributes = attributes
        self.start = start
        self.time = time
        self.value = value
        self.request = request
    }

    public var seriesKey: String { attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
    public var description: String { "\(metric) \(seriesKey) [\(start)..\(time)] \(value)" }
}
