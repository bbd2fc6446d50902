import Testing
import ClickHouse
import OTLP
import Rollup
@testable import GenAITraces

/// The traces pass's fast paths against what they replace: a row read from its bytes
/// (`GenAIRowBinding.row(RawRow)`) against the row of its decoded values, and the URL, operation
/// and ids read in place against the definitions they had as Strings and arrays.
@Suite struct RawRowBindingTests {
    /// RowBinaryWithNamesAndTypes, written as ClickHouse writes it.
    struct Result {
        var bytes: [UInt8] = []
        mutating func varint(_ v: Int) {
            var v = UInt64(v)
            while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            bytes.append(UInt8(v))
        }
        mutating func raw(_ b: [UInt8]) { varint(b.count); bytes += b }
        mutating func string(_ s: String) { raw(Array(s.utf8)) }
        mutating func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    }

    static let names = ["id", "created_at", "trace_id", "span_id", "parent_span_id", "ai_org", "ai_model", "req_units", "res_units",
                        "cost", "cost_currency", "response_status_code", "response_time", "cache_status", "stream_mode", "request_url",
                        "workspace_slug", "virtual_key"]

    /// A value of `type` (as written in the header) from `rng`, hostile ones included.
    static func value(_ type: String, _ rng: inout SplitMix, into out: inout Result) {
        let strings: [[UInt8]] = [
            [], Array("4bf92f3577b34da6a3ce929d0e0e4736".utf8), Array("00f067aa0ba902b7".utf8), Array("00000000000000000000000000000000".utf8),
            Array("req_17".utf8), Array("openai".utf8), Array("azure-openai".utf8), Array("https://API.OpenAI.com:443/v1/chat/completions?x=1".utf8),
            Array("http://[::1]:8080/v1/messages".utf8), Array("héllo wörld, a string longer than fifteen bytes".utf8),
            [0xFF, 0x41, 0x5C], [0xC3], Array("back\\slash".utf8), Array("0123456789ABCDEF".utf8), Array(repeating: 0x61, count: 300),
        ]
        switch type {
        case "String", "LowCardinality(String)": out.raw(strings[rng.below(strings.count)])
        case "Nullable(String)":
            if rng.below(3) == 0 { out.bytes.append(1) } else { out.bytes.append(0); out.raw(strings[rng.below(strings.count)]) }
        case "FixedString(4)": out.bytes += [0x61, 0x62, 0x63, UInt8(rng.below(256))]
        case "UUID": out.le(rng.next()); out.le(rng.below(4) == 0 ? 0 : rng.next())
        case "DateTime64(3, 'UTC')", "DateTime64(6)", "DateTime64(9)":
            out.le([Int64.max, Int64.min, 0, -1, 1_767_225_600_123, Int64(bitPattern: rng.next())][rng.below(6)])
        case "DateTime('UTC')": out.le(UInt32(truncatingIfNeeded: rng.next()))
        case "UInt8", "Bool": out.le(UInt8(truncatingIfNeeded: rng.next()))
        case "UInt16": out.le(UInt16(truncatingIfNeeded: rng.next()))
        case "UInt32": out.le(UInt32(truncatingIfNeeded: rng.next()))
        case "UInt64": out.le(rng.below(2) == 0 ? UInt64(rng.below(1000)) : rng.next())
        case "Int8": out.le(Int8(truncatingIfNeeded: rng.next()))
        case "Int16": out.le(Int16(truncatingIfNeeded: rng.next()))
        case "Int32": out.le(Int32(truncatingIfNeeded: rng.next()))
        case "Int64": out.le(Int64(bitPattern: rng.next()))
        case "Nullable(UInt32)":
            if rng.below(3) == 0 { out.bytes.append(1) } else { out.bytes.append(0); out.le(UInt32(truncatingIfNeeded: rng.next())) }
        case "Float64": out.le([Double.nan, -0.0, .infinity, 0.395, 1e300, 12.5][rng.below(6)].bitPattern)
        case "Float32": out.le(Float(0.25).bitPattern)
        case "Decimal64(4)": out.le(Int64(rng.below(1_000_000)))
        case "Array(Tuple(String, String))":
            let n = rng.below(3)
            out.varint(n)
            for _ in 0..<n { out.raw(strings[rng.below(strings.count)]); out.raw(strings[rng.below(strings.count)]) }
        case "Map(String, String)":
            let n = rng.below(3)
            out.varint(n)
            for _ in 0..<n { out.string(["k", "", "team"][rng.below(3)]); out.raw(strings[rng.below(strings.count)]) }
        default: fatalError("no values of \(type)")
        }
    }

