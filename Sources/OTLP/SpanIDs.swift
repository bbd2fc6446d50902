/// A span's ids from the gateway's: used when valid, derived deterministically otherwise, so a
/// re-sent row always yields the very same ids (a crash repeat is a recognisable duplicate).
///
/// One implementation for the GenAI spans and the exemplars of the metrics: an exemplar names the
/// span its request gets, whether or not the traces pipeline runs.
public enum SpanIDs {
    /// The ids of the span the GenAI traces pipeline makes of a gateway row (`docs/traces.md`).
    public struct RowIDs: Sendable, Equatable {
        public var traceID: [UInt8]
        public var spanID: [UInt8]
        /// The gateway's `trace_id` was not a valid OTLP trace id and the span's was derived from it
        /// (the span keeps it in `portkey.trace_id`).
        public var gatewayTraceIDKept: Bool
    }

    /// The trace and span ids of row `id`'s span: the gateway's `traceID` and `spanID` when valid;
    /// a trace id derived from an invalid but non-empty gateway trace id (so spans of one gateway
    /// trace still share one trace), else from the row id; a span id derived from the row id.
    public static func of(id: String, traceID: String, spanID: String) -> RowIDs {
        let ids = inline(id: id, traceID: traceID, spanID: spanID)
        return RowIDs(traceID: ids.traceID.bytes, spanID: ids.spanID.bytes, gatewayTraceIDKept: ids.gatewayTraceIDKept)
    }

    /// ``of(id:traceID:spanID:)`` with the ids held inline (no allocation).
    public static func inline(id: String, traceID: String, spanID: String) -> (traceID: InlineID, spanID: InlineID, gatewayTraceIDKept: Bool) {
        var kept = false
        let trace: InlineID
        if let valid = validInline(traceID, count: 16) {
            trace = valid
        } else if !traceID.isEmpty {
            trace = deriveInline(traceID, domain: "portkey.trace_id", count: 16)
            kept = true
        } else {
            trace = deriveInline(id, domain: "portkey.id.trace", count: 16)
        }
        let span = validInline(spanID, count: 8) ?? deriveInline(id, domain: "portkey.id.span", count: 8)
        return (trace, span, kept)
    }

    /// `text` as `count` bytes when it is exactly `2 * count` hex digits (either case) and not all zero.
    public static func valid(_ text: String, count: Int) -> [UInt8]? {
        if count <= 16 { return validInline(text, count: count)?.bytes }
        let utf8 = Array(text.utf8)
        guard utf8.count == 2 * count else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out.allSatisfy({ $0 == 0 }) ? nil : out
    }

    /// ``valid(_:count:)``, held inline (`count` at most 16).
    public static func validInline(_ text: String, count: Int) -> InlineID? {
        guard text.utf8.count == 2 * count, count <= 16 else { return nil }
        var text = text
        return text.withUTF8 { utf8 in
            var out = InlineID()
            var any: UInt8 = 0
            var i = 0
            while i < count {
                guard let hi = nibble(utf8[2 * i]), let lo = nibble(utf8[2 * i + 1]) else { return nil }
                let b = hi << 4 | lo
                out.append(b)
                any |= b
                i += 1
            }
            return any == 0 ? nil : out
        }
    }

    /// `count` (8 or 16) non-zero bytes derived from `text` under `domain`: FNV-1a 64 over
    /// `domain`, a separator and `text`, once per 8 bytes with the block's number; stable across
    /// versions and platforms (documented in docs/traces.md, so others can compute it).
    public static func derive(_ text: String, domain: String, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var block: UInt8 = 0
        while out.count < count {
            let h = hash(text, domain: domain, block: block)
            for i in 0..<8 where out.count < count { out.append(UInt8(truncatingIfNeeded: h >> (56 - 8 * UInt64(i)))) }
            block += 1
        }
        if out.allSatisfy({ $0 == 0 }) { out[count - 1] = 1 }
        return out
    }

    /// ``derive(_:domain:count:)``, held inline (`count` at most 16).
    public static func deriveInline(_ text: String, domain: String, count: Int) -> InlineID {
        precondition(count <= 16, "an inline id holds 16 bytes")
        var out = InlineID()
        var block: UInt8 = 0
        var any: UInt8 = 0
        while out.count < count {
            let h = hash(text, domain: domain, block: block)
            for i in 0..<8 where out.count < count {
                let b = UInt8(truncatingIfNeeded: h >> (56 - 8 * UInt64(i)))
                out.append(b)
                any |= b
            }
            block += 1
        }
        if any == 0 { out.set(count - 1, 1) }
        return out
    }

    /// FNV-1a 64 over `domain`, a zero byte, `block` and `text`.
    private static func hash(_ text: String, domain: String, block: UInt8) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ b: UInt8) {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        for b in domain.utf8 { mix(b) }
        mix(0)
        mix(block)
        for b in text.utf8 { mix(b) }
        return h
    }

    @inline(__always)
    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// An id of at most 16 bytes held inline, so making one allocates nothing.
public struct InlineID: Sendable, Equatable {
    private var storage: (UInt64, UInt64) = (0, 0)
    public private(set) var count = 0

    public init() {}

    /// Its bytes, for the span's arrays.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var storage = storage
        let count = count
        return try Swift.withUnsafeBytes(of: &storage) { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }

    mutating func append(_ b: UInt8) {
        let i = count
        Swift.withUnsafeMutableBytes(of: &storage) { $0[i] = b }
        count += 1
    }

    mutating func set(_ i: Int, _ b: UInt8) {
        Swift.withUnsafeMutableBytes(of: &storage) { $0[i] = b }
    }

    public static func == (a: InlineID, b: InlineID) -> Bool {
        a.count == b.count && a.storage.0 == b.storage.0 && a.storage.1 == b.storage.1
    }
}
