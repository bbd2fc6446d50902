import ClickHouse
import Foundation
import OTLP
import Yams

/// Loading `config/bridge.yaml`: every key is checked (unknown keys, missing or mistyped
/// fields, duplicate pipelines and metrics, unreadable templates, undeclared placeholders) and
/// every error names the file, the line and the key.
public enum PipelineFile {
    /// Defaults for keys a pipeline does not set, overridable under `defaults:`.
    public struct Defaults: Sendable {
        public var stepSeconds: Int64 = 60
        public var lagSeconds: Int64 = 120
        public var maxBucketsPerQuery = 60
        public var maxPointsPerRequest = 5_000
        public var maxRequestBytes = 4 * 1024 * 1024
        public var bucketColumn = "bucket"
        public var lateDataCheckSeconds: Int64 = 0
        public var lateData: LateDataPolicy = .fold
        public var maxPointAgeSeconds: Int64?
        public var tooOld: TooOldPolicy = .drop
        /// Distinct series per metric before the rest go to one overflow series (the OTel SDK's
        /// cardinality limit; its default is 2000 too).
        public var cardinalityLimit = 2_000
        /// A cumulative series idle this long is forgotten; if it returns it restarts.
        public var seriesExpirySeconds: Int64 = 7 * 86_400
        /// Request metadata keys exported as `portkey.metadata.<key>` (``MetadataAttributes``).
        public var metadataAttributes: [String] = []
    }

    /// Bounds of every number the file sets: an operator's typo gets a clear error, never an
    /// overflow later (steps and lags become nanoseconds, limits become allocations).
    enum Limits {
        static let stepSeconds: ClosedRange<Int64> = 1...(7 * 86_400)
        static let lagSeconds: ClosedRange<Int64> = 0...(30 * 86_400)
        static let lateDataCheckSeconds: ClosedRange<Int64> = 0...(7 * 86_400)
        static let seriesExpirySeconds: ClosedRange<Int64> = 60...(366 * 86_400)
        static let maxPointAgeSeconds: ClosedRange<Int64> = 0...(366 * 86_400)
        static let maxBucketsPerQuery: ClosedRange<Int> = 1...100_000
        static let maxPointsPerRequest: ClosedRange<Int> = 1...1_000_000
        static let maxRequestBytes: ClosedRange<Int> = 1_024...(64 * 1024 * 1024)
        static let cardinalityLimit: ClosedRange<Int> = 2...1_000_000
    }

    /// The placeholders the bridge fills itself.
    static let windowPlaceholders: Set<String> = ["window_start", "window_end", "step_seconds", MetadataAttributes.placeholder]

    /// Reads and validates the pipeline file at `path`. Query paths are relative to its folder.
    /// Metric mappings of other GenAI conventions than `conventions` are checked, then left out.
    public static func load(path: String, conventions: GenAIConventions = .v1_41_1) throws(PipelineConfigError) -> [PipelineConfiguration] {
        try loadFile(path: path, conventions: conventions).pipelines
    }

