import Testing
@testable import ClickHouse
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup

/// A pipeline reading every kind of metric from one result.
private let mixedYAML = """
    pipelines:
      - name: mixed
        query: mixed.sql
        metrics:
          - metric_name: m.requests
            data_type: sum
            value_column: requests
            attribute_columns: [provider, status]
            static_attributes: {source: bridge, version: 2}
          - metric_name: m.cost
            data_type: sum
            value_type: double
            value_column: cost
          - metric_name: m.delta
            data_type: sum
            monotonic: false
            value_column: change
          - metric_name: m.duration
            data_type: histogram
            explicit_bounds: [0.1, 1]
            count_column: d_count
            sum_column: d_sum
            min_column: d_min
            max_column: d_max
            bucket_counts_column: d_buckets
          - metric_name: m.latency
            data_type: summary
            quantiles: [0.5, 0.99]
            quantile_values_column: q
            count_column: d_count
            sum_column: d_sum
    """

private func mixedPipeline() throws -> PipelineConfiguration {
    try #require(try parsePipelines(mixedYAML).first)
}

private func col(_ name: String, _ type: ClickHouseType, _ typeName: String? = nil) -> ClickHouseRowStream.Column {
    ClickHouseRowStream.Column(name: name, type: type, typeName: typeName ?? type.description)
}

/// The full, valid result header of the mixed pipeline.
private let mixedColumns: [ClickHouseRowStream.Column] = [
    col("bucket", .dateTime64(precision: 3, timezone: "UTC")),
    col("provider", .string, "LowCardinality(String)"),
    col("status", .uint16),
    col("requests", .uint64),
    col("cost", .float64),
    col("change", .int64),
    col("d_count", .uint64),
    col("d_sum", .float64),
    col("d_min", .nullable(.float64)),
    col("d_max", .nullable(.float64)),
    col("d_buckets", .array(.uint64)),
    col("q", .array(.float64)),
]

private func replacing(_ name: String, with column: ClickHouseRowStream.Column?) -> [ClickHouseRowStream.Column] {
    mixedColumns.compactMap { $0.name == name ? column : $0 }
}

/// A valid row for bucket `bucket` (nanoseconds).
private func mixedRow(bucket: Int64 = T, _ changes: [String: ClickHouseValue] = [:]) -> [ClickHouseValue] {
    let values: [String: ClickHouseValue] = [
        "bucket": .dateTime64(ticks: bucket / 1_000_000, precision: 3),
        "provider": .string("openai"),
        "status": .uint(200),
        "requests": .uint(5),
        "cost": .float(0.25),
        "change": .int(-3),
        "d_count": .uint(3),
        "d_sum": .float(1.5),
        "d_min": .float(0.05),
        "d_max": .float(1.25),
        "d_buckets": .array([.uint(1), .uint(1), .uint(1)]),
        "q": .array([.float(0.25), .float(1.25)]),
    ].merging(changes) { $1 }
    return mixedColumns.map { values[$0.name]! }
}

private let planner = WindowPlanner(stepSeconds: 60, lagSeconds: 120, maxBucketsPerQuery: 60)
private let window = TimeWindow(start: T, end: T + 60 * 60 * second)

@Suite("ResultBinding: the result header against the mappings")
struct ResultBindingHeaderTests {
    @Test("a valid header binds every metric to its columns")
    func binds() throws {
        let binding = try ResultBinding(pipeline: try mixedPipeline(), columns: mixedColumns)
        #expect(binding.bucketColumn == 0)
        #expect(binding.metrics.map(\.mapping.name) == ["m.requests", "m.cost", "m.delta", "m.duration", "m.latency"])
        #expect(binding.metrics.map(\.index) == [0, 1, 2, 3, 4])
        #expect(binding.metrics[0].attributes.map(\.key) == ["provider", "status"])
        #expect(binding.metrics[0].attributes.map(\.column) == [1, 2])
        guard case .number(let column, let valueType, let nonNegative) = binding.metrics[0].value else {
            Issue.record("m.requests is not bound as a number"); return
        }
        #expect((column, valueType, nonNegative) == (3, .int, true))
        guard case .number(_, _, let deltaNonNegative) = binding.metrics[2].value else {
            Issue.record("m.delta is not bound as a number"); return
        }
        #expect(!deltaNonNegative)
        guard case .histogram(let c, let s, let mn, let mx, let b, let bounds) = binding.metrics[3].value else {
            Issue.record("m.duration is not bound as a histogram"); return
        }
        #expect([c, s, b, bounds] == [6, 7, 10, 2])
        #expect(mn == 8 && mx == 9)
        guard case .summary(let sc, let ss, let q, let levels) = binding.metrics[4].value else {
            Issue.record("m.latency is not bound as a summary"); return
        }
        #expect([sc, ss, q, levels] == [6, 7, 11, 2])
    }

