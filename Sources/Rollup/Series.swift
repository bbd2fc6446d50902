import Checkpoints
import ClickHouse
import OTLP
#if canImport(Glibc)
import Glibc
#endif

/// One series of one metric as a pass knows it: its attributes and everything derived from them
/// (canonical key, store id, JSON for operators, digest seed, encoded attributes), each computed
/// once per pass however many rows name the series. A pass's rows reach their series through a
/// ``SeriesTable`` without building any text per row.
package final class Series {
    /// The metric's index in the pipeline.
    package let metric: Int
    package let metricName: String
    /// Empty strings and NULLs omitted, static attributes last (``ResultBinding/attributes(of:in:)``).
    package internal(set) var attributes: [Attribute]
    /// ``SeriesAggregator/seriesKey(_:)`` of the attributes: the series' identity.
    package let key: String

    /// The key of its cumulative state in the checkpoint store (a SHA-256 of the key).
    package private(set) lazy var ref = SeriesRef(metric: metricName, seriesKey: key)
    /// The attributes as operators read them in `series_state`.
    package private(set) lazy var attributesJSON = SeriesAggregator.attributesJSON(attributes)
    /// FNV-1a of `metric \u{1} key \u{1}`: a bucket digest continues it with the value.
    package private(set) lazy var digestSeed = BucketDigest.seed(metric: metricName, seriesKey: key)
    /// The attributes as the sink encodes them, cached by the sink on first use.
    package var encoded: EncodedAttributes?

    // Per-bucket bookkeeping of the reader: the bucket generation it was last seen in, its slot
    // there, and whether it went to the overflow series in that bucket.
    var seenIn = -1
    var slot = 0
    var overflowedIn = -1

    // Cumulative state, kept by ``SeriesAggregator``.
    /// Its running totals (loaded from the store or started in this pass), `nil` before.
    var state: SeriesState? {
        didSet { hasState = true }  // never set back to nil
    }
    /// `state != nil`, without copying the state to find out.
    private(set) var hasState = false
    /// Looked up in the store (found or not).
    var lookedUp = false
    /// Given a place under its metric's cardinality limit (cumulative), before it has state.
    var admitted = false
    /// The change generation in which it was last changed (``SeriesAggregator/takeChanges()``).
    var changedIn = -1

    package init(metric: Int, metricName: String, attributes: [Attribute], key: String? = nil) {
        self.metric = metric
        self.metricName = metricName
        self.attributes = attributes
        self.key = key ?? SeriesAggregator.seriesKey(attributes)
    }
}

