import Testing
@testable import ClickHouse
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup

/// A metric's exemplar column: its YAML key, its type, and the exemplar read from a row with the
/// ids the GenAI traces pipeline gives the row's span.
@Suite struct ExemplarBindingTests {
    static let sql = """
        SELECT toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket, count() AS n,
               argMax((created_at, trace_id, span_id, toString(id), response_time / 1000), (response_time, created_at, id)) AS ex
        FROM generations
        WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
        GROUP BY bucket ORDER BY bucket
        """

    static func yaml(dataType: String = "sum", extra: String = "value_column: n") -> String {
        """
        pipelines:
          - name: ex
            query: ex.sql
            metrics:
              - metric_name: m.ex
                data_type: \(dataType)
                \(extra)
                exemplar_column: ex
        """
    }

    static let tupleType = ClickHouseType.tuple([.dateTime64(precision: 3, timezone: "UTC"), .string, .string, .string, .float64])
    static let columns: [ClickHouseRowStream.Column] = [
        .init(name: "bucket", type: .dateTime(timezone: "UTC"), typeName: "DateTime('UTC')"),
        .init(name: "n", type: .uint64, typeName: "UInt64"),
        .init(name: "ex", type: tupleType, typeName: "Tuple(DateTime64(3, 'UTC'), String, String, String, Float64)"),
    ]

    @Test("the exemplar is the tuple's request, with the span's ids: the gateway's when valid, else derived")
    func exemplar() throws {
        let pipeline = try parsePipelines(Self.yaml(), queries: ["ex.sql": Self.sql])[0]
        #expect(pipeline.metrics[0].exemplarColumn == "ex")
        let binding = try ResultBinding(pipeline: pipeline, columns: Self.columns)
        // The bucket (DateTime) and the value (UInt64) are read from the row's bytes; the exemplar is decoded.
        #expect(binding.decodedColumns == [false, false, true])
        let id = "0b6e2f4c-1d2a-4c3b-9e8f-0123456789ab"
        func read(_ trace: String, _ span: String) throws -> Exemplar? {
            let row: [ClickHouseValue] = [.dateTime(seconds: 0), .uint(3),
                                          .tuple([.dateTime64(ticks: 1_764_590_400_123, precision: 3), .string(trace), .string(span), .string(id), .float(1.234)])]
            return try binding.exemplar(of: binding.metrics[0], in: row, rowNumber: 1)
        }
        let valid = try #require(try read("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7"))
        #expect(valid == Exemplar(timeUnixNano: 1_764_590_400_123_000_000, value: 1.234,
                                  traceID: SpanIDs.valid("4bf92f3577b34da6a3ce929d0e0e4736", count: 16)!, spanID: SpanIDs.valid("00f067aa0ba902b7", count: 8)!))
        let derived = try #require(try read("req_1", ""))
        #expect(derived.traceID == SpanIDs.derive("req_1", domain: "portkey.trace_id", count: 16))
        #expect(derived.spanID == SpanIDs.derive(id, domain: "portkey.id.span", count: 8))
        let none = try #require(try read("", "nothex!!nothex!!"))
        #expect(none.traceID == SpanIDs.of(id: id, traceID: "", spanID: "").traceID)
    }

    @Test("an exemplar column of another shape is a template error naming it; a summary has none")
    func badColumn() throws {
        let pipeline = try parsePipelines(Self.yaml(), queries: ["ex.sql": Self.sql])[0]
        var columns = Self.columns
        columns[2] = .init(name: "ex", type: .tuple([.string, .float64]), typeName: "Tuple(String, Float64)")
        let error = try #require(captureError { () throws(BridgeError) in try ResultBinding(pipeline: pipeline, columns: columns) })
        #expect(error.code == .template)
        #expect(error.key == "ex")
        #expect(error.message.contains("Tuple(time, trace_id, span_id, id, value)"))

        let summary = try #require(captureError { () throws(PipelineConfigError) in
            _ = try parsePipelines(Self.yaml(dataType: "summary", extra: "quantiles: [0.5]\n        quantile_values_column: q\n        count_column: n\n        sum_column: n"),
                                   queries: ["ex.sql": Self.sql])
        })
        #expect(summary.key == "exemplar_column")
        #expect(summary.line == 11)
    }

    @Test("a NaN exemplar value is a result error naming the column and the row")
    func badValue() throws {
        let pipeline = try parsePipelines(Self.yaml(), queries: ["ex.sql": Self.sql])[0]
        let binding = try ResultBinding(pipeline: pipeline, columns: Self.columns)
        let row: [ClickHouseValue] = [.dateTime(seconds: 0), .uint(3),
                                      .tuple([.dateTime64(ticks: 1, precision: 3), .string(""), .string(""), .string("x"), .float(.nan)])]
        let error = try #require(captureError { () throws(BridgeError) in try binding.exemplar(of: binding.metrics[0], in: row, rowNumber: 4) })
        #expect(error.code == .result)
        #expect(error.key == "ex")
        #expect(error.message.hasPrefix("row 4: "))
    }
}