    struct HeaderCase: Sendable, CustomTestStringConvertible {
        let name: String
        let column: String
        let replacement: ClickHouseRowStream.Column?
        let messageContains: [String]
        var testDescription: String { name }
    }

    static let headerCases: [HeaderCase] = [
        HeaderCase(name: "value column missing", column: "requests", replacement: nil,
                   messageContains: ["m.requests", "'requests'", "does not return"]),
        HeaderCase(name: "attribute column missing", column: "status", replacement: nil, messageContains: ["'status'"]),
        HeaderCase(name: "histogram count column missing", column: "d_count", replacement: nil, messageContains: ["'d_count'"]),
        HeaderCase(name: "bucket column missing", column: "bucket", replacement: nil, messageContains: ["bucket column 'bucket'"]),
        HeaderCase(name: "bucket column is a String", column: "bucket", replacement: col("bucket", .string),
                   messageContains: ["DateTime", "String"]),
        HeaderCase(name: "bucket column is a UInt32", column: "bucket", replacement: col("bucket", .uint32), messageContains: ["UInt32"]),
        HeaderCase(name: "bucket column is Nullable", column: "bucket",
                   replacement: col("bucket", .nullable(.dateTime(timezone: "UTC"))), messageContains: ["Nullable"]),
        HeaderCase(name: "value_type int on a Float64 column", column: "requests", replacement: col("requests", .float64),
                   messageContains: ["value_type int", "Float64"]),
        HeaderCase(name: "value column is a String", column: "cost", replacement: col("cost", .string), messageContains: ["numeric"]),
        HeaderCase(name: "bucket counts are an Array(Float64)", column: "d_buckets", replacement: col("d_buckets", .array(.float64)),
                   messageContains: ["Array of integers", "Array(Float64)"]),
        HeaderCase(name: "bucket counts are not an array", column: "d_buckets", replacement: col("d_buckets", .uint64),
                   messageContains: ["Array of integers", "UInt64"]),
        HeaderCase(name: "histogram count is a Float64", column: "d_count", replacement: col("d_count", .float64),
                   messageContains: ["integer"]),
        HeaderCase(name: "quantile values are not an array", column: "q", replacement: col("q", .float64),
                   messageContains: ["Array of numbers"]),
        HeaderCase(name: "attribute column is an array", column: "provider", replacement: col("provider", .array(.string)),
                   messageContains: ["attributes must be"]),
    ]

    @Test("a header that does not fit is a template error naming the column and the query file", arguments: headerCases)
    func headerMismatch(_ c: HeaderCase) throws {
        let pipeline = try mixedPipeline()
        let columns = replacing(c.column, with: c.replacement)
        let error = try #require(captureError { () throws(BridgeError) in try ResultBinding(pipeline: pipeline, columns: columns) })
        #expect(error.code == .template)
        #expect(error.key == c.column)
        #expect(error.file == "queries/mixed.sql")
        #expect(error.pipeline == "mixed")
        for text in c.messageContains {
            #expect(error.message.contains(text), "\(error.message)")
        }
        #expect(error.description.contains("queries/mixed.sql"))
    }

    @Test("bucket columns of every time type are accepted", arguments: [
        ClickHouseType.dateTime(timezone: "UTC"), .dateTime(timezone: nil), .dateTime64(precision: 9, timezone: "UTC"), .date,
    ])
    func bucketTimeTypes(type: ClickHouseType) throws {
        let binding = try ResultBinding(pipeline: try mixedPipeline(), columns: replacing("bucket", with: col("bucket", type)))
        #expect(binding.bucketColumn == 0)
    }

    @Test("Nullable and integer value columns are accepted for value_type int; integers for double")
    func nullableValues() throws {
        var columns = replacing("requests", with: col("requests", .nullable(.uint32)))
        columns = columns.map { $0.name == "cost" ? col("cost", .int64) : $0 }
        let binding = try ResultBinding(pipeline: try mixedPipeline(), columns: columns)
        #expect(binding.metrics.count == 5)
    }
}

