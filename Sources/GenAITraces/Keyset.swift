import ClickHouse

/// A position in the traces pipeline's total order of rows, `(created_at, id)`: the last row
/// exported. The next page is every row after it (`(created_at, id) > (time, id)` in ClickHouse's
/// own order of its UUIDs, which the bridge never re-implements).
public struct Keyset: Sendable, Equatable, CustomStringConvertible {
    /// Unix nanoseconds (whole milliseconds: `created_at` is `DateTime64(3)`).
    public var time: Int64
    /// The row's `id` as ClickHouse writes a UUID.
    public var id: String

    public init(time: Int64, id: String) {
        self.time = time
        self.id = id
    }

    /// The greatest UUID: a keyset with it at `t − 1 ms` comes before every row at `t` and after
    /// every row before it.
    public static let maxID = "ffffffff-ffff-ffff-ffff-ffffffffffff"

    /// The keyset before every row at or after `time` (a stored watermark without id, or the
    /// first watermark `BRIDGE_START_AT`).
    public static func before(_ time: Int64) -> Keyset {
        Keyset(time: time - 1_000_000, id: maxID)
    }

    public var description: String { "(\(time), \(id))" }
}

/// The query of one page: the template of `queries/gen_ai_traces.sql`, unchanged, and its
/// parameters. Nothing is spliced into the SQL.
public enum TraceQuery {
    /// - Parameter metadataKeys: `{metadata_keys:Array(String)}`, the request metadata keys the
    ///   spans carry (a template that does not read it ignores it).
    public static func parameters(after: Keyset, until: Int64, pageSize: Int, metadataKeys: [String] = []) -> [(name: String, value: QueryParameter)] {
        [
            ("after_time", .timestamp(unixNanoseconds: after.time)),
            ("after_id", .string(after.id)),
            ("until", .timestamp(unixNanoseconds: until)),
            ("page_size", .uint(UInt64(pageSize))),
            ("metadata_keys", .array(metadataKeys.map { .string($0) })),
        ]
    }
}
