import Foundation
import PipelineConfig

/// A fingerprint of what a bucket contained when it was exported: the number of observations and
/// an order-independent 64-bit hash of them (FNV-1a per observation, mixed, summed), so the same
/// rows queried again give the same digest whatever order ClickHouse returns them in.
package struct BucketDigest: Equatable {
    package var observations = 0
    package var hash: UInt64 = 0

    /// Adds one series' observation: FNV-1a of `metric \u{1} key \u{1} value`, continued from the
    /// series' seed (``seed(metric:seriesKey:)``, ``SeriesTable/digestSeed(_:)``), so the key's
    /// text is hashed once per pass.
    package mutating func add(seed: UInt64, _ observation: Observation) {
        observations += 1
        var h = seed
        switch observation {
        case .int(let v):
            // "i" and the decimal digits, written straight into the hash.
            h = Self.fnv1a(UInt8(ascii: "i"), h)
            if v < 0 { h = Self.fnv1a(UInt8(ascii: "-"), h) }
            var digits: (UInt64, Int) = (v.magnitude, 0)
            var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits at most, 24 bytes
            withUnsafeMutableBytes(of: &buffer) { out in
                repeat {
                    out[digits.1] = UInt8(ascii: "0") + UInt8(digits.0 % 10)
                    digits.0 /= 10
                    digits.1 += 1
                } while digits.0 > 0
                for i in stride(from: digits.1 - 1, through: 0, by: -1) { h = Self.fnv1a(out[i], h) }
            }
        default:
            // Doubles to 12 significant digits: a float sum that ClickHouse aggregates in another
            // order differs in its last bits, which is not late data.
            func r(_ d: Double) -> String { String(format: "%.12g", d) }
            let value: String = switch observation {
            case .int(let v): "i\(v)"
            case .double(let v): "d" + r(v)
            case .histogram(let count, let sum, let min, let max, let buckets): "h\(count)|\(r(sum))|\(min.map(r) ?? "")|\(max.map(r) ?? "")|\(buckets)"
            case .summary(let count, let sum, let quantiles): "s\(count)|\(r(sum))|\(quantiles.map(r))"
            }
            for byte in value.utf8 { h = Self.fnv1a(byte, h) }
        }
        // Mixed before the sum: FNV-1a ends with an XOR and a multiply, so two values that differ
        // in their last digit differ by a small multiple of the prime, and changes to several
        // series (one count up by 1, another down by 1) could cancel in a plain sum: late rows that
        // leave the digest as it was.
        hash &+= Self.mix(h)
    }

    /// MurmurHash3's 64-bit finalizer: every input bit moves every output bit.
    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// FNV-1a of `metric \u{1} seriesKey \u{1}`.
    package static func seed(metric: String, seriesKey: String) -> UInt64 {
        fnv1a(metric + "\u{1}" + seriesKey + "\u{1}")
    }

    package init() {}

    /// `fingerprint:observations:hash` as stored in `otel_bridge.bucket_digests`; the fingerprint
    /// identifies the pipeline's definition (see ``fingerprint(of:)``), so a digest recorded under
    /// another query, mapping or step is never compared with a new one.
    package func text(fingerprint: String) -> String { "\(fingerprint):\(observations):\(String(hash, radix: 16))" }

    /// A short hash of what decides a bucket's contents: the SQL, the parameters, the step, the
    /// bucket column and the metric mappings, and the digest's own version (`digest 2`: each
    /// observation mixed before the sum), so that a digest recorded by another version is never
    /// compared with a new one.
    package static func fingerprint(of pipeline: PipelineConfiguration) -> String {
        var text = "digest 2\u{1}" + pipeline.sql + "\u{1}\(pipeline.stepSeconds)\u{1}" + pipeline.bucketColumn
        for p in pipeline.parameters { text += "\u{1}\(p.name)=\(p.value.encoded)" }
        for m in pipeline.metrics {
            text += "\u{1}\(m.name)|\(m.dataTypeName)|\(m.columns)|\(m.staticAttributes.map { "\($0.key)=\($0.value)" })"
        }
        return String(fnv1a(text), radix: 36)
    }

    /// 64-bit FNV-1a: fast and stable across processes and versions (a digest is compared with
    /// one stored by an earlier run), which Swift's seeded `Hasher` is not.
    private static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { h = fnv1a(byte, h) }
        return h
    }

    @inline(__always)
    private static func fnv1a(_ byte: UInt8, _ h: UInt64) -> UInt64 { (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
}