@Suite("ResultBinding: rows checked value by value")
struct ResultBindingRowTests {
    func binding() throws -> ResultBinding {
        try ResultBinding(pipeline: try mixedPipeline(), columns: mixedColumns)
    }

    func observations(_ row: [ClickHouseValue]) throws -> [Observation?] {
        let b = try binding()
        return try b.metrics.map { m in try b.observation(of: m, in: row, rowNumber: 1) }
    }

    @Test("a valid row gives each metric its observation")
    func validRow() throws {
        let b = try binding()
        let row = mixedRow(bucket: T + 120 * second)
        #expect(try b.bucket(row, rowNumber: 1, window: window, planner: planner) == T + 120 * second)
        #expect(try observations(row) == [
            .int(5), .double(0.25), .int(-3),
            .histogram(count: 3, sum: 1.5, min: 0.05, max: 1.25, buckets: [1, 1, 1]),
            .summary(count: 3, sum: 1.5, quantiles: [0.25, 1.25]),
        ])
    }

    @Test("buckets: DateTime and DateTime64 values at the window start and its last bucket")
    func bucketValues() throws {
        let b = try binding()
        var row = mixedRow()
        row[0] = .dateTime(seconds: T / second)
        #expect(try b.bucket(row, rowNumber: 1, window: window, planner: planner) == T)
        row[0] = .dateTime64(ticks: (window.end - 60 * second) / 1_000, precision: 6)
        #expect(try b.bucket(row, rowNumber: 1, window: window, planner: planner) == window.end - 60 * second)
    }

    @Test("a bucket outside the window, not aligned, or NULL is a result error", arguments: [
        ("at the window end", ClickHouseValue.dateTime(seconds: (T + 3_600 * second) / second), "outside"),
        ("before the window", .dateTime(seconds: (T - 60 * second) / second), "outside"),
        ("not aligned", .dateTime(seconds: (T + 30 * second) / second), "not aligned"),
        ("not aligned by a millisecond", .dateTime64(ticks: T / 1_000_000 + 1, precision: 3), "not aligned"),
        ("NULL", .null, "NULL"),
    ])
    func badBucket(name: String, value: ClickHouseValue, messageContains: String) throws {
        let b = try binding()
        var row = mixedRow()
        row[0] = value
        let error = try #require(captureError { () throws(BridgeError) in try b.bucket(row, rowNumber: 7, window: window, planner: planner) })
        #expect(error.code == .result)
        #expect(error.key == "bucket")
        #expect(error.pipeline == "mixed")
        #expect(error.file == "queries/mixed.sql")
        #expect(error.message.hasPrefix("row 7: "))
        #expect(error.message.contains(messageContains), "\(error.message)")
    }

    struct RowCase: Sendable, CustomTestStringConvertible {
        let name: String
        let metric: Int
        let changes: [String: ClickHouseValue]
        let column: String
        let messageContains: String
        var testDescription: String { name }
    }

    static let rowCases: [RowCase] = [
        RowCase(name: "negative int for a monotonic sum", metric: 0, changes: ["requests": .int(-1)], column: "requests", messageContains: "negative"),
        RowCase(name: "negative double for a monotonic sum", metric: 1, changes: ["cost": .float(-0.5)], column: "cost", messageContains: "negative"),
        RowCase(name: "NaN", metric: 1, changes: ["cost": .float(.nan)], column: "cost", messageContains: "finite"),
        RowCase(name: "+inf", metric: 1, changes: ["cost": .float(.infinity)], column: "cost", messageContains: "finite"),
        RowCase(name: "-inf", metric: 1, changes: ["cost": .float(-.infinity)], column: "cost", messageContains: "finite"),
        RowCase(name: "UInt64 above Int64.max", metric: 0, changes: ["requests": .uint(UInt64(Int64.max) + 1)], column: "requests",
                messageContains: "64-bit"),
        RowCase(name: "histogram sum NaN", metric: 3, changes: ["d_sum": .float(.nan)], column: "d_sum", messageContains: "finite"),
        RowCase(name: "histogram max inf", metric: 3, changes: ["d_max": .float(.infinity)], column: "d_max", messageContains: "finite"),
        RowCase(name: "histogram negative count", metric: 3, changes: ["d_count": .int(-3)], column: "d_count", messageContains: "negative"),
        RowCase(name: "bucket counts add up to less than the count", metric: 3,
                changes: ["d_buckets": .array([.uint(1), .uint(1), .uint(0)])], column: "d_buckets", messageContains: "add up to 2 but the count is 3"),
        RowCase(name: "bucket counts add up to more than the count", metric: 3,
                changes: ["d_buckets": .array([.uint(2), .uint(1), .uint(1)])], column: "d_buckets", messageContains: "add up to 4 but the count is 3"),
        RowCase(name: "bucket counts overflow", metric: 3,
                changes: ["d_buckets": .array([.uint(UInt64(Int64.max)), .uint(4), .uint(0)])], column: "d_buckets", messageContains: "add up to"),
        RowCase(name: "a bucket count past Int64.max", metric: 3,
                changes: ["d_buckets": .array([.uint(UInt64.max), .uint(4), .uint(0)])], column: "d_buckets", messageContains: "above 9223372036854775807"),
        RowCase(name: "too few bucket counts", metric: 3,
                changes: ["d_buckets": .array([.uint(1), .uint(2)])], column: "d_buckets", messageContains: "2 bucket counts for 2 explicit_bounds (expected 3)"),
        RowCase(name: "too many bucket counts", metric: 3,
                changes: ["d_buckets": .array([.uint(1), .uint(1), .uint(1), .uint(0)])], column: "d_buckets", messageContains: "expected 3"),
        RowCase(name: "negative bucket count", metric: 3,
                changes: ["d_buckets": .array([.int(-1), .uint(2), .uint(2)])], column: "d_buckets", messageContains: "negative"),
        RowCase(name: "NULL bucket counts", metric: 3, changes: ["d_buckets": .null], column: "d_buckets", messageContains: "NULL"),
        RowCase(name: "summary with three values for two quantiles", metric: 4,
                changes: ["q": .array([.float(0.1), .float(0.2), .float(0.3)])], column: "q", messageContains: "3 quantile values for 2 quantiles"),
        RowCase(name: "summary with one value for two quantiles", metric: 4,
                changes: ["q": .array([.float(0.1)])], column: "q", messageContains: "1 quantile values for 2 quantiles"),
        RowCase(name: "summary quantile NaN", metric: 4,
                changes: ["q": .array([.float(0.1), .float(.nan)])], column: "q", messageContains: "finite"),
    ]

    @Test("a value that does not fit is a result error naming the column", arguments: rowCases)
    func badValue(_ c: RowCase) throws {
        let b = try binding()
        let row = mixedRow(c.changes)
        let error = try #require(captureError { () throws(BridgeError) in try b.observation(of: b.metrics[c.metric], in: row, rowNumber: 4) })
        #expect(error.code == .result)
        #expect(error.key == c.column)
        #expect(error.pipeline == "mixed")
        #expect(error.file == "queries/mixed.sql")
        #expect(error.message.hasPrefix("row 4: "))
        #expect(error.message.contains(c.messageContains), "\(error.message)")
    }

    @Test("a negative value is fine for a non-monotonic sum; signed, unsigned and boolean integers are read")
    func integers() throws {
        let b = try binding()
        #expect(try b.observation(of: b.metrics[2], in: mixedRow(["change": .int(-42)]), rowNumber: 1) == .int(-42))
        #expect(try b.observation(of: b.metrics[0], in: mixedRow(["requests": .int(7)]), rowNumber: 1) == .int(7))
        #expect(try b.observation(of: b.metrics[0], in: mixedRow(["requests": .bool(true)]), rowNumber: 1) == .int(1))
        #expect(try b.observation(of: b.metrics[1], in: mixedRow(["cost": .uint(3)]), rowNumber: 1) == .double(3))
        #expect(try b.observation(of: b.metrics[1], in: mixedRow(["cost": .decimal(units: 12_345, scale: 2)]), rowNumber: 1) == .double(123.45))
    }

    @Test("a NULL value gives no observation")
    func nullValues() throws {
        let b = try binding()
        #expect(try b.observation(of: b.metrics[0], in: mixedRow(["requests": .null]), rowNumber: 1) == nil)
        #expect(try b.observation(of: b.metrics[1], in: mixedRow(["cost": .null]), rowNumber: 1) == nil)
    }

    @Test("a histogram or summary with count 0 gives no observation; NULL min and max are nil")
    func emptyDistributions() throws {
        let b = try binding()
        let empty = mixedRow(["d_count": .uint(0), "d_sum": .float(0), "d_min": .null, "d_max": .null,
                              "d_buckets": .array([.uint(0), .uint(0), .uint(0)])])
        #expect(try b.observation(of: b.metrics[3], in: empty, rowNumber: 1) == nil)
        #expect(try b.observation(of: b.metrics[4], in: empty, rowNumber: 1) == nil)
        let noExtremes = mixedRow(["d_min": .null, "d_max": .null])
        #expect(try b.observation(of: b.metrics[3], in: noExtremes, rowNumber: 1)
            == .histogram(count: 3, sum: 1.5, min: nil, max: nil, buckets: [1, 1, 1]))
    }

    @Test("attributes: UInt16 becomes an int, static attributes are appended")
    func attributes() throws {
        let b = try binding()
        #expect(b.attributes(of: b.metrics[0], in: mixedRow()) == [
            Attribute("provider", .string("openai")), Attribute("status", .int(200)),
            Attribute("source", .string("bridge")), Attribute("version", .int(2)),
        ])
        #expect(b.attributes(of: b.metrics[1], in: mixedRow()) == [])
    }

    @Test("attributes: an empty string or NULL omits the attribute", arguments: [ClickHouseValue.string(""), .null])
    func omittedAttributes(value: ClickHouseValue) throws {
        let b = try binding()
        #expect(b.attributes(of: b.metrics[0], in: mixedRow(["provider": value])) == [
            Attribute("status", .int(200)), Attribute("source", .string("bridge")), Attribute("version", .int(2)),
        ])
        #expect(b.attributes(of: b.metrics[0], in: mixedRow(["provider": value, "status": .null])) == [
            Attribute("source", .string("bridge")), Attribute("version", .int(2)),
        ])
    }

    @Test("attributes of other column types", arguments: [
        (ClickHouseType.int16, ClickHouseValue.int(-5), Attribute.Value.int(-5)),
        (.uint64, .uint(UInt64.max), .string("18446744073709551615")),
        (.float64, .float(0.5), .double(0.5)),
        (.bool, .bool(true), .bool(true)),
        (.uint8, .uint(0), .int(0)),
    ])
    func attributeTypes(type: ClickHouseType, value: ClickHouseValue, expected: Attribute.Value) throws {
        let b = try ResultBinding(pipeline: try mixedPipeline(), columns: replacing("status", with: col("status", type)))
        #expect(b.attributes(of: b.metrics[0], in: mixedRow(["status": value])) == [
            Attribute("provider", .string("openai")), Attribute("status", expected),
            Attribute("source", .string("bridge")), Attribute("version", .int(2)),
        ])
    }
}

