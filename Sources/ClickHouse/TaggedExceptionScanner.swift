#if canImport(Glibc)
import Glibc
#endif

/// Finds ClickHouse 25.11+'s tagged exception block in a result body as chunks arrive.
///
/// The server announces a random tag in `X-ClickHouse-Exception-Tag`; on failure after the body
/// started it writes `__exception__\r\n<TAG>\r\n<message>\n<length> <TAG>\r\n__exception__\r\n`.
/// The scanner releases bytes that are certainly data and holds back the last few that could be
/// the start of the opening marker, so no byte of an exception reaches the row decoder.
public struct TaggedExceptionScanner: Sendable {
    private let marker: [UInt8]
    private var pending: [UInt8] = []
    /// The exception block once found (marker onwards); later chunks are appended to it.
    public private(set) var exceptionBlock: [UInt8]?

    public init(tag: String) {
        marker = Array("__exception__\r\n\(tag)".utf8)
    }

    /// Feeds the next chunk; returns the bytes that are result data.
    public mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        var data: [UInt8] = []
        feed(chunk) { data += $0 }
        return data
    }

    /// Feeds the next chunk; `data` gets the bytes that are result data, in order (none of the
    /// chunk is copied but the few bytes held back).
    public mutating func feed(_ chunk: [UInt8], data: (ArraySlice<UInt8>) -> Void) {
        if exceptionBlock != nil {
            exceptionBlock! += chunk
            return
        }
        let keep = marker.count - 1
        // A marker that starts in the bytes held back (it may end in this chunk).
        if !pending.isEmpty {
            let joint = pending + chunk.prefix(keep)
            if let at = Self.find(marker, in: joint[...]), at < pending.count {
                data(pending[..<at])
                exceptionBlock = Array(pending[at...]) + chunk
                pending = []
                return
            }
        }
        // A marker that starts in this chunk.
        if let at = Self.find(marker, in: chunk[...]) {
            data(pending[...])
            data(chunk[..<at])
            exceptionBlock = Array(chunk[at...])
            pending = []
            return
        }
        // None: all but the last bytes, which could start a marker, are data.
        if chunk.count >= keep {
            data(pending[...])
            data(chunk[..<(chunk.count - keep)])
            pending = Array(chunk[(chunk.count - keep)...])
        } else {
            let joint = pending + chunk
            let release = max(0, joint.count - keep)
            data(joint[..<release])
            pending = Array(joint[release...])
        }
    }

    /// At the end of the body: the bytes still held back (they were data after all).
    public mutating func finish() -> [UInt8] {
        defer { pending = [] }
        return pending
    }

    /// The exception text inside the block (without markers, length and tag), parsed.
    public var exception: ClickHouseExceptionText? {
        guard let block = exceptionBlock else { return nil }
        return Self.parseBlock(block, markerLength: marker.count)
    }

    static func parseBlock(_ block: [UInt8], markerLength: Int) -> ClickHouseExceptionText? {
        var text = String(decoding: block.dropFirst(markerLength), as: UTF8.self)
        while text.first == "\r" || text.first == "\n" { text.removeFirst() }
        // Drop the closing "\n<length> TAG\r\n__exception__\r\n" when it arrived.
        if let close = text.range(ofASCII: "\r\n__exception__", backwards: true) {
            text = String(text[..<close.lowerBound])
            if let newline = text.lastIndex(of: "\n") { text = String(text[..<newline]) }
        }
        return ClickHouseExceptionText(parsing: text) ?? ClickHouseExceptionText(message: text)
    }

    /// Where `needle` first occurs in `haystack` (an index of `haystack`): `memchr` to each
    /// candidate first byte, then one comparison.
    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        return haystack.withUnsafeBytes { h -> Int? in
            needle.withUnsafeBytes { n -> Int? in
                let base = h.baseAddress!, last = h.count - n.count
                var i = 0
                while i <= last {
                    guard let p = memchr(base + i, Int32(first), last - i + 1) else { return nil }
                    i = base.distance(to: UnsafeRawPointer(p))
                    if memcmp(base + i, n.baseAddress!, n.count) == 0 { return haystack.startIndex + i }
                    i += 1
                }
                return nil
            }
        }
    }
}
