import Checkpoints
import Foundation
import OTLP
import UTCTime

/// A recent bucket read again for late rows: its digest and its series' own values, admitted as
/// the export admits them (own attributes or the overflow series).
package struct LateBucket {
    package var digest: BucketDigest
    package var observations: [BucketObservation]

    package init(digest: BucketDigest = BucketDigest(), observations: [BucketObservation] = []) {
        self.digest = digest
        self.observations = observations
    }

    /// A bucket read again, kept until every re-read bucket is compared: its series are pinned in
    /// `series` (their indices must not be reused meanwhile).
    package init(_ bucket: ResultBucket, series: SeriesTable) {
        for o in bucket.observations { series.pin(o.series) }
        self.init(digest: bucket.digest, observations: bucket.observations)
    }
}

/// What a late-data fold found, as the pass commits it: the records that become the re-read
/// buckets' new baseline (committed with the batch that carries the fold), and the counts.
package struct FoldedLate: Sendable, Equatable {
    package var records: [BucketDigestRecord] = []
    /// Buckets whose digest changed.
    package var buckets = 0
    /// Series differences carried into the next point.
    package var folded = 0
    /// Series differences that cannot be folded: a count that went down (rows deleted), a
    /// series gone, a bucket with no stored values, a histogram whose bounds changed.
    package var unfolded = 0

    package init(records: [BucketDigestRecord] = [], buckets: Int = 0, folded: Int = 0, unfolded: Int = 0) {
        self.records = records
        self.buckets = buckets
        self.folded = folded
        self.unfolded = unfolded
    }
}

/// One series' late rows, folded into its next exported point.
package struct Carry {
    /// The series' index in the pass's ``SeriesTable``.
    package let series: Int
    package var value: Observation
    /// The exemplar of the buckets it came from (the largest), for a point made of carried values
    /// alone; a point with rows of its own keeps its own bucket's.
    package var exemplar: Exemplar?

    package init(series: Int, value: Observation, exemplar: Exemplar? = nil) {
        self.series = series
        self.value = value
        self.exemplar = exemplar
    }
}