@Suite("ResultBinding: row_filter")
struct ResultBindingRowFilterTests {
    static let yaml = """
        pipelines:
          - name: mixed
            query: mixed.sql
            metrics:
              - {metric_name: m.openai, data_type: sum, value_column: requests, row_filter: {provider: [openai, azure]}}
              - {metric_name: m.all, data_type: sum, value_column: requests}
              - {metric_name: m.status, data_type: sum, value_column: requests, row_filter: {status: ["200"]}}
        """

    @Test("a metric reads only the rows whose column holds a listed value; the others read every row")
    func filters() throws {
        let pipeline = try #require(try parsePipelines(Self.yaml.replacingOccurrences(of: "\n      - {metric_name: m.status, data_type: sum, value_column: requests, row_filter: {status: [\"200\"]}}", with: "")).first)
        let binding = try ResultBinding(pipeline: pipeline, columns: mixedColumns)
        #expect(binding.decodedColumns[1], "the filter's column is decoded")
        for (provider, read) in [("openai", true), ("azure", true), ("anthropic", false), ("", false)] {
            let row = mixedRow(["provider": .string(provider)])
            #expect((try binding.observation(of: binding.metrics[0], in: row, rowNumber: 1) != nil) == read, "\(provider)")
            #expect(try binding.observation(of: binding.metrics[1], in: row, rowNumber: 1) == .int(5))
        }
        #expect(try binding.observation(of: binding.metrics[0], in: mixedRow(["provider": .null]), rowNumber: 1) == nil)
    }

    @Test("a row_filter column that is not a string is a template error naming it")
    func notAString() throws {
        let pipeline = try #require(try parsePipelines(Self.yaml).first)
        let error = try #require(captureError { () throws(BridgeError) in try ResultBinding(pipeline: pipeline, columns: mixedColumns) })
        #expect(error.code == .template)
        #expect(error.key == "status")
        #expect(error.message.contains("row_filter column 'status' of metric m.status must be a string"), "\(error.message)")
    }
}
