import ClickHouse
import Foundation
import OTLP
import Yams

/// A YAML mapping being read: taking keys, converting values, and finally rejecting unknown keys.
struct YAMLMap {
    let file: String
    let context: String
    let line: Int?
    private var entries: [(key: String, value: Node, line: Int?)]
    private var taken: Set<String> = []

    init(_ node: Node, file: String, context: String) throws(PipelineConfigError) {
        self.file = file
        self.context = context
        self.line = node.mark.map { $0.line }
        guard case .mapping(let mapping) = node else {
            throw PipelineConfigError(.configuration, "\(context) must be a mapping of keys to values", file: file, line: line)
        }
        var entries: [(key: String, value: Node, line: Int?)] = []
        for (k, v) in mapping {
            guard let key = k.string else {
                throw PipelineConfigError(.configuration, "keys must be strings in \(context)", file: file, line: k.mark?.line)
            }
            if entries.contains(where: { $0.key == key }) {
                throw PipelineConfigError(.configuration, "key '\(key)' appears twice in \(context)", file: file, line: k.mark?.line, key: key)
            }
            entries.append((key, v, k.mark?.line))
        }
        self.entries = entries
    }

    var keys: [String] { entries.map(\.key) }

    func line(of key: String) -> Int? { entries.first { $0.key == key }?.line ?? line }

    mutating func take(_ key: String) -> Node? {
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        taken.insert(key)
        return entry.value
    }

    func finish() throws(PipelineConfigError) {
        if let unknown = entries.first(where: { !taken.contains($0.key) }) {
            throw PipelineConfigError(.configuration, "unknown key '\(unknown.key)' in \(context)", file: file, line: unknown.line, key: unknown.key)
        }
    }

    private func fail(_ key: String, _ why: String) -> PipelineConfigError {
        PipelineConfigError(.configuration, why, file: file, line: line(of: key), key: key)
    }

    mutating func string(_ key: String) throws(PipelineConfigError) -> String? {
        guard let node = take(key) else { return nil }
        guard case .scalar(let scalar) = node else { throw fail(key, "'\(key)' must be a string") }
        return scalar.string
    }

    mutating func requiredString(_ key: String) throws(PipelineConfigError) -> String {
        guard let value = try string(key) else { throw fail(key, "missing required key '\(key)' in \(context)") }
        guard !value.isEmpty else { throw fail(key, "'\(key)' must not be empty") }
        return value
    }