    /// The types each column is given in turn: the query's own, and others a template could return.
    static let types: [String: [String]] = [
        "id": ["UUID", "String", "Nullable(String)", "FixedString(4)"],
        "created_at": ["DateTime64(3, 'UTC')", "DateTime64(6)", "DateTime64(9)", "DateTime('UTC')", "UInt32"],
        "req_units": ["UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64", "Nullable(UInt32)", "Float64", "String", "Bool"],
        "res_units": ["UInt32", "UInt8", "UInt16", "Int64", "Decimal64(4)"],
        "cost": ["Float64", "Float32", "Decimal64(4)", "UInt32", "String"],
        "response_status_code": ["UInt16", "Int32", "UInt64", "Float64"],
        "response_time": ["UInt32", "Int64", "Nullable(UInt32)"],
        "stream_mode": ["UInt8", "Bool", "Int8"],
        "ai_org": ["LowCardinality(String)", "String", "Nullable(String)", "UInt8"],
        "cache_status": ["LowCardinality(String)", "Int64", "Float64"],
    ]

    /// Rows of a result whose columns take the `variant`-th type of each list, read both ways.
    func check(variant: Int, seed: UInt64, metadata: String?) throws {
        var rng = SplitMix(seed: seed)
        var columns = Self.names.map { name in (name, Self.types[name].map { $0[variant % $0.count] } ?? "String") }
        if let metadata { columns.insert(("portkey.metadata", metadata), at: variant % (columns.count + 1)) }
        var out = Result()
        out.varint(columns.count)
        for (name, _) in columns { out.string(name) }
        for (_, type) in columns { out.string(type) }
        let rows = 200
        for _ in 0..<rows { for (_, type) in columns { Self.value(type, &rng, into: &out) } }

        let byValues = try ClickHouseBufferedRows(out.bytes, chunkSize: 7)
        let byBytes = try ClickHouseBufferedRows(out.bytes, chunkSize: 7)
        let binding = try GenAIRowBinding(columns: byValues.columns, pipeline: "gen_ai_traces", file: "t.sql")
        #expect(binding.decode == Array(repeating: false, count: columns.count))
        var encoders = try Self.encoders()
        var values: [ClickHouseValue] = [], unused: [ClickHouseValue] = []
        var raw = RawRow()
        var n = 0, rowsRead = 0
        while try byValues.next(into: &values) {
            #expect(try byBytes.next(into: &unused, raw: &raw, decode: binding.decode))
            n += 1
            let expected = Swift.Result { () throws(BridgeError) in try binding.row(values) }
            let actual = Swift.Result { () throws(BridgeError) in try binding.row(raw) }
            switch (expected, actual) {
            case (.success(var e), .success(var a)):
                // NaN is no NaN's equal: the cost is compared by its bits.
                #expect(e.costCents.bitPattern == a.costCents.bitPattern, "row \(n) of variant \(variant), seed \(seed)")
                // Its span, encoded without a Span, is the span's encoding.
                let k = Int(seed) + n
                #expect(try encoders[k % encoders.count].encode(a).bytes == encoders[k % encoders.count].writer.encode(encoders[k % encoders.count].mapping.span(e)).bytes,
                        "row \(n) of variant \(variant), seed \(seed)")
                e.costCents = 0
                a.costCents = 0
                #expect(e == a, "row \(n) of variant \(variant), seed \(seed)")
                rowsRead += 1
            case (.failure(let e), .failure(let a)):
                #expect("\(e)" == "\(a)", "row \(n) of variant \(variant), seed \(seed)")
            default:
                Issue.record("row \(n) of variant \(variant), seed \(seed): \(expected) by values, \(actual) by bytes")
            }
        }
        #expect(try !byBytes.next(into: &unused, raw: &raw, decode: binding.decode))
        #expect(n == rows)
        if variant == 0 { #expect(rowsRead > rows / 4) }  // the query's own types: many rows are rows (times past 2262 are not)
    }

    /// Span encoders of every mapping option, in protobuf and in JSON.
    static func encoders() throws -> [SpanEncoder] {
        var out: [SpanEncoder] = []
        for wire in [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON] {
            let writer = try SpanRequestWriter(resource: [Attribute("service.name", .string("t"))], scope: InstrumentationScope(name: "t", version: "1"),
                                               wireProtocol: wire)
            for mapping in [SpanMapping(), SpanMapping(deprecatedAttributes: true), SpanMapping(deprecatedAttributes: true, conventions: .latestExperimental)] {
                out.append(SpanEncoder(mapping: mapping, writer: writer))
            }
        }
        return out
    }