    /// Reads and validates the pipeline file at `path`: its `defaults:` and its pipelines.
    public static func loadFile(path: String, conventions: GenAIConventions = .v1_41_1) throws(PipelineConfigError) -> (defaults: Defaults, pipelines: [PipelineConfiguration]) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PipelineConfigError(.configuration, "cannot read the pipeline file (set BRIDGE_CONFIG to its path)", file: path, underlying: error)
        }
        let folder = (path as NSString).deletingLastPathComponent
        return try parseFile(yaml: text, file: path, conventions: conventions) { relative throws(PipelineConfigError) in
            let resolved = relative.hasPrefix("/") ? relative : (folder.isEmpty ? relative : folder + "/" + relative)
            do {
                return (resolved, try String(contentsOfFile: resolved, encoding: .utf8))
            } catch {
                throw PipelineConfigError(.template, "cannot read query template \(resolved)", file: path, key: "query", underlying: error)
            }
        }
    }

    /// Parses pipeline YAML; `readQuery` resolves and reads a template path.
    public static func parse(
        yaml: String, file: String, conventions: GenAIConventions = .v1_41_1,
        readQuery: (String) throws(PipelineConfigError) -> (path: String, sql: String)
    ) throws(PipelineConfigError) -> [PipelineConfiguration] {
        try parseFile(yaml: yaml, file: file, conventions: conventions, readQuery: readQuery).pipelines
    }

    /// Parses pipeline YAML into its `defaults:` and its pipelines.
    public static func parseFile(
        yaml: String, file: String, conventions: GenAIConventions = .v1_41_1, readQuery: (String) throws(PipelineConfigError) -> (path: String, sql: String)
    ) throws(PipelineConfigError) -> (defaults: Defaults, pipelines: [PipelineConfiguration]) {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw PipelineConfigError(.configuration, "the pipeline file is empty", file: file)
            }
            root = node
        } catch let error as PipelineConfigError {
            throw error
        } catch let error as YamlError {
            switch error {
            case .duplicatedKeysInMapping(let duplicates, let context):
                let key = duplicates.first ?? ""
                throw PipelineConfigError(.configuration, "key '\(key)' appears twice in one mapping", file: file,
                                  line: secondOccurrence(of: key, in: yaml, from: context.mark.line) ?? context.mark.line, key: key)
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                 .composer(let context, let problem, let mark, _):
                let started = context.map { ", \($0.text) in line \($0.mark.line), column \($0.mark.column)" } ?? ""
                throw PipelineConfigError(.configuration, "not valid YAML: \(problem) at column \(mark.column)\(started)", file: file, line: mark.line)
            default:
                throw PipelineConfigError(.configuration, "not valid YAML: \(error)", file: file)
            }
        } catch {
            throw PipelineConfigError(.configuration, "not valid YAML: \(error)", file: file)
        }
        var top = try YAMLMap(root, file: file, context: "the top level")
        var defaults = Defaults()
        if let node = top.take("defaults") {
            var map = try YAMLMap(node, file: file, context: "defaults")
            if let v = try map.duration("step", in: Limits.stepSeconds) { defaults.stepSeconds = v }
            if let v = try map.duration("lag", in: Limits.lagSeconds) { defaults.lagSeconds = v }
            if let v = try map.int("max_buckets_per_query", in: Limits.maxBucketsPerQuery) { defaults.maxBucketsPerQuery = v }
            if let v = try map.int("max_points_per_request", in: Limits.maxPointsPerRequest) { defaults.maxPointsPerRequest = v }
            if let v = try map.int("max_request_bytes", in: Limits.maxRequestBytes) { defaults.maxRequestBytes = v }
            if let v = try map.identifier("bucket_column") { defaults.bucketColumn = v }
            if let v = try map.duration("late_data_check", in: Limits.lateDataCheckSeconds) { defaults.lateDataCheckSeconds = v }
            if let v = try map.choice("late_data", LateDataPolicy.self) { defaults.lateData = v }
            if let v = try map.duration("max_point_age", in: Limits.maxPointAgeSeconds) { defaults.maxPointAgeSeconds = v }
            if let v = try map.choice("too_old", TooOldPolicy.self) { defaults.tooOld = v }
            if let v = try map.int("cardinality_limit", in: Limits.cardinalityLimit) { defaults.cardinalityLimit = v }
            if let v = try map.duration("series_expiry", in: Limits.seriesExpirySeconds) { defaults.seriesExpirySeconds = v }
            if let v = try map.metadataKeys() { defaults.metadataAttributes = v }
            try map.finish()
        }
        guard let pipelinesNode = top.take("pipelines") else {
            throw PipelineConfigError(.configuration, "missing key 'pipelines' (a list of pipelines)", file: file, line: top.line, key: "pipelines")
        }
        try top.finish()
        guard case .sequence(let sequence) = pipelinesNode else {
            throw PipelineConfigError(.configuration, "'pipelines' must be a list", file: file, line: line(pipelinesNode), key: "pipelines")
        }
        var pipelines: [PipelineConfiguration] = []
        var metricOwners: [String: (pipeline: String, line: Int?)] = [:]
        for node in sequence {
            let pipeline = try parsePipeline(node, file: file, defaults: defaults, conventions: conventions, readQuery: readQuery)
            if let other = pipelines.first(where: { $0.name == pipeline.name }) {
                throw PipelineConfigError(.configuration, "pipeline name '\(pipeline.name)' is used twice (first at line \(other.line ?? 0))",
                                  file: file, line: pipeline.line, key: "name")
            }
            for metric in pipeline.metrics {
                if let owner = metricOwners[metric.name] {
                    throw PipelineConfigError(.configuration,
                                      "metric '\(metric.name)' is defined twice (also in pipeline \(owner.pipeline), line \(owner.line ?? 0)); each metric identity must come from one place",
                                      pipeline: pipeline.name, file: file, line: metric.line, key: "metric_name")
                }
                metricOwners[metric.name] = (pipeline.name, metric.line)
            }
            pipelines.append(pipeline)
        }
        return (defaults, pipelines)
    }

    /// The line (1-based) of the second `key:` at the indentation of the first one at or after
    /// `from` — where Yams saw a duplicate key but reports only the mapping's line.
    static func secondOccurrence(of key: String, in yaml: String, from: Int) -> Int? {
        var indent: Int?
        for (i, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where i + 1 >= from {
            let body = line.drop { $0 == " " || $0 == "-" }
            guard body.hasPrefix(key + ":") else { continue }
            let column = line.count - body.count
            if let indent {
                if column == indent { return i + 1 }
            } else {
                indent = column
            }
        }
        return nil
    }

    static func parsePipeline(
        _ node: Node, file: String, defaults: Defaults, conventions: GenAIConventions = .v1_41_1,
        readQuery: (String) throws(PipelineConfigError) -> (path: String, sql: String)
    ) throws(PipelineConfigError) -> PipelineConfiguration {
        var map = try YAMLMap(node, file: file, context: "a pipeline")
        let name = try map.requiredString("name")
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
            throw PipelineConfigError(.configuration, "pipeline name '\(name)' may only contain letters, digits, '_', '-' and '.'",
                              file: file, line: map.line, key: "name")
        }
        do throws(PipelineConfigError) {
            let enabled = try map.bool("enabled") ?? true
            let queryPath = try map.requiredString("query")
            let step = try map.duration("step", in: Limits.stepSeconds) ?? defaults.stepSeconds
            let lag = try map.duration("lag", in: Limits.lagSeconds) ?? defaults.lagSeconds
            let bucketColumn = try map.identifier("bucket_column") ?? defaults.bucketColumn
            let maxBuckets = try map.int("max_buckets_per_query", in: Limits.maxBucketsPerQuery) ?? defaults.maxBucketsPerQuery
            let maxPoints = try map.int("max_points_per_request", in: Limits.maxPointsPerRequest) ?? defaults.maxPointsPerRequest
            let maxBytes = try map.int("max_request_bytes", in: Limits.maxRequestBytes) ?? defaults.maxRequestBytes
            let lateCheck = try map.duration("late_data_check", in: Limits.lateDataCheckSeconds) ?? defaults.lateDataCheckSeconds
            let lateData = try map.choice("late_data", LateDataPolicy.self) ?? defaults.lateData
            let maxAgeLine = map.line(of: "max_point_age")
            let maxAge = try map.duration("max_point_age", in: Limits.maxPointAgeSeconds) ?? defaults.maxPointAgeSeconds
            let tooOld = try map.choice("too_old", TooOldPolicy.self) ?? defaults.tooOld
            if let age = maxAge, let why = maxPointAgeProblem(age, stepSeconds: step, lagSeconds: lag) {
                throw PipelineConfigError(.configuration, why, file: file, line: maxAgeLine ?? map.line, key: "max_point_age")
            }
            let cardinality = try map.int("cardinality_limit", in: Limits.cardinalityLimit) ?? defaults.cardinalityLimit
            let expiry = try map.duration("series_expiry", in: Limits.seriesExpirySeconds) ?? defaults.seriesExpirySeconds
            let metadataKeys = try map.metadataKeys() ?? defaults.metadataAttributes
            var parameters: [(name: String, value: QueryParameter)] = []
            if let paramsNode = map.take("parameters") {
                var params = try YAMLMap(paramsNode, file: file, context: "parameters")
                for key in params.keys {
                    guard !windowPlaceholders.contains(key) else {
                        throw PipelineConfigError(.configuration, "parameter '\(key)' is set by the bridge itself", file: file, line: params.line, key: key)
                    }
                    parameters.append((key, try params.parameter(key)))
                }
                try params.finish()
            }
            guard let metricsNode = map.take("metrics"), case .sequence(let metricNodes) = metricsNode, !metricNodes.isEmpty else {
                throw PipelineConfigError(.configuration, "missing or empty 'metrics' (a list of metric mappings)", file: file, line: map.line, key: "metrics")
            }
            var metrics: [MetricMapping] = []
            for metricNode in metricNodes {
                let metric = try parseMetric(metricNode, file: file, cardinalityLimit: cardinality)
                if let other = metric.conventions, other != conventions { continue }  // another convention set's
                if metrics.contains(where: { $0.name == metric.name }) {
                    throw PipelineConfigError(.configuration, "metric '\(metric.name)' is defined twice", file: file, line: metric.line, key: "metric_name")
                }
                metrics.append(metric)
            }
            try map.finish()

            let (resolved, sql): (String, String)
            do {
                (resolved, sql) = try readQuery(queryPath)
            } catch {
                var located = error
                if located.line == nil { located.line = map.line(of: "query") }
                throw located
            }
            let placeholders = try Self.placeholders(in: sql, file: resolved)
            let declared = Set(parameters.map(\.name))
            for p in placeholders where !windowPlaceholders.contains(p.name) && !declared.contains(p.name) {
                throw PipelineConfigError(.template, "placeholder {\(p.name):\(p.type)} has no value: declare it under 'parameters' or use window_start, window_end, step_seconds",
                                  file: resolved, key: p.name)
            }
            for required in ["window_start", "window_end"] where !placeholders.contains(where: { $0.name == required }) {
                throw PipelineConfigError(.template, "the template must filter on {\(required):DateTime64(3, 'UTC')}", file: resolved, key: required)
            }
            for p in placeholders where p.name == "window_start" || p.name == "window_end" {
                try checkTimeType(p, file: resolved)
            }
            for p in placeholders where p.name == MetadataAttributes.placeholder
                && p.type.replacingOccurrences(of: " ", with: "") != MetadataAttributes.placeholderType {
                throw PipelineConfigError(.template, "declare {\(p.name):\(MetadataAttributes.placeholderType)}, not {\(p.name):\(p.type)}: the bridge fills it with the metadata_attributes list",
                                          file: resolved, key: p.name)
            }
            var pipeline = PipelineConfiguration(
                name: name, enabled: enabled, queryPath: queryPath, queryFile: resolved, sql: sql, placeholders: placeholders,
                stepSeconds: step, lagSeconds: lag, bucketColumn: bucketColumn, maxBucketsPerQuery: maxBuckets,
                maxPointsPerRequest: maxPoints, maxRequestBytes: maxBytes, lateDataCheckSeconds: lateCheck,
                seriesExpirySeconds: expiry, parameters: parameters, metadataAttributes: metadataKeys, metrics: metrics, line: map.line)
            pipeline.lateData = lateData
            pipeline.maxPointAgeSeconds = maxAge
            pipeline.tooOld = tooOld
            return pipeline
        } catch {
            throw error.with(pipeline: name)
        }
    }

    /// Why `max_point_age` cannot work with this step and lag, or `nil`: the newest closed bucket
    /// ends up to lag + step before now, so a shorter age would never send anything.
    public static func maxPointAgeProblem(_ seconds: Int64, stepSeconds: Int64, lagSeconds: Int64) -> String? {
        guard seconds > 0, seconds < stepSeconds + lagSeconds else { return nil }
        return "max_point_age (\(seconds) s) must be at least step + lag (\(stepSeconds + lagSeconds) s), or 0 (off): the newest closed bucket ends up to step + lag before now"
    }

    /// Whole seconds of a duration written as in the pipeline file (`60s`, `5m`, `1h`, `1d` or a
    /// number of seconds), or `nil`.
    public static func seconds(ofDuration text: String) -> Int64? { YAMLMap.parseDuration(text) }

    static func parseMetric(_ node: Node, file: String, cardinalityLimit: Int = Defaults().cardinalityLimit) throws(PipelineConfigError) -> MetricMapping {
        var map = try YAMLMap(node, file: file, context: "a metric")
        let name = try map.requiredString("metric_name")
        guard YAMLMap.isInstrumentName(name) else {
            throw PipelineConfigError(.configuration, "metric_name must follow the OpenTelemetry instrument name syntax: an ASCII letter, then up to 254 letters, digits, '_', '.', '-' or '/'",
                              file: file, line: map.line(of: "metric_name"), key: "metric_name")
        }
        let cardinalityLimit = try map.int("cardinality_limit", in: Limits.cardinalityLimit) ?? cardinalityLimit
        let description = try map.string("description") ?? ""
        let unit = try map.string("unit") ?? ""
        let attributeColumns = try map.stringList("attribute_columns") ?? []
        var staticAttributes: [Attribute] = []
        if let node = map.take("static_attributes") {
            var attrs = try YAMLMap(node, file: file, context: "static_attributes")
            for key in attrs.keys { staticAttributes.append(Attribute(key, try attrs.attributeValue(key))) }
            try attrs.finish()
        }
        let exemplarColumn = try map.string("exemplar_column")
        var rowFilter: [MetricMapping.RowFilter] = []
        if let node = map.take("row_filter") {
            var filters = try YAMLMap(node, file: file, context: "row_filter")
            for column in filters.keys {
                guard let values = try filters.stringList(column), !values.isEmpty else {
                    throw PipelineConfigError(.configuration, "row_filter '\(column)' must list the values a row may hold", file: file, line: filters.line, key: column)
                }
                rowFilter.append(.init(column: column, values: values))
            }
            try filters.finish()
        }
        var conventions: GenAIConventions?
        if let text = try map.string("semconv") {
            guard let c = GenAIConventions(rawValue: text) else {
                throw PipelineConfigError(.configuration, "semconv must be \(GenAIConventions.allCases.map(\.rawValue).joined(separator: " or ")), not '\(text)'",
                                          file: file, line: map.line(of: "semconv"), key: "semconv")
            }
            conventions = c
        }
        let dataType = try map.requiredString("data_type")
        let kind: MetricMapping.Kind
        switch dataType {
        case "sum", "gauge":
            let valueColumn = try map.requiredString("value_column")
            let valueTypeText = try map.string("value_type") ?? "int"
            guard let valueType = MetricMapping.ValueType(rawValue: valueTypeText) else {
                throw PipelineConfigError(.configuration, "value_type must be int or double, not '\(valueTypeText)'", file: file, line: map.line(of: "value_type"), key: "value_type")
            }
            if dataType == "sum" {
                kind = .sum(.init(valueColumn: valueColumn, valueType: valueType, monotonic: try map.bool("monotonic") ?? true))
            } else {
                kind = .gauge(.init(valueColumn: valueColumn, valueType: valueType))
            }
        case "histogram":
            let bounds = try map.requiredNumberList("explicit_bounds")
            guard bounds.allSatisfy(\.isFinite), zip(bounds, bounds.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw PipelineConfigError(.configuration, "explicit_bounds must be finite and strictly increasing", file: file, line: map.line(of: "explicit_bounds"), key: "explicit_bounds")
            }
            kind = .histogram(.init(
                bounds: bounds, countColumn: try map.requiredString("count_column"), sumColumn: try map.requiredString("sum_column"),
                minColumn: try map.string("min_column"), maxColumn: try map.string("max_column"),
                bucketCountsColumn: try map.requiredString("bucket_counts_column")))
        case "summary":
            let quantiles = try map.requiredNumberList("quantiles")
            guard quantiles.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
                throw PipelineConfigError(.configuration, "quantiles must lie in [0, 1]", file: file, line: map.line(of: "quantiles"), key: "quantiles")
            }
            kind = .summary(.init(
                quantiles: quantiles, quantileValuesColumn: try map.requiredString("quantile_values_column"),
                countColumn: try map.requiredString("count_column"), sumColumn: try map.requiredString("sum_column")))
        default:
            throw PipelineConfigError(.configuration, "data_type must be sum, gauge, histogram or summary, not '\(dataType)'",
                              file: file, line: map.line(of: "data_type"), key: "data_type")
        }
        if exemplarColumn != nil, case .summary = kind {
            throw PipelineConfigError(.configuration, "a summary has no exemplars: exemplar_column is for sums, gauges and histograms",
                                      file: file, line: map.line(of: "exemplar_column"), key: "exemplar_column")
        }
        try map.finish()
        return MetricMapping(name: name, description: description, unit: unit, attributeColumns: attributeColumns,
                             staticAttributes: staticAttributes, kind: kind, cardinalityLimit: cardinalityLimit,
                             exemplarColumn: exemplarColumn, rowFilter: rowFilter, conventions: conventions, line: map.line)
    }

    /// The `{name:Type}` placeholders of a template, in order of first use. Text inside quotes and
    /// comments is skipped, as ClickHouse does.
    static func placeholders(in sql: String, file: String) throws(PipelineConfigError) -> [PipelineConfiguration.Placeholder] {
        var result: [PipelineConfiguration.Placeholder] = []
        let chars = Array(sql.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" || c == "`" || c == "\"" {
                i += 1
                while i < chars.count && chars[i] != c { if chars[i] == "\\" { i += 1 }; i += 1 }
                i += 1
                continue
            }
            if c == "-" && i + 1 < chars.count && chars[i + 1] == "-" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/" && i + 1 < chars.count && chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count && !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                i += 2
                continue
            }
            if c == "{" {
                var j = i + 1
                var depth = 0
                var text = ""
                while j < chars.count && !(chars[j] == "}" && depth == 0) {
                    if chars[j] == "(" { depth += 1 }
                    if chars[j] == ")" { depth -= 1 }
                    text.unicodeScalars.append(chars[j])
                    j += 1
                }
                guard j < chars.count, let colon = text.firstIndex(of: ":") else {
                    throw PipelineConfigError(.template, "unterminated or malformed placeholder near '{\(text.prefix(30))'", file: file)
                }
                let name = text[..<colon].trimmingCharacters(in: .whitespaces)
                let type = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !result.contains(where: { $0.name == name }) { result.append(.init(name: name, type: type)) }
                i = j + 1
                continue
            }
            i += 1
        }
        return result
    }

    /// A window placeholder's declared type: DateTime or DateTime64 in UTC, or an integer (Unix
    /// seconds), so the server's time zone plays no part in the values the bridge sends.
    static func checkTimeType(_ placeholder: PipelineConfiguration.Placeholder, file: String) throws(PipelineConfigError) {
        let type = placeholder.type.replacingOccurrences(of: " ", with: "")
        if type.hasPrefix("DateTime64(") || type.hasPrefix("DateTime(") {
            guard type.contains("'UTC'") else {
                throw PipelineConfigError(.template, "declare {\(placeholder.name):\(placeholder.type)} with the 'UTC' time zone (for example DateTime64(3, 'UTC')), so the server's time zone plays no part",
                                          file: file, key: placeholder.name)
            }
            return
        }
        if ["UInt32", "UInt64", "Int64", "Int32"].contains(type) { return }
        throw PipelineConfigError(.template, "{\(placeholder.name)} must be DateTime64(p, 'UTC'), DateTime('UTC') or an integer of Unix seconds, not \(placeholder.type)",
                                  file: file, key: placeholder.name)
    }

    static func line(_ node: Node) -> Int? { node.mark.map { $0.line } }
}
