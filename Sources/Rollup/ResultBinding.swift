import ClickHouse
import OTLP
import PipelineConfig
import UTCTime

/// One series' value in one bucket, as read from a result row (before temporality).
package enum Observation: Equatable {
    case int(Int64)
    case double(Double)
    case histogram(count: UInt64, sum: Double, min: Double?, max: Double?, buckets: [UInt64])
    case summary(count: UInt64, sum: Double, quantiles: [Double])
}

/// A pipeline's metric mappings bound to the columns of an actual result: every column a mapping
/// names must exist with a type that fits, checked once against the result header; then each
/// row is read by column index and checked value by value.
package struct ResultBinding {
    package struct BoundAttribute {
        let key: String
        let column: Int
        let type: ClickHouseType
    }

    package enum BoundValue {
        case number(column: Int, valueType: MetricMapping.ValueType, nonNegative: Bool)
        case histogram(count: Int, sum: Int, min: Int?, max: Int?, buckets: Int, bounds: Int)
        case summary(count: Int, sum: Int, quantiles: Int, levels: Int)
    }

    /// A class: rows refer to their metric's binding millions of times, copies would cost.
    package final class BoundMetric {
        package let index: Int
        package let mapping: MetricMapping
        let attributes: [BoundAttribute]
        let value: BoundValue
        /// The exemplar column (``MetricMapping/exemplarColumn``).
        let exemplar: Int?
        /// The `row_filter` columns and the values a row the metric reads may hold in each.
        let filters: [(column: Int, values: Set<String>)]
        /// The attribute columns, in order: what identifies a series in a row.
        let attributeColumns: [Int]
        package let cardinalityLimit: Int
        package let isGauge: Bool
        /// A number value in a column of a fixed-width type, in a metric without `row_filter`: read
        /// from the row's bytes, not decoded (``ResultBinding/directObservation(of:in:)``).
        let direct: (column: Int, width: Direct, valueType: MetricMapping.ValueType, nonNegative: Bool)?

        init(index: Int, mapping: MetricMapping, attributes: [BoundAttribute], value: BoundValue, exemplar: Int?,
             filters: [(column: Int, values: Set<String>)], columnTypes: [ClickHouseType] = []) {
            self.index = index
            self.mapping = mapping
            self.attributes = attributes
            self.value = value
            self.exemplar = exemplar
            self.filters = filters
            self.attributeColumns = attributes.map(\.column)
            self.cardinalityLimit = mapping.cardinalityLimit
            if case .gauge = mapping.kind { isGauge = true } else { isGauge = false }
            if case .number(let column, let valueType, let nonNegative) = value, filters.isEmpty, column < columnTypes.count,
               let width = Direct(columnTypes[column]) {
                direct = (column, width, valueType, nonNegative)
            } else {
                direct = nil
            }
        }
    }

    /// A non-Nullable number column of a fixed width: how its bytes read.
    package enum Direct {
        case uint8, uint16, uint32, uint64, int8, int16, int32, int64, float32, float64, bool

        init?(_ type: ClickHouseType) {
            switch type {
            case .uint8: self = .uint8
            case .uint16: self = .uint16
            case .uint32: self = .uint32
            case .uint64: self = .uint64
            case .int8: self = .int8
            case .int16: self = .int16
            case .int32: self = .int32
            case .int64: self = .int64
            case .float32: self = .float32
            case .float64: self = .float64
            case .bool: self = .bool
            default: return nil
            }
        }
    }

    /// A non-Nullable bucket column read from the row's bytes: seconds (DateTime) or ticks of
    /// 10^-precision s (DateTime64, precision 0...9).
    private enum DirectTime {
        case seconds
        case ticks(perSecond: Int64)
    }

    package let pipeline: PipelineConfiguration
    package let bucketColumn: Int
    package let columnNames: [String]
    package let columnTypes: [ClickHouseType]
    package let metrics: [BoundMetric]
    /// The columns whose values a row must decode: the bucket and every value column (attribute
    /// columns are found by their bytes, ``SeriesTable``).
    package let decodedColumns: [Bool]
    /// The bucket column, when it is read from the row's bytes.
    private let directBucket: DirectTime?

    /// Checks the result header against the mappings.
    package init(pipeline: PipelineConfiguration, columns: [ClickHouseRowStream.Column]) throws(BridgeError) {
        self.pipeline = pipeline
        columnNames = columns.map(\.name)
        columnTypes = columns.map(\.type)
        func fail(_ column: String, _ why: String) -> BridgeError {
            BridgeError(.template, why, pipeline: pipeline.name, file: pipeline.queryFile, key: column)
        }
        func column(_ name: String, for metric: String) throws(BridgeError) -> (Int, ClickHouseType) {
            guard let i = columns.firstIndex(where: { $0.name == name }) else {
                throw fail(name, "metric \(metric) reads column '\(name)', which the query does not return (it returns: \(columns.map(\.name).joined(separator: ", ")))")
            }
            return (i, columns[i].type)
        }
        guard let b = columns.firstIndex(where: { $0.name == pipeline.bucketColumn }) else {
            throw fail(pipeline.bucketColumn, "the query returns no bucket column '\(pipeline.bucketColumn)' (set bucket_column, or alias the bucket start AS \(pipeline.bucketColumn))")
        }
        let bucketIsNullable: Bool
        if case .nullable = columns[b].type { bucketIsNullable = true } else { bucketIsNullable = false }
        guard columns[b].type.isTime, !bucketIsNullable else {
            throw fail(pipeline.bucketColumn, "the bucket column must be a non-Nullable DateTime or DateTime64, not \(columns[b].typeName)")
        }
        bucketColumn = b

        func numberValue(_ v: String, valueType: MetricMapping.ValueType, nonNegative: Bool, metric: String) throws(BridgeError) -> BoundValue {
            let (i, type) = try column(v, for: metric)
            guard type.nonNullable.isNumeric else {
                throw fail(v, "value column '\(v)' of metric \(metric) must be numeric, not \(columns[i].typeName)")
            }
            if valueType == .int && !type.nonNullable.isInteger {
                throw fail(v, "metric \(metric) has value_type int but column '\(v)' is \(columns[i].typeName); use an integer column or value_type double")
            }
            return .number(column: i, valueType: valueType, nonNegative: nonNegative)
        }

        var bound: [BoundMetric] = []
        for (index, metric) in pipeline.metrics.enumerated() {
            var attributes: [BoundAttribute] = []
            for name in metric.attributeColumns {
                let (i, type) = try column(name, for: metric.name)
                switch type.nonNullable {
                case .string, .fixedString, .uuid, .ipv4, .ipv6, .enum8, .enum16, .bool, .float32, .float64:
                    break
                case _ where Self.isPairs(type):
                    break  // (key, value) pairs: `name.key` attributes
                default:
                    guard type.isInteger else {
                        throw fail(name, "attribute column '\(name)' of metric \(metric.name) has type \(columns[i].typeName); attributes must be strings, numbers or booleans, or (key, value) pairs as Array(Tuple(String, String)) or Map(String, String)")
                    }
                }
                attributes.append(BoundAttribute(key: name, column: i, type: type))
            }
            let value: BoundValue
            switch metric.kind {
            case .sum(let sum):
                value = try numberValue(sum.valueColumn, valueType: sum.valueType, nonNegative: sum.monotonic, metric: metric.name)
            case .gauge(let gauge):
                value = try numberValue(gauge.valueColumn, valueType: gauge.valueType, nonNegative: false, metric: metric.name)
            case .histogram(let histogram):
                let countColumn = histogram.countColumn, sumColumn = histogram.sumColumn, bucketsColumn = histogram.bucketCountsColumn
                let (c, ct) = try column(countColumn, for: metric.name)
                guard ct.nonNullable.isInteger else { throw fail(countColumn, "count column '\(countColumn)' must be an integer, not \(columns[c].typeName)") }
                let (s, st) = try column(sumColumn, for: metric.name)
                guard st.nonNullable.isNumeric else { throw fail(sumColumn, "sum column '\(sumColumn)' must be numeric, not \(columns[s].typeName)") }
                var mn: Int?, mx: Int?
                for (name, slot) in [(histogram.minColumn, 0), (histogram.maxColumn, 1)] {
                    guard let name else { continue }
                    let (i, t) = try column(name, for: metric.name)
                    guard t.nonNullable.isNumeric else { throw fail(name, "column '\(name)' must be numeric, not \(columns[i].typeName)") }
                    if slot == 0 { mn = i } else { mx = i }
                }
                let (bk, bt) = try column(bucketsColumn, for: metric.name)
                guard case .array(let element) = bt, element.nonNullable.isInteger else {
                    throw fail(bucketsColumn, "bucket counts column '\(bucketsColumn)' must be an Array of integers, not \(columns[bk].typeName)")
                }
                value = .histogram(count: c, sum: s, min: mn, max: mx, buckets: bk, bounds: histogram.bounds.count)
            case .summary(let summary):
                let quantilesColumn = summary.quantileValuesColumn, countColumn = summary.countColumn, sumColumn = summary.sumColumn
                let (q, qt) = try column(quantilesColumn, for: metric.name)
                guard case .array(let element) = qt, element.nonNullable.isNumeric else {
                    throw fail(quantilesColumn, "quantile values column '\(quantilesColumn)' must be an Array of numbers (quantilesExact(…)(x)), not \(columns[q].typeName)")
                }
                let (c, ct) = try column(countColumn, for: metric.name)
                guard ct.nonNullable.isInteger else { throw fail(countColumn, "count column '\(countColumn)' must be an integer, not \(columns[c].typeName)") }
                let (s, st) = try column(sumColumn, for: metric.name)
                guard st.nonNullable.isNumeric else { throw fail(sumColumn, "sum column '\(sumColumn)' must be numeric, not \(columns[s].typeName)") }
                value = .summary(count: c, sum: s, quantiles: q, levels: summary.quantiles.count)
            }
            var exemplar: Int?
            if let name = metric.exemplarColumn {
                let (i, type) = try column(name, for: metric.name)
                guard case .tuple(let parts) = type.nonNullable, parts.count == 5, parts[0].nonNullable.isTime,
                      parts[1...3].allSatisfy(Self.isIDText), parts[4].nonNullable.isNumeric else {
                    throw fail(name, "exemplar column '\(name)' of metric \(metric.name) must be Tuple(time, trace_id, span_id, id, value): a DateTime64, three Strings (or a UUID id) and a number, such as argMax((created_at, trace_id, span_id, toString(id), x), (x, created_at, id)); not \(columns[i].typeName)")
                }
                exemplar = i
            }
            var filters: [(column: Int, values: Set<String>)] = []
            for filter in metric.rowFilter {
                let (i, type) = try column(filter.column, for: metric.name)
                switch type.nonNullable {
                case .string, .fixedString: filters.append((i, Set(filter.values)))
                default: throw fail(filter.column, "row_filter column '\(filter.column)' of metric \(metric.name) must be a string, not \(columns[i].typeName)")
                }
            }
            bound.append(BoundMetric(index: index, mapping: metric, attributes: attributes, value: value, exemplar: exemplar, filters: filters,
                                     columnTypes: columnTypes))
        }
        metrics = bound
        switch columns[b].type {
        case .dateTime: directBucket = .seconds
        case .dateTime64(let precision, _) where (0...9).contains(precision):
            var perSecond: Int64 = 1
            for _ in 0..<precision { perSecond *= 10 }
            directBucket = .ticks(perSecond: perSecond)
        default: directBucket = nil
        }
        var decoded = Array(repeating: false, count: columns.count)
        decoded[b] = directBucket == nil
        for metric in bound {
            let used: [Int?] = switch metric.value {
            case .number(let column, _, _): [metric.direct == nil ? column : nil]
            case .histogram(let count, let sum, let min, let max, let buckets, _): [count, sum, min, max, buckets]
            case .summary(let count, let sum, let quantiles, _): [count, sum, quantiles]
            }
            for case let c? in used + [metric.exemplar] { decoded[c] = true }
            for f in metric.filters { decoded[f.column] = true }
        }
        decodedColumns = decoded
    }

    private func resultError(_ column: String, row: Int, _ why: String) -> BridgeError {
        BridgeError(.result, "row \(row): \(why)", pipeline: pipeline.name, file: pipeline.queryFile, key: column)
    }

    /// The row's bucket start read from its bytes, when the bucket column is not decoded and the
    /// bucket passes ``bucket(_:rowNumber:window:planner:)``'s checks; `nil` otherwise (that
    /// function, with the column decoded, gives the value or the error).
    @inline(__always)
    package func directBucket(in raw: RawRow, window: TimeWindow, planner: WindowPlanner) -> Int64? {
        let t: Int64
        switch directBucket {
        case nil: return nil
        case .seconds:
            t = Int64(raw.load(UInt32.self, column: bucketColumn)) * 1_000_000_000
        case .ticks(let perSecond):
            let ticks = raw.load(Int64.self, column: bucketColumn)
            let (ns, o) = ticks.multipliedReportingOverflow(by: 1_000_000_000 / perSecond)
            if o { return nil }
            t = ns
        }
        guard t >= window.start && t < window.end, planner.isAligned(t) else { return nil }
        return t
    }

    /// The metric's value read from the row's bytes, when its column is not decoded and the value
    /// passes ``observation(of:in:rowNumber:)``'s checks; `nil` otherwise (that function, with
    /// the column decoded, gives the value or the error).
    @inline(__always)
    package func directObservation(of metric: BoundMetric, in raw: RawRow) -> Observation? {
        guard let (column, width, valueType, nonNegative) = metric.direct else { return nil }
        var double: Double
        switch width {
        case .uint8: double = Double(raw.load(UInt8.self, column: column))
        case .uint16: double = Double(raw.load(UInt16.self, column: column))
        case .uint32: double = Double(raw.load(UInt32.self, column: column))
        case .uint64:
            let v = raw.load(UInt64.self, column: column)
            if valueType == .int {
                guard v <= UInt64(Int64.max) else { return nil }
                return .int(Int64(v))
            }
            double = Double(v)
        case .int8: double = Double(raw.load(Int8.self, column: column))
        case .int16: double = Double(raw.load(Int16.self, column: column))
        case .int32: double = Double(raw.load(Int32.self, column: column))
        case .int64:
            let v = raw.load(Int64.self, column: column)
            if valueType == .int {
                guard !nonNegative || v >= 0 else { return nil }
                return .int(v)
            }
            double = Double(v)
        case .float32: double = Double(Float(bitPattern: raw.load(UInt32.self, column: column)))
        case .float64: double = Double(bitPattern: raw.load(UInt64.self, column: column))
        case .bool:
            let b = raw.load(UInt8.self, column: column) != 0
            if valueType == .int { return .int(b ? 1 : 0) }
            return nil  // a Bool as a double: as decoded
        }
        switch valueType {
        case .int:
            // Narrower integers: exact in a Double; floats are not integers (an error, decoded).
            switch width {
            case .float32, .float64: return nil
            default:
                guard !nonNegative || double >= 0 else { return nil }
                return .int(Int64(double))
            }
        case .double:
            guard double.isFinite, !nonNegative || double >= 0 else { return nil }
            return .double(double)
        }
    }

    /// The row's bucket start, checked to lie inside `window` and on a bucket boundary.
    package func bucket(_ row: [ClickHouseValue], rowNumber: Int, window: TimeWindow, planner: WindowPlanner) throws(BridgeError) -> Int64 {
        let name = pipeline.bucketColumn
        guard let t = row[bucketColumn].unixNanoseconds else {
            throw resultError(name, row: rowNumber, "the bucket is NULL or not a time")
        }
        guard t >= window.start && t < window.end else {
            throw resultError(name, row: rowNumber, "bucket \(UTCInstant(unixNanoseconds: t).iso8601) lies outside the queried window \(window); filter on {window_start} and {window_end}")
        }
        guard planner.isAligned(t) else {
            throw resultError(name, row: rowNumber, "bucket \(UTCInstant(unixNanoseconds: t).iso8601) is not aligned to the \(pipeline.stepSeconds) s step (use toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC'))")
        }
        return t
    }

    /// The attributes of `metric` in `row`: empty strings and NULLs omitted, then static ones. A
    /// column of (key, value) pairs gives `column.key` per pair with a non-empty key and value.
    package func attributes(of metric: BoundMetric, in row: [ClickHouseValue]) -> [Attribute] {
        var out: [Attribute] = []
        out.reserveCapacity(metric.attributes.count + metric.mapping.staticAttributes.count)
        for a in metric.attributes {
            switch row[a.column] {
            case .null: continue
            case .array, .map: Self.appendPairs(a.key, row[a.column], to: &out)
            case .string(let s): if !s.isEmpty { out.append(Attribute(a.key, .string(s))) }
            case .int(let v): out.append(Attribute(a.key, .int(v)))
            case .uint(let v): out.append(v <= UInt64(Int64.max) ? Attribute(a.key, .int(Int64(v))) : Attribute(a.key, .string(String(v))))
            case .bool(let b): out.append(Attribute(a.key, .bool(b)))
            case .float(let d): out.append(Attribute(a.key, .double(d)))
            case let other: if let text = other.text { out.append(Attribute(a.key, .string(text))) }
            }
        }
        out += metric.mapping.staticAttributes
        return out
    }

    private static func isIDText(_ type: ClickHouseType) -> Bool {
        switch type.nonNullable { case .string, .fixedString, .uuid: true; default: false }
    }

    /// The exemplar of `metric` in `row`: the request its exemplar column names, with the ids of
    /// that row's span (``SpanIDs/of(id:traceID:spanID:)``, as the GenAI traces pipeline gives
    /// them); `nil` without an exemplar column or for a NULL tuple.
    package func exemplar(of metric: BoundMetric, in row: [ClickHouseValue], rowNumber: Int) throws(BridgeError) -> Exemplar? {
        guard let column = metric.exemplar else { return nil }
        guard case .tuple(let parts) = row[column], parts.count == 5 else { return nil }
        guard let time = parts[0].unixNanoseconds, time >= 0 else {
            throw resultError(columnNames[column], row: rowNumber, "metric \(metric.mapping.name): the exemplar's time \(parts[0]) is NULL or before 1970")
        }
        guard let value = parts[4].double, value.isFinite else {
            throw resultError(columnNames[column], row: rowNumber, "metric \(metric.mapping.name): the exemplar's value \(parts[4]) is not a finite number")
        }
        func text(_ v: ClickHouseValue) -> String { v.isNull ? "" : (v.text ?? "") }
        let ids = SpanIDs.of(id: text(parts[3]), traceID: text(parts[1]), spanID: text(parts[2]))
        return Exemplar(timeUnixNano: UInt64(time), value: value, traceID: ids.traceID, spanID: ids.spanID)
    }

    /// Whether a column of `type` holds (key, value) pairs: `Array(Tuple(String, String))` or
    /// `Map(String, String)` (what the templates' request metadata column is).
    package static func isPairs(_ type: ClickHouseType) -> Bool {
        func isText(_ t: ClickHouseType) -> Bool {
            switch t.nonNullable { case .string, .fixedString: true; default: false }
        }
        switch type.nonNullable {
        case .array(.tuple(let pair)): return pair.count == 2 && pair.allSatisfy(isText)
        case .map(let k, let v): return isText(k) && isText(v)
        default: return false
        }
    }

    /// The pairs of a pairs column's `value` as attributes `prefix.key`, in their order; a pair
    /// with an empty key or value is omitted, as an empty attribute column is.
    package static func appendPairs(_ prefix: String, _ value: ClickHouseValue, to out: inout [Attribute]) {
        func append(_ key: ClickHouseValue, _ value: ClickHouseValue) {
            guard let k = key.text, !k.isEmpty, let v = value.text, !v.isEmpty else { return }
            out.append(Attribute(prefix + "." + k, .string(v)))
        }
        switch value {
        case .array(let pairs):
            for case .tuple(let pair) in pairs where pair.count == 2 { append(pair[0], pair[1]) }
        case .map(let flat):
            var i = 0
            while i + 1 < flat.count {
                append(flat[i], flat[i + 1])
                i += 2
            }
        default:
            break
        }
    }

    /// The metric's value in `row`, checked: finite, non-negative counts, consistent histograms.
    /// `nil` when the row holds no value for it (a NULL value column) or is not one of its rows
    /// (`row_filter`).
    package func observation(of metric: BoundMetric, in row: [ClickHouseValue], rowNumber: Int) throws(BridgeError) -> Observation? {
        for f in metric.filters {
            guard case .string(let s) = row[f.column], f.values.contains(s) else { return nil }
        }
        let name = metric.mapping.name
        func number(_ column: Int) throws(BridgeError) -> Double? {
            let v = row[column]
            if v.isNull { return nil }
            guard let d = v.double, d.isFinite else {
                throw resultError(columnNames[column], row: rowNumber, "metric \(name): value \(v) is not a finite number")
            }
            return d
        }
        // Counts are kept as Postgres bigints in the cumulative state: at most Int64.max.
        func count(_ column: Int) throws(BridgeError) -> UInt64 {
            switch row[column] {
            case .uint(let v) where v <= UInt64(Int64.max): return v
            case .int(let v) where v >= 0: return UInt64(v)
            case .bool(let b): return b ? 1 : 0
            case let v: throw resultError(columnNames[column], row: rowNumber, "metric \(name): count \(v) is negative, not an integer or above \(Int64.max)")
            }
        }
        switch metric.value {
        case .number(let column, let valueType, let nonNegative):
            let v = row[column]
            if v.isNull { return nil }
            switch valueType {
            case .int:
                let i: Int64
                switch v {
                case .int(let x): i = x
                case .uint(let x):
                    guard x <= UInt64(Int64.max) else { throw resultError(columnNames[column], row: rowNumber, "metric \(name): value \(x) does not fit in a 64-bit signed integer") }
                    i = Int64(x)
                case .bool(let b): i = b ? 1 : 0
                default: throw resultError(columnNames[column], row: rowNumber, "metric \(name): value \(v) is not an integer")
                }
                if nonNegative && i < 0 { throw resultError(columnNames[column], row: rowNumber, "metric \(name) is monotonic but the value is negative (\(i))") }
                return .int(i)
            case .double:
                guard let d = try number(column) else { return nil }
                if nonNegative && d < 0 { throw resultError(columnNames[column], row: rowNumber, "metric \(name) is monotonic but the value is negative (\(d))") }
                return .double(d)
            }
        case .histogram(let c, let s, let mn, let mx, let b, let boundCount):
            let total = try count(c)
            let sum = try number(s) ?? 0
            guard case .array(let items) = row[b] else { throw resultError(columnNames[b], row: rowNumber, "metric \(name): bucket counts are NULL") }
            guard items.count == boundCount + 1 else {
                throw resultError(columnNames[b], row: rowNumber, "metric \(name): \(items.count) bucket counts for \(boundCount) explicit_bounds (expected \(boundCount + 1))")
            }
            var buckets: [UInt64] = []
            buckets.reserveCapacity(items.count)
            for item in items {
                switch item {
                case .uint(let v) where v <= UInt64(Int64.max): buckets.append(v)
                case .int(let v) where v >= 0: buckets.append(UInt64(v))
                default: throw resultError(columnNames[b], row: rowNumber, "metric \(name): bucket count \(item) is negative, not an integer or above \(Int64.max)")
                }
            }
            let (bucketTotal, overflow) = buckets.reduce((UInt64(0), false)) { acc, x in
                let (r, o) = acc.0.addingReportingOverflow(x); return (r, acc.1 || o)
            }
            guard !overflow, bucketTotal == total else {
                throw resultError(columnNames[b], row: rowNumber, "metric \(name): bucket counts add up to \(bucketTotal) but the count is \(total)")
            }
            let minimum = try mn.flatMap { (i: Int) throws(BridgeError) -> Double? in try number(i) }
            let maximum = try mx.flatMap { (i: Int) throws(BridgeError) -> Double? in try number(i) }
            if total == 0 { return nil }
            return .histogram(count: total, sum: sum, min: minimum, max: maximum, buckets: buckets)
        case .summary(let c, let s, let q, let levels):
            let total = try count(c)
            let sum = try number(s) ?? 0
            guard case .array(let items) = row[q] else { throw resultError(columnNames[q], row: rowNumber, "metric \(name): quantile values are NULL") }
            guard items.count == levels else {
                throw resultError(columnNames[q], row: rowNumber, "metric \(name): \(items.count) quantile values for \(levels) quantiles")
            }
            var values: [Double] = []
            for item in items {
                guard let d = item.double, d.isFinite else {
                    throw resultError(columnNames[q], row: rowNumber, "metric \(name): quantile value \(item) is not a finite number")
                }
                values.append(d)
            }
            if total == 0 { return nil }
            return .summary(count: total, sum: sum, quantiles: values)
        }
    }
}