    @Test func aSpanEncodedWithoutASpanIsTheSpansEncoding() throws {
        // Rows of every shape the mapping distinguishes, through one encoder after another (the
        // reused attributes must not carry over).
        var rng = SplitMix(seed: 9)
        var encoders = try Self.encoders()
        let texts = ["", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "00000000000000000000000000000000", "0000000000000000",
                     "req_17", "openai", "bedrock", "gpt-4o", "a model name longer than fifteen", "HTTPS://API.OpenAI.com:8443/v1/Chat/Completions",
                     "https://h/v1/embeddings", "http://[::1]:80/x:generateContent", "/v1/messages", "héllo", "\\xff"]
        func text() -> String { texts[rng.below(texts.count)] }
        for k in 0..<3000 {
            var row = GenAIRow(
                id: text(), createdAt: [0, 1_767_225_600_123_000_000, -5, Int64.max][rng.below(4)], traceID: text(), spanID: text(), parentSpanID: text(),
                provider: text(), model: text(), inputTokens: Int64(bitPattern: rng.next()) >> rng.below(64), outputTokens: Int64(rng.below(1000)),
                costCents: [0, 0.395, .nan, .infinity, -1e-12, 123456.789][rng.below(6)], currency: text(),
                status: [0, 200, 399, 400, 429, 503, -1][rng.below(7)], responseTimeMs: [0, 1234, -1, 86_400_001, Int64.max][rng.below(5)],
                cacheStatus: text(), stream: rng.below(2) == 0, requestURL: text(), workspace: text(), virtualKey: text())
            for _ in 0..<rng.below(3) { row.metadata.append(Attribute("portkey.metadata.\(text())", .string(text()))) }
            let e = k % encoders.count
            #expect(try encoders[e].encode(row).bytes == encoders[e].writer.encode(encoders[e].mapping.span(row)).bytes, "\(row)")
        }
    }

    @Test(arguments: 0..<12)
    func aRowFromItsBytesIsTheRowOfItsValues(variant: Int) throws {
        for seed in 1...3 as ClosedRange<UInt64> {
            try check(variant: variant, seed: seed &* 7919 &+ UInt64(variant), metadata: [nil, "Array(Tuple(String, String))", "Map(String, String)"][Int(seed) % 3])
        }
    }

    @Test func uuidText() {
        var rng = SplitMix(seed: 5)
        for _ in 0..<2000 {
            let high = rng.below(5) == 0 ? 0 : rng.next(), low = rng.below(5) == 0 ? UInt64.max : rng.next()
            #expect(GenAIRowBinding.uuidText(high: high, low: low) == Self.referenceUUID(high: high, low: low))
        }
    }

    /// The decoder's UUID text as it is written in the ClickHouse module.
    static func referenceUUID(high: UInt64, low: UInt64) -> String {
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: digits - s.count) + s
        }
        let h = hex(high, 16), l = hex(low, 16)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }

    // MARK: - URL, operation and ids read in place

    /// URLs made of the pieces the definition cuts at, in every order.
    static func urls(_ seed: UInt64, count: Int) -> [String] {
        var rng = SplitMix(seed: seed)
        let pieces = ["https", "HTTP", "h2c", "x+y", "://", ":", "/", "//", "?", "#", "@", "[", "]", "::1", "api.OpenAI.com", "443",
                      "80", "8080", "65535", "65536", "0", "123456", "v1", "chat", "CHAT", "completions", "Completions", "embeddings",
                      "messages", "responses", "converse", "converse-stream", "invoke", "models", "gemini:generateContent",
                      ":streamGenerateContent", ":embedContent", ":batchEmbedContents", ":rawPredict", ":streamRawPredict", ":x",
                      " ", "\t", "é", "ü/", "user:pw", "-", "."]
        return (0..<count).map { _ in
            var s = ""
            for _ in 0..<rng.below(12) { s += pieces[rng.below(pieces.count)] }
            return s
        }
    }

    @Test func theURLReadInPlaceIsTheURLOfItsDefinition() {
        let fixed = ["", "https://api.openai.com/v1/chat/completions", "http://[::1]:8080/v1/messages", "http://[::1/x", "https://u@h:443/",
                     "HTTPS://Host.Example:443/v1/Embeddings/", "ftp://h:99999/p", "://h/p", "h t://x/y", "https://a b/c", "/v1/chat/completions",
                     "https://h:/p", "https://@/p", "https://[]:80/p", "a://b://c/d", "https://h:0080/x", "https://h#://x/y", "https://h?a=://b"]
        for url in fixed + Self.urls(11, count: 20_000) {
            let reference = ReferenceURL(url)
            let parsed = RequestURL(url)
            #expect(parsed.scheme == reference.scheme && parsed.host == reference.host && parsed.port == reference.port
                        && parsed.path == reference.path, "\(url)")
            #expect(parsed.nonDefaultPort == reference.nonDefaultPort, "\(url)")
            #expect(OperationName.of(path: url) == ReferenceURL.operation(path: url), "\(url)")
            #expect(OperationName.of(path: parsed.path) == ReferenceURL.operation(path: reference.path), "\(url)")
        }
    }

    @Test func idsReadInPlace() {
        var rng = SplitMix(seed: 3)
        let digits = Array("0123456789abcdefABCDEFgz".utf8)
        for _ in 0..<20_000 {
            let count = [8, 16][rng.below(2)]
            let length = [2 * count, 2 * count, 2 * count, 2 * count - 1, 0, 2 * count + 1][rng.below(6)]
            let text = String(decoding: (0..<length).map { _ in rng.below(3) == 0 ? UInt8(ascii: "0") : digits[rng.below(rng.below(8) == 0 ? digits.count : 22)] },
                              as: UTF8.self)
            #expect(SpanIDs.valid(text, count: count) == Self.referenceValid(text, count: count), "\(text)")
        }
        #expect(SpanIDs.valid("00000000000000000000000000000000", count: 16) == nil)
        #expect(SpanIDs.valid("00F067aa0ba902b7", count: 8) == [0x00, 0xF0, 0x67, 0xAA, 0x0B, 0xA9, 0x02, 0xB7])
    }

    /// `SpanIDs.valid` as it was written over an array of the text's bytes.
    static func referenceValid(_ text: String, count: Int) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 2 * count else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out.allSatisfy({ $0 == 0 }) ? nil : out
    }
}

