import Checkpoints
import ClickHouse
import OTLP
#if canImport(Glibc)
import Glibc
#endif

/// The series of a pass, addressed by an integer index (a row of this table): the reader, the
/// aggregator, the writer and the store all refer to a series by its index, and no object is
/// shared between them.
///
/// Ownership: this table is the one owner of what a series *is* — its metric, attributes and
/// canonical key — and of what is derived from that once per pass however many rows name the
/// series (its store ref and JSON for operators, its digest seed, its encoded attributes). Those
/// never change once computed. What changes per bucket lives with the party that changes it, in
/// arrays of its own indexed by the series index: the reader's per-bucket bookkeeping (seen, slot,
/// overflowed: ``BucketReader``), the aggregator's cumulative state and admission
/// (``SeriesAggregator``). A party that keeps per-series facts across buckets pins the series
/// (``pin(_:)``): a pinned series keeps its index for the whole pass.
///
/// A row's attribute values lead to their index through a hash of the values' bytes as decoded
/// (no key text built per row), and different values that are one series (an empty string and a
/// NULL both omit an attribute) lead to the same index.
///
/// Memory: pinned series stay (at most each metric's cardinality limit, plus the series carried
/// or compared for late rows); the others are forgotten between buckets once more than `capacity`
/// are known, their index reused (``birth(_:)`` tells a reused index from the series before it),
/// and found again when they return.
package final class SeriesTable {
    private struct Entry {
        var hash: Int
        /// The attribute columns' bytes, one after the other.
        var key: [UInt8]
        var series: Int32
    }

    /// One metric's series by the bytes of their attribute columns (open addressing).
    private struct Index {
        var slots = [Int32](repeating: -1, count: 64)
        var entries: [Entry] = []

        /// The series of the row's attribute bytes (-1: none yet), and the slot probed last
        /// (where a new entry goes).
        @inline(__always)
        func find(hash: Int, _ bytes: UnsafeRawBufferPointer, _ ends: UnsafeBufferPointer<Int>, _ columns: [Int]) -> (series: Int, slot: Int) {
            slots.withUnsafeBufferPointer { slots in
                entries.withUnsafeBufferPointer { entries in
                    let mask = slots.count - 1
                    var i = hash & mask
                    while true {
                        let e = Int(slots[i])
                        if e < 0 { return (-1, i) }
                        if entries[e].hash == hash
                            && entries[e].key.withUnsafeBytes({ SeriesTable.same($0, bytes, ends, columns) }) {
                            return (Int(entries[e].series), i)
                        }
                        i = (i + 1) & mask
                    }
                }
            }
        }
    }

    // Identity, per series index.
    /// The metric's index in the pipeline.
    package private(set) var metric: [Int] = []
    /// Empty strings and NULLs omitted, static attributes last (``ResultBinding/attributes(of:in:)``).
    package private(set) var attributes: [[Attribute]] = []
    /// ``SeriesAggregator/seriesKey(_:)`` of the attributes: the series' identity.
    package private(set) var key: [String] = []
    /// Whether it is its metric's overflow series (``BucketReader/overflowAttributes``).
    package private(set) var isOverflow: [Bool] = []
    /// The metric names, by metric index.
    private var metricNames: [String] = []

    // Derived once, per series index (`nil` until first asked for).
    private var identities: [SeriesState.Identity?] = []
    private var json: [String?] = []
    private var seeds: [UInt64] = []
    private var hasSeed: [Bool] = []
    /// The protobuf encodings of the series' attributes, one after the other in one buffer (a
    /// point copies a slice of it: nothing is reference-counted per point), and each series' range
    /// in it (empty until first asked for, or for a JSON writer).
    private var encodings: [UInt8] = []
    private var encodingRange: [Range<Int>] = []
    private var hasEncoding: [Bool] = []
    /// Bytes of `encodings` that belong to a series now (the rest, of forgotten series, is
    /// dropped when it is most of the buffer).
    private var encodingBytesInUse = 0

    private var births: [Int] = []
    private var made = 0
    private var pinned: [Bool] = []
    private var free: [Int] = []

    private var indexes: [Index] = []
    private var canonical: [CanonicalKey: Int] = [:]
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

    /// Indices in use or free (every index is below this).
    package var count: Int { metric.count }

    /// The name of the series' metric.
    package func metricName(_ s: Int) -> String { metricNames[metric[s]] }

    /// The series in the checkpoint store (its metric, the SHA-256 of its key, its log key): one
    /// object per series and pass, shared by its changes and states.
    package func identity(_ s: Int) -> SeriesState.Identity {
        if let i = identities[s] { return i }
        let i = SeriesState.Identity(metric: metricName(s), seriesKey: key[s])
        identities[s] = i
        return i
    }

    /// The attributes as operators read them in `series_state`.
    package func attributesJSON(_ s: Int) -> String {
        if let j = json[s] { return j }
        let j = SeriesAggregator.attributesJSON(attributes[s])
        json[s] = j
        return j
    }

    /// FNV-1a of `metric \u{1} key \u{1}`: a bucket digest continues it with the value.
    package func digestSeed(_ s: Int) -> UInt64 {
        if hasSeed[s] { return seeds[s] }
        let h = BucketDigest.seed(metric: metricName(s), seriesKey: key[s])
        seeds[s] = h
        hasSeed[s] = true
        return h
    }

    /// `body` with the protobuf encodings of every series' attributes, read in place, those of
    /// `points` encoded by `writer` (an http/protobuf writer) first.
    package func withEncodings<R>(of points: [EmittedPoint], by writer: MetricRequestWriter, _ body: (Encodings) -> R) -> R {
        precondition(writer.wireProtocol == .httpProtobuf, "encodings are protobuf bytes")
        for p in points where !hasEncoding[p.series] { encode(p.series, by: writer) }
        return encodings.withUnsafeBytes { bytes in
            encodingRange.withUnsafeBufferPointer { ranges in body(Encodings(bytes: bytes, ranges: ranges)) }
        }
    }

    /// Every series' encoded attributes, valid in the body of ``withEncodings(of:by:_:)``.
    package struct Encodings {
        let bytes: UnsafeRawBufferPointer
        let ranges: UnsafeBufferPointer<Range<Int>>

        /// The protobuf bytes of series `s`'s attributes (for ``BucketWriter/number(metric:protobufAttributes:start:end:value:exemplars:)``).
        @inline(__always)
        package subscript(s: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[ranges[s]]) }
    }

    private func encode(_ s: Int, by writer: MetricRequestWriter) {
        guard !hasEncoding[s] else { return }
        if encodings.count - encodingBytesInUse > max(encodingBytesInUse, 1 << 16) { compactEncodings() }
        let bytes = writer.encodedAttributes(attributes[s], metric: metric[s]).protobuf
        encodingRange[s] = encodings.count ..< encodings.count + bytes.count
        encodings += bytes
        encodingBytesInUse += bytes.count
        hasEncoding[s] = true
    }

    /// Forgets series `s`'s encoding (its index is freed or reused).
    private func dropEncoding(_ s: Int) {
        encodingBytesInUse -= encodingRange[s].count
        encodingRange[s] = 0 ..< 0
        hasEncoding[s] = false
    }

    /// The encodings of the series known now, without the bytes of those forgotten.
    private func compactEncodings() {
        var kept: [UInt8] = []
        kept.reserveCapacity(encodingBytesInUse)
        for s in encodingRange.indices where hasEncoding[s] {
            let range = encodingRange[s]
            encodingRange[s] = kept.count ..< kept.count + range.count
            kept += encodings[range]
        }
        encodings = kept
    }

    /// A number that differs between two series that held the same index one after the other.
    package func birth(_ s: Int) -> Int { births[s] }

    /// Keeps the series' index for the rest of the pass (it has state, or is referred to later).
    package func pin(_ s: Int) {
        pinned[s] = true
    }

    /// The series of `metric`'s attributes in the row: found by the bytes of its attribute
    /// columns; the attributes are decoded and the key built only for a series not seen yet.
    func series(of metric: ResultBinding.BoundMetric, in raw: RawRow, binding: ResultBinding) -> Int {
        let m = metric.index
        if indexes.count <= m { indexes += repeatElement(Index(), count: m + 1 - indexes.count) }
        let columns = metric.attributeColumns
        let seed = self.seed
        // One access to the index and one to the row's bytes per row, whatever the probes.
        let (found, hash, slot) = raw.withUnsafeBytes { bytes in
            raw.ends.withUnsafeBufferPointer { ends in
                let hash = Int(truncatingIfNeeded: Self.hash(bytes, ends, columns, seed: seed))
                let (found, slot) = indexes[m].find(hash: hash, bytes, ends, columns)
                return (found, hash, slot)
            }
        }
        if found >= 0 { return found }
        var row = [ClickHouseValue](repeating: .null, count: raw.ends.count)
        var key: [UInt8] = []
        raw.withUnsafeBytes { bytes in
            for c in columns {
                row[c] = raw.value(of: c, type: binding.columnTypes[c])
                key += bytes[raw.start(of: c)..<raw.ends[c]]
            }
        }
        let s = canonicalSeries(metric: m, name: metric.mapping.name, attributes: binding.attributes(of: metric, in: row))
        indexes[m].slots[slot] = Int32(indexes[m].entries.count)
        indexes[m].entries.append(Entry(hash: hash, key: key, series: Int32(s)))
        entryCount += 1
        if indexes[m].entries.count * 2 > indexes[m].slots.count { Self.rehash(&indexes[m]) }
        return s
    }

    /// The columns' bytes as runs: adjacent columns (the usual case) are one run, so that a row's
    /// attribute bytes are hashed and compared in one piece. The bytes taken together are the
    /// same either way (encodings are self-delimiting).
    @inline(__always)
    private static func forEachRun(_ ends: UnsafeBufferPointer<Int>, _ columns: [Int], _ body: (_ start: Int, _ end: Int) -> Bool) -> Bool {
        var k = 0
        while k < columns.count {
            let first = columns[k]
            var last = first
            k += 1
            while k < columns.count && columns[k] == last + 1 {
                last += 1
                k += 1
            }
            if !body(first == 0 ? 0 : ends[first - 1], ends[last]) { return false }
        }
        return true
    }

    /// A 64-bit multiply-xorshift hash of the columns' bytes, eight at a time.
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer, _ ends: UnsafeBufferPointer<Int>, _ columns: [Int], seed: UInt64) -> UInt64 {
        @inline(__always) func mix(_ x: UInt64) -> UInt64 {
            let y = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
            return y ^ (y >> 32)
        }
        var h = seed
        _ = forEachRun(ends, columns) { start, end in
            var i = start
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
            return true
        }
        return h
    }

    @inline(__always)
    fileprivate static func same(_ key: UnsafeRawBufferPointer, _ bytes: UnsafeRawBufferPointer, _ ends: UnsafeBufferPointer<Int>, _ columns: [Int]) -> Bool {
        var offset = 0
        return forEachRun(ends, columns) { start, end in
            let n = end - start
            guard offset + n <= key.count else { return false }
            if n > 0 && memcmp(key.baseAddress! + offset, bytes.baseAddress! + start, n) != 0 { return false }
            offset += n
            return true
        } && offset == key.count
    }

    /// The one series of `metric` with these attributes: its index.
    package func canonicalSeries(metric m: Int, name: String, attributes: [Attribute]) -> Int {
        let key = SeriesAggregator.seriesKey(attributes)
        let k = CanonicalKey(metric: m, key: key)
        if let s = canonical[k] { return s }
        while metricNames.count <= m { metricNames.append("") }
        metricNames[m] = name
        made += 1
        let s: Int
        if let reused = free.popLast() {
            s = reused
            metric[s] = m
            self.attributes[s] = attributes
            self.key[s] = key
            isOverflow[s] = key == BucketReader.overflowKey
            identities[s] = nil
            json[s] = nil
            hasSeed[s] = false
            dropEncoding(s)
            births[s] = made
            pinned[s] = false
        } else {
            s = metric.count
            metric.append(m)
            self.attributes.append(attributes)
            self.key.append(key)
            isOverflow.append(key == BucketReader.overflowKey)
            identities.append(nil)
            json.append(nil)
            seeds.append(0)
            hasSeed.append(false)
            encodingRange.append(0 ..< 0)
            hasEncoding.append(false)
            births.append(made)
            pinned.append(false)
        }
        canonical[k] = s
        return s
    }

    /// Starts a bucket: a new generation, and the table trimmed when it holds too many series
    /// (pinned series, the overflow series and `keeping`, the series of the bucket's first row,
    /// stay; the others' indices are freed for reuse).
    func nextBucket(keeping: [Int]) -> Int {
        generation += 1
        if canonical.count > capacity || entryCount > 2 * capacity {
            var keep = pinned
            for s in keeping { keep[s] = true }
            var kept: [CanonicalKey: Int] = [:]
            for (k, s) in canonical {
                if keep[s] || isOverflow[s] {
                    kept[k] = s
                } else {
                    free.append(s)
                    attributes[s] = []
                    key[s] = ""
                    identities[s] = nil
                    json[s] = nil
                    dropEncoding(s)
                }
            }
            canonical = kept
            entryCount = 0
            indexes = []
        }
        return generation
    }

    private static func rehash(_ index: inout Index) {
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