/// The series of a pass by identity: a row's attribute values lead to their ``Series`` through
/// a hash of the values as decoded (no key text built per row), and different values that are
/// one series (an empty string and a NULL both omit an attribute) lead to the same object.
///
/// Memory: series with cumulative state stay (at most each metric's cardinality limit); the
/// others are forgotten between buckets once more than `capacity` are known, and found again
/// when they return.
package final class SeriesTable {
    private struct Entry {
        var hash: Int
        /// The attribute columns' bytes, one after the other.
        var key: [UInt8]
        var series: Series
    }

    /// One metric's series by the bytes of their attribute columns (open addressing).
    private final class Index {
        var slots = [Int32](repeating: -1, count: 64)
        var entries: [Entry] = []
    }

    private var indexes: [Index] = []
    private var canonical: [CanonicalKey: Series] = [:]
    private let capacity: Int
    private var entryCount = 0
    /// Tenants choose the values: a seed of this process's own keeps collisions from being made.
    private let seed = UInt64.random(in: .min ... .max)
    /// Incremented per bucket by the reader.
    package private(set) var generation = 0

    private struct CanonicalKey: Hashable {
        var metric: Int
        var key: String
    }

    package init(capacity: Int = 1 << 16) {
        self.capacity = capacity
    }

    /// The series of `metric`'s attributes in the row: found by the bytes of its attribute
    /// columns; the attributes are decoded and the key built only for a series not seen yet.
    func series(of metric: ResultBinding.BoundMetric, in raw: RawRow, binding: ResultBinding) -> Series {
        let m = metric.index
        while indexes.count <= m { indexes.append(Index()) }
        let index = indexes[m]
        let columns = metric.attributeColumns
        let hash = raw.bytes.withUnsafeBytes { Int(truncatingIfNeeded: Self.hash($0, raw.ends, columns, seed: seed)) }
        let mask = index.slots.count - 1
        var i = hash & mask
        while true {
            let e = Int(index.slots[i])
            if e < 0 { break }
            if index.entries[e].hash == hash && Self.same(index.entries[e].key, raw, columns) { return index.entries[e].series }
            i = (i + 1) & mask
        }
        var row = [ClickHouseValue](repeating: .null, count: raw.ends.count)
        var key: [UInt8] = []
        for c in columns {
            row[c] = raw.value(of: c, type: binding.columnTypes[c])
            key += raw.bytes[raw.start(of: c)..<raw.ends[c]]
        }
        let series = canonicalSeries(metric: m, name: metric.mapping.name, attributes: binding.attributes(of: metric, in: row))
        index.slots[i] = Int32(index.entries.count)
        index.entries.append(Entry(hash: hash, key: key, series: series))
        entryCount += 1
        if index.entries.count * 2 > index.slots.count { Self.rehash(index) }
        return series
    }

    /// A 64-bit multiply-xorshift hash of the columns' bytes, eight at a time.
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer, _ ends: [Int], _ columns: [Int], seed: UInt64) -> UInt64 {
        @inline(__always) func mix(_ x: UInt64) -> UInt64 {
            let y = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
            return y ^ (y >> 32)
        }
        var h = seed
        for c in columns {
            var i = c == 0 ? 0 : ends[c - 1]
            let end = ends[c]
            while i + 8 <= end {
                h = mix(h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            var tail = UInt64(end - i) << 56
            var shift: UInt64 = 0
            while i < end {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = mix(h ^ tail)
        }
        return h
    }

    private static func same(_ key: [UInt8], _ raw: RawRow, _ columns: [Int]) -> Bool {
        var offset = 0
        for c in columns {
            let start = raw.start(of: c), n = raw.ends[c] - start
            guard offset + n <= key.count else { return false }
            let equal = key.withUnsafeBytes { k in
                raw.bytes.withUnsafeBytes { r in memcmp(k.baseAddress! + offset, r.baseAddress! + start, n) == 0 }
            }
            if !equal { return false }
            offset += n
        }
        return offset == key.count
    }

    /// The one series of `metric` with these attributes.
    package func canonicalSeries(metric: Int, name: String, attributes: [Attribute]) -> Series {
        let key = SeriesAggregator.seriesKey(attributes)
        let k = CanonicalKey(metric: metric, key: key)
        if let s = canonical[k] { return s }
        let s = Series(metric: metric, metricName: name, attributes: attributes, key: key)
        canonical[k] = s
        return s
    }

    /// Starts a bucket: a new generation, and the table trimmed when it holds too many series
    /// (those with cumulative state and `keeping`, the series of the bucket's first row, stay).
    func nextBucket(keeping: [Series]) -> Int {
        generation += 1
        if canonical.count > capacity || entryCount > 2 * capacity {
            canonical = canonical.filter { $0.value.hasState || $0.value.admitted || $0.key.key == BucketReader.overflowKey }
            entryCount = 0
            for s in keeping { canonical[CanonicalKey(metric: s.metric, key: s.key)] = s }
            indexes = []
        }
        return generation
    }

    private static func rehash(_ index: Index) {
        var table = [Int32](repeating: -1, count: index.slots.count * 2)
        let mask = table.count - 1
        for (e, entry) in index.entries.enumerated() {
            var i = entry.hash & mask
            while table[i] >= 0 { i = (i + 1) & mask }
            table[i] = Int32(e)
        }
        index.slots = table
    }
}