/// Late rows folded into the export (`late_data: fold`): what a recent bucket held when it was
/// exported, per series, is stored with its digest (``encode(_:gauges:)``); a pass reads the
/// bucket again, and the difference per series (``difference(_:exported:)``) is carried into that
/// series' next exported point (``SeriesAggregator/carry(_:)``). Sum values, histogram count, sum
/// and bucket counts, and summary count and sum fold; min, max and quantiles cannot (the point
/// keeps those of its own bucket); gauges are not folded (a later value is not an addition).
package enum LateFold {
    /// What a comparison found: the late rows' records and counts, and the carries.
    package struct Found {
        package var late = FoldedLate()
        package var carries: [Carry] = []

        package init() {}
    }

    /// Compares the buckets read again with what was exported. `stored` are the stored records
    /// of the recent buckets (by bucket start), `current` the buckets read now (an empty bucket
    /// is absent); only digests recorded under `fingerprint` are comparable. The buckets' series
    /// are those of `series`.
    package static func compare(stored: [Int64: BucketDigestRecord], current: [Int64: LateBucket], fingerprint: String, gauges: [Bool],
                                series: SeriesTable) -> Found {
        var found = Found()
        var carryIndex: [String: Int] = [:]
        for (start, record) in stored.sorted(by: { $0.key < $1.key }) where record.digest.hasPrefix(fingerprint + ":") {
            let bucket = current[start] ?? LateBucket()
            let digest = bucket.digest.text(fingerprint: fingerprint)
            guard digest != record.digest else { continue }
            found.late.buckets += 1
            found.late.records.append(BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: start), digest: digest,
                                                    exported: encode(bucket.observations, gauges: gauges, series: series)))
            guard let exportedText = record.exported, var exported = decode(exportedText) else {
                found.late.unfolded += 1  // exported before its values were stored: reported, not folded
                continue
            }
            for o in bucket.observations where !gauges[series.metric[o.series]] {
                let key = key(o.series, in: series)
                switch difference(o.observation, exported: exported.removeValue(forKey: key)) {
                case .none:
                    break
                case .unfoldable:
                    found.late.unfolded += 1
                case .fold(let value):
                    found.late.folded += 1
                    if let i = carryIndex[key], let sum = adding(value, to: found.carries[i].value) {
                        found.carries[i].value = sum
                        found.carries[i].exemplar = BucketObservation.larger(found.carries[i].exemplar, o.exemplar)
                    } else if carryIndex[key] == nil {
                        carryIndex[key] = found.carries.count
                        found.carries.append(Carry(series: o.series, value: value, exemplar: o.exemplar))
                    } else {
                        found.late.folded -= 1
                        found.late.unfolded += 1  // the carried total would overflow
                    }
                }
            }
            found.late.unfolded += exported.count  // series exported then, absent now
        }
        return found
    }

    package enum Difference: Equatable {
        case none
        case fold(Observation)
        case unfoldable
    }

    /// `current - exported` as a value to add to the next point: counts and bucket counts must
    /// not go down; doubles equal to 12 significant digits are equal (a sum ClickHouse adds in
    /// another order differs in its last bits, which is not a late row).
    package static func difference(_ current: Observation, exported: Observation?) -> Difference {
        func same(_ a: Double, _ b: Double) -> Bool { a == b || String(format: "%.12g", a) == String(format: "%.12g", b) }
        guard let exported else {
            // A series new in the bucket: all of it, min, max and quantiles left out.
            switch current {
            case .int, .double: return .fold(current)
            case .histogram(let c, let s, _, _, let b): return .fold(.histogram(count: c, sum: s, min: nil, max: nil, buckets: b))
            case .summary(let c, let s, _): return .fold(.summary(count: c, sum: s, quantiles: []))
            }
        }
        switch (current, exported) {
        case (.int(let c), .int(let e)):
            if c == e { return .none }
            let (d, o) = c.subtractingReportingOverflow(e)
            return o || d < 0 ? .unfoldable : .fold(.int(d))
        case (.double(let c), .double(let e)):
            if same(c, e) { return .none }
            let d = c - e
            return d.isFinite && d > 0 ? .fold(.double(d)) : .unfoldable
        case (.histogram(let c, let s, _, _, let b), .histogram(let ec, let es, _, _, let eb)):
            if c == ec && b == eb && same(s, es) { return .none }
            guard c >= ec, b.count == eb.count, zip(b, eb).allSatisfy({ $0 >= $1 }) else { return .unfoldable }
            let ds = same(s, es) ? 0 : s - es
            return .fold(.histogram(count: c - ec, sum: ds, min: nil, max: nil, buckets: zip(b, eb).map { $0 - $1 }))
        case (.summary(let c, let s, _), .summary(let ec, let es, _)):
            if c == ec && same(s, es) { return .none }
            guard c >= ec else { return .unfoldable }
            return .fold(.summary(count: c - ec, sum: same(s, es) ? 0 : s - es, quantiles: []))
        default:
            return .unfoldable  // the metric's kind changed
        }
    }

    /// `carry` added into `observation`: counts, sums and bucket counts add up; min, max and
    /// quantiles stay `observation`'s. `nil` when a total would overflow or the shapes differ.
    package static func adding(_ carry: Observation, to observation: Observation) -> Observation? {
        switch (carry, observation) {
        case (.int(let c), .int(let v)):
            let (r, o) = v.addingReportingOverflow(c)
            return o ? nil : .int(r)
        case (.double(let c), .double(let v)):
            return (c + v).isFinite ? .double(c + v) : nil
        case (.histogram(let c, let s, _, _, let b), .histogram(let vc, let vs, let mn, let mx, let vb)):
            guard b.count == vb.count else { return nil }
            let (count, o) = vc.addingReportingOverflow(c)
            guard !o, (s + vs).isFinite else { return nil }
            var buckets = vb
            for i in buckets.indices {
                let (v, o) = buckets[i].addingReportingOverflow(b[i])
                if o { return nil }
                buckets[i] = v
            }
            return .histogram(count: count, sum: s + vs, min: mn, max: mx, buckets: buckets)
        case (.summary(let c, let s, _), .summary(let vc, let vs, let q)):
            let (count, o) = vc.addingReportingOverflow(c)
            guard !o, (s + vs).isFinite else { return nil }
            return .summary(count: count, sum: s + vs, quantiles: q)
        default:
            return nil
        }
    }

    // MARK: - Stored values

    /// A series' key in the stored values: its metric and store id.
    package static func key(_ s: Int, in series: SeriesTable) -> String {
        let ref = series.identity(s)
        return ref.metric + "\t" + ref.seriesID
    }

    /// The bucket's own values per series as stored in `otel_bridge.bucket_digests.exported`: one
    /// line per series, `metric TAB id TAB value`, with `i<int>`, `d<double>`,
    /// `h<count>;<sum>;<bucket counts>` or `s<count>;<sum>` (doubles written so they read back
    /// exactly). Gauges are left out.
    package static func encode(_ observations: [BucketObservation], gauges: [Bool], series: SeriesTable) -> String {
        var out = ""
        for o in observations where !gauges[series.metric[o.series]] {
            out += key(o.series, in: series)
            out += "\t"
            switch o.observation {
            case .int(let v): out += "i\(v)"
            case .double(let v): out += "d\(v)"
            case .histogram(let c, let s, _, _, let b): out += "h\(c);\(s);" + b.map(String.init).joined(separator: ",")
            case .summary(let c, let s, _): out += "s\(c);\(s)"
            }
            out += "\n"
        }
        return out
    }

    /// The values ``encode(_:gauges:)`` wrote, by ``key(_:)``; `nil` when the text is not theirs.
    package static func decode(_ text: String) -> [String: Observation]? {
        var values: [String: Observation] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3, let tag = fields[2].first else { return nil }
            let body = fields[2].dropFirst()
            let parts = body.split(separator: ";", omittingEmptySubsequences: false)
            let value: Observation
            switch tag {
            case "i":
                guard let v = Int64(body) else { return nil }
                value = .int(v)
            case "d":
                guard let v = Double(body) else { return nil }
                value = .double(v)
            case "h":
                guard parts.count == 3, let c = UInt64(parts[0]), let s = Double(parts[1]) else { return nil }
                let buckets = parts[2].split(separator: ",").compactMap { UInt64($0) }
                guard buckets.count == parts[2].split(separator: ",").count else { return nil }
                value = .histogram(count: c, sum: s, min: nil, max: nil, buckets: buckets)
            case "s":
                guard parts.count == 2, let c = UInt64(parts[0]), let s = Double(parts[1]) else { return nil }
                value = .summary(count: c, sum: s, quantiles: [])
            default:
                return nil
            }
            values[fields[0] + "\t" + fields[1]] = value
        }
        return values
    }
}