    /// One of `T`'s raw values.
    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) throws(PipelineConfigError) -> T? where T.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let value = T(rawValue: text) else {
            throw fail(key, "'\(key)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
        }
        return value
    }

    mutating func bool(_ key: String) throws(PipelineConfigError) -> Bool? {
        guard let node = take(key) else { return nil }
        guard let b = node.bool else { throw fail(key, "'\(key)' must be true or false") }
        return b
    }

    /// A whole number within `range`.
    mutating func int(_ key: String, in range: ClosedRange<Int>) throws(PipelineConfigError) -> Int? {
        guard let node = take(key) else { return nil }
        guard let v = node.int, range.contains(v) else {
            throw fail(key, "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(node.string ?? "?")'")
        }
        return v
    }

    /// A ClickHouse identifier (letters, digits, `_`, not starting with a digit): the bridge
    /// writes it into SQL (the ORDER BY of the wrapped template), so nothing else is accepted.
    mutating func identifier(_ key: String) throws(PipelineConfigError) -> String? {
        guard let value = try string(key) else { return nil }
        guard Self.isIdentifier(value) else {
            throw fail(key, "'\(key)' must be a column name of letters, digits and '_' (not starting with a digit); alias the column in the query if needed")
        }
        return value
    }

    /// The OpenTelemetry API's instrument name syntax (it also keeps every name storable as-is).
    static func isInstrumentName(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard let first = scalars.first, scalars.count <= 255, first.isASCII, first.properties.isAlphabetic else { return false }
        return scalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-/".unicodeScalars.contains($0)) }
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 128 else { return false }
        func ok(_ c: Unicode.Scalar) -> Bool { c.isASCII && (c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)) }
        return ok(first) && !("0"..."9").contains(first) && s.unicodeScalars.allSatisfy(ok)
    }

    /// `60s`, `2m`, `1h`, `1d` or a number of seconds, within `range` (whole seconds).
    mutating func duration(_ key: String, in range: ClosedRange<Int64>) throws(PipelineConfigError) -> Int64? {
        guard let node = take(key) else { return nil }
        guard case .scalar = node, let text = node.string else {
            throw fail(key, "'\(key)' must be a duration like 60s, 5m, 1h or a number of seconds")
        }
        guard let seconds = Self.parseDuration(text), range.contains(seconds) else {
            throw fail(key, "'\(key)' must be a duration like 60s, 5m, 1h or a number of seconds, from \(range.lowerBound) s to \(range.upperBound) s, not '\(text)'")
        }
        return seconds
    }

    /// Whole seconds, or `nil` for text that is not a duration or overflows.
    static func parseDuration(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("ms", 0), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard factor > 0, let n = Int64(t.dropLast(suffix.count)), n >= 0 else { return nil }
            let (seconds, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : seconds
        }
        return Int64(t).flatMap { $0 >= 0 ? $0 : nil }
    }

    mutating func stringList(_ key: String) throws(PipelineConfigError) -> [String]? {
        guard let node = take(key) else { return nil }
        guard case .sequence(let seq) = node else { throw fail(key, "'\(key)' must be a list of strings") }
        var out: [String] = []
        for item in seq {
            guard case .scalar(let s) = item, !s.string.isEmpty else { throw fail(key, "'\(key)' must be a list of non-empty strings") }
            if out.contains(s.string) { throw fail(key, "'\(key)' lists '\(s.string)' twice") }
            out.append(s.string)
        }
        return out
    }

    /// `metadata_attributes`: a list of request metadata keys (``MetadataAttributes/problem(_:)``).
    mutating func metadataKeys() throws(PipelineConfigError) -> [String]? {
        let key = "metadata_attributes"
        guard let node = take(key) else { return nil }
        guard case .sequence(let seq) = node else { throw fail(key, "'\(key)' must be a list of metadata keys, such as [team, feature]") }
        var keys: [String] = []
        for item in seq {
            guard case .scalar(let s) = item else { throw fail(key, "'\(key)' must be a list of metadata keys, such as [team, feature]") }
            keys.append(s.string)
        }
        if let problem = MetadataAttributes.problem(keys) { throw fail(key, "'\(key)': \(problem)") }
        return keys
    }

    mutating func requiredNumberList(_ key: String) throws(PipelineConfigError) -> [Double] {
        guard let node = take(key) else { throw fail(key, "missing required key '\(key)' in \(context)") }
        guard case .sequence(let seq) = node, !seq.isEmpty else { throw fail(key, "'\(key)' must be a non-empty list of numbers") }
        var out: [Double] = []
        for item in seq {
            guard let v = item.float ?? item.int.map(Double.init) else { throw fail(key, "'\(key)' must be a list of numbers") }
            out.append(v)
        }
        return out
    }

    /// A query parameter value: a string, a number, a boolean or a list of those.
    mutating func parameter(_ key: String) throws(PipelineConfigError) -> QueryParameter {
        guard let node = take(key) else { throw fail(key, "missing '\(key)'") }
        guard let value = Self.parameter(node) else {
            throw fail(key, "parameter '\(key)' must be a string, number, boolean or a list of them")
        }
        return value
    }

    private static func parameter(_ node: Node) -> QueryParameter? {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if let i = node.int { return .int(Int64(i)) }
                if let d = node.float { return .double(d) }
                if let b = node.bool { return .bool(b) }
            }
            return .string(s.string)
        case .sequence(let seq):
            var items: [QueryParameter] = []
            for item in seq {
                guard let v = parameter(item) else { return nil }
                items.append(v)
            }
            return .array(items)
        default:
            return nil
        }
    }

    mutating func attributeValue(_ key: String) throws(PipelineConfigError) -> Attribute.Value {
        guard let node = take(key), case .scalar(let s) = node else { throw fail(key, "static attribute '\(key)' must be a scalar") }
        if s.style == .plain {
            if let i = node.int { return .int(Int64(i)) }
            if let d = node.float { return .double(d) }
            if let b = node.bool { return .bool(b) }
        }
        return .string(s.string)
    }
}
