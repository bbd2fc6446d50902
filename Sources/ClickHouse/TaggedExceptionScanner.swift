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
        if exceptionBlock != nil {
            exceptionBlock! += chunk
            return []
        }
        var data = pending
        data += chunk
        if let at = Self.find(marker, in: data) {
            exceptionBlock = Array(data[at...])
            pending = []
            return Array(data[..<at])
        }
        let keep = min(data.count, marker.count - 1)
        pending = Array(data[(data.count - keep)...])
        return Array(data[..<(data.count - keep)])
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

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