/// `RequestURL` and `OperationName` as they were written over Strings and arrays (the definition
/// `RequestURLSQLTests` holds the SQL to): the reference the in-place reading is checked against.
struct ReferenceURL {
    var scheme = "", host = "", port: Int?, path = ""

    init(_ text: String) {
        let bytes = Array(text.utf8)
        var end = bytes.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? bytes.endIndex
        let url = bytes[..<end]
        guard let sep = Self.firstIndex(of: Array("://".utf8), in: url) else {
            path = Self.string(url)
            return
        }
        let scheme = url[..<sep]
        guard !scheme.isEmpty, scheme.allSatisfy(RequestURL.isSchemeByte) else { return }
        self.scheme = Self.lower(Self.string(scheme))
        let rest = url[(sep + 3)...]
        end = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        var authority = rest[..<end]
        let pathBytes = rest[end...]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[(at + 1)...] }
        var hostPart = authority
        var portPart: ArraySlice<UInt8> = []
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return }
            hostPart = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            if after.first == UInt8(ascii: ":") { portPart = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            hostPart = authority[..<colon]
            portPart = authority[(colon + 1)...]
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0 <= 0x20 }) else { return }
        host = Self.lower(Self.string(hostPart))
        path = Self.string(pathBytes)
        if (1...5).contains(portPart.count), portPart.allSatisfy({ (0x30...0x39).contains($0) }),
           let p = Int(Self.string(portPart)), (1...65_535).contains(p) {
            port = p
        }
    }

    var nonDefaultPort: Int? {
        guard let port else { return nil }
        switch (scheme, port) {
        case ("https", 443), ("http", 80): return nil
        default: return port
        }
    }

    static func operation(path: String) -> String {
        var bytes = Substring(path).utf8[...]
        while bytes.last == UInt8(ascii: "/") { bytes = bytes.dropLast() }
        let lower = Self.lower(String(decoding: bytes, as: UTF8.self))
        let segments = lower.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
        guard let last = segments.last else { return OperationName.fallback }
        let previous = segments.count >= 2 ? segments[segments.count - 2] : ""
        if let colon = last.utf8.lastIndex(of: UInt8(ascii: ":")) {
            switch String(decoding: last.utf8[last.utf8.index(after: colon)...], as: UTF8.self) {
            case "generatecontent", "streamgeneratecontent": return "generate_content"
            case "embedcontent", "batchembedcontents": return "embeddings"
            case "rawpredict", "streamrawpredict": return "chat"
            default: return OperationName.fallback
            }
        }
        switch last {
        case "completions" where previous == "chat": return "chat"
        case "completions": return "text_completion"
        case "embeddings": return "embeddings"
        case "messages": return "chat"
        case "responses": return "chat"
        case "converse", "converse-stream": return "chat"
        case "invoke", "invoke-with-response-stream": return OperationName.fallback
        default: return OperationName.fallback
        }
    }

    static func lower(_ s: String) -> String {
        String(decoding: s.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    static func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        while i + needle.count <= haystack.endIndex {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}

/// A small seeded generator (SplitMix64), so a failure names a seed that repeats it.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
