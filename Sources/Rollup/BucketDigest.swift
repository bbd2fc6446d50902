import Foundation
import PipelineConfig

/// A fingerprint of what a bucket contained when it was exported: the number of observations and
/// an order-independent 64-bit hash of them (FNV-1a per observation, summed), so the same rows
/// queried again give the same digest whatever order ClickHouse returns them in.
package struct BucketDigest: Equatable {
    package var observations = 0
    package var hash: UInt64 = 0

    package mutating func add(_ o: BucketObservation) {
        observations += 1
        // Doubles to 12 significant digits: a float sum that ClickHouse aggregates in another
        // order differs in its last bits, which is not late data.
        func r(_ d: Double) -> String { String(format: "%.12g", d) }
        let value: String = switch o.observation {
        case .int(let v): "i\(v)"
        case .double(let v): "d" + r(v)
        case .histogram(let count, let sum, let min, let max, let buckets): "h\(count)|\(r(sum))|\(min.map(r) ?? "")|\(max.map(r) ?? "")|\(buckets)"
        case .summary(let count, let sum, let quantiles): "s\(count)|\(r(sum))|\(quantiles.map(r))"
        }
        hash &+= Self.fnv1a(o.metric.mapping.name + "\u{1}" + o.seriesKey + "\u{1}" + value)
    }

    package init() {}

    /// `fingerprint:observations:hash` as stored in `otel_bridge.bucket_digests`; the fingerprint
    /// identifies the pipeline's definition (see ``fingerprint(of:)``), so a digest recorded under
    /// another query, mapping or step is never compared with a new one.
    package func text(fingerprint: String) -> String { "\(fingerprint):\(observations):\(String(hash, radix: 16))" }

    /// A short hash of what decides a bucket's contents: the SQL, the parameters, the step, the
    /// bucket column and the metric mappings.
    package static func fingerprint(of pipeline: PipelineConfiguration) -> String {
        var text = pipeline.sql + "\u{1}\(pipeline.stepSeconds)\u{1}" + pipeline.bucketColumn
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
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