/// How a bucket read again for late rows admits its series under delta temporality (where the
/// export admitted the first `limit - 1` series the bucket met, in the result's order): a series
/// exported under its own attributes in that bucket keeps them; a series new to the bucket takes
/// room only if the export left some; every other goes to the overflow series, as it did then.
/// So the difference of each series is taken against the same series, and nothing is folded twice.
package final class LateAdmission: SeriesAdmission {
    /// Per bucket start: the keys (``LateFold/key(_:)``) exported, and how many per metric.
    private let exported: [Int64: (keys: Set<String>, perMetric: [String: Int])]
    private var added: [Int64: [String: Int]] = [:]
    /// The pass's series.
    private let series: SeriesTable

    package init(stored: [Int64: BucketDigestRecord], series: SeriesTable) {
        self.series = series
        var exported: [Int64: (keys: Set<String>, perMetric: [String: Int])] = [:]
        for (start, record) in stored {
            guard let text = record.exported, let values = LateFold.decode(text) else { continue }
            var perMetric: [String: Int] = [:]
            for key in values.keys { perMetric[String(key.prefix { $0 != "\t" }), default: 0] += 1 }
            exported[start] = (Set(values.keys), perMetric)
        }
        self.exported = exported
    }

    package func admit(_ s: Int, metric: ResultBinding.BoundMetric, bucketStart: Int64, admittedInBucket: Int) throws(BridgeError) -> Bool {
        guard let bucket = exported[bucketStart] else { return admittedInBucket < metric.cardinalityLimit - 1 }
        if bucket.keys.contains(LateFold.key(s, in: series)) { return true }
        // The overflow series, when the export had one, counts too: the export was full then.
        let name = series.metricName(s)
        let used = bucket.perMetric[name, default: 0] + (added[bucketStart]?[name] ?? 0)
        guard used < metric.cardinalityLimit - 1 else { return false }
        added[bucketStart, default: [:]][name, default: 0] += 1
        return true
    }
}
