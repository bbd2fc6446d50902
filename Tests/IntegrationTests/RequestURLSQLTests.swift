import ClickHouse
import Foundation
import GenAITraces
import Testing
import TestSupport

/// `gen_ai.operation.name`, `server.address` and `server.port` are one mapping: the spans compute
/// them in Swift (`RequestURL`, `OperationName`), the metrics in the SQL of `queries/latency.sql`
/// and `queries/tokens.sql`. This runs the templates' own lines on the ClickHouse endpoint and the
/// Swift over every request-path shape, and requires equal answers.
@Suite("request_url: the SQL and the Swift mapping agree")
struct RequestURLSQLTests {
    /// Every case of `OperationName`, and hostile or odd URLs, as bytes (some are not UTF-8).
    static let urls: [[UInt8]] = {
        var text = [
            "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/completions", "https://api.openai.com/v1/embeddings",
            "https://api.anthropic.com/v1/messages", "https://api.openai.com/v1/responses", "https://b/model/m/converse",
            "https://b/model/m/converse-stream", "https://b/model/m/invoke", "https://b/model/m/invoke-with-response-stream",
            "https://g/v1beta/models/gemini:generateContent", "https://g/v1beta/models/gemini:streamGenerateContent?alt=sse",
            "https://g/v1/models/text-embedding-004:embedContent", "https://g/v1/models/e:batchEmbedContents",
            "https://v/v1/publishers/anthropic/models/claude:rawPredict", "https://v/v1/publishers/mistral/models/m:streamRawPredict",
            "https://g/v1/models/m:countTokens", "https://api.openai.com/v1/images/generations", "https://api.cohere.com/v1/rerank",
            "https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-06-01",
            "https://h/chat/completions/completions", "https://h/completions", "https://h/chat//completions", "https://h/CHAT/Completions",
            // no scheme, bare paths
            "api.openai.com/v1/chat/completions", "/v1/chat/completions", "v1/embeddings", "completions", "chat/completions",
            // queries, fragments, trailing slashes, upper case
            "https://h/v1/messages?x=/v1/embeddings", "https://h/v1/embeddings#/v1/messages", "https://h/v1/chat/completions///",
            "https://h/v1/x?#", "HTTPS://API.OPENAI.COM/V1/EMBEDDINGS", "hTtP://Gw.Internal:80/V1/Messages/", "https://h/models/m:generateContent/",
            "https://h/a:b/v1/messages", "https://h/v1/messages:", "https://h/:generateContent", "https://h/m:a:embedContent",
            // ports
            "https://h:443/v1/messages", "http://h:80/v1/messages", "http://h:443/v1/messages", "https://h:80/v1/messages",
            "https://h:8080/v1/messages", "https://h:0/v1/messages", "https://h:65535/v1/messages", "https://h:65536/v1/messages",
            "https://h:99999/v1/messages", "https://h:123456/v1/messages", "https://h:00080/v1/messages", "https://h:abc/v1/messages",
            "https://h:/v1/messages", "https://h:+80/v1/messages", "grpc://h:443/v1/messages", "HTTP://H:80/v1/completions",
            // IPv6, userinfo
            "https://[::1]/v1/messages", "https://[2001:DB8::1]:8443/v1/messages", "https://[::1/v1/messages", "https://[]/v1/messages",
            "https://[::1]x:9/v1/messages", "https://[::1]:/v1/messages", "https://u:p@h/v1/messages", "https://a@b@H:9000/v1/embeddings",
            "https://u:p@[::1]:8/v1/embeddings", "https://@/v1/messages", "https://u@/v1/messages",
            // empty, broken, odd schemes and hosts
            "", "https://", "https:///v1/chat/completions", "://h/v1/messages", "1http://h/v1/messages", "ht tp://h/v1/messages",
            "a+b-c.d://h/v1/messages", "https://ho st/v1/messages", "https://h\t/v1/messages", "https://h\u{0}x/v1/messages",
            "https://ÉXAMPLE.com/v1/messages", "https://h/v1/chat/\u{301}completions", "https://h/v1/chat/completions\u{301}",
            "https://h\u{301}/v1/messages", "é://h/v1/messages", "mailto:x@y", "not a url", "::not a url::", "https://h?x=1",
            "https://h#f", "https:/h/v1/messages", "https://h/v1/KELVIN/\u{212A}", String(repeating: "/", count: 5),
        ].map { Array($0.utf8) }
        text += [
            [0xFF, 0xFE], Array("https://api.openai.com/v1/".utf8) + [0xFE] + Array("/chat/completions".utf8),
            [0xFF] + Array("://h/v1/messages".utf8), Array("https://h".utf8) + [0xFF] + Array(".com/v1/messages".utf8),
            Array("https://h/v1/chat/completions".utf8) + [0xC3], Array("https://h:8".utf8) + [0xC3, 0x28] + Array("/v1/messages".utf8),
        ]
        return text
    }()

    /// The lines between the markers, which must be the same in both templates. They read
    /// `url_input` (the templates' `request_url` cut at `?` or `#`; here the whole URL: the cut is
    /// the mapping's first step too).
    static func mappingLines() throws -> String {
        var blocks: [String] = []
        for file in ["queries/latency.sql", "queries/tokens.sql"] {
            let sql = try String(contentsOfFile: Services.root + "/" + file, encoding: .utf8)
            guard let begin = sql.range(of: "-- request_url mapping: begin"), let end = sql.range(of: "-- request_url mapping: end") else {
                throw TestFailure("\(file) has no request_url mapping markers")
            }
            blocks.append(String(sql[begin.lowerBound..<end.lowerBound]))
        }
        #expect(blocks[0] == blocks[1], "latency.sql and tokens.sql must hold the same request_url mapping")
        return blocks[0]
    }

    @Test("every shape: equal operation, server.address and server.port")
    func sqlEqualsSwift() throws {
        let s = try Scenario()
        let block = try Self.mappingLines()
        let literals = Self.urls.map { "unhex('\($0.map { String(format: "%02X", $0) }.joined())')" }.joined(separator: ", ")
        let rows = try readAll(s.clickhouse.query("""
            WITH
            \(block)
                0 AS url_done
            SELECT n, url_operation, url_server_address, url_server_port, url_input
            FROM (SELECT arrayJoin(arrayEnumerate(urls)) AS n, urls[n] AS url_input FROM (SELECT [\(literals)] AS urls))
            ORDER BY n
            """))
        #expect(rows.count == Self.urls.count)
        var operations: Set<String> = []
        for r in rows {
            let bytes = Self.urls[Int(r[0].int64!) - 1]
            // The URL as the traces pipeline reads it: the client's decoding (bytes that are not
            // UTF-8 as `\xNN`), as every attribute value is read.
            let text = try #require(r[4].text)
            let url = RequestURL(text)
            let operation = OperationName.of(path: url.path)
            operations.insert(operation)
            let shown = bytes.map { String(format: "%02x", $0) }.joined()
            #expect(r[1].text == operation, "operation of \(shown) (\(text.debugDescription))")
            #expect(r[2].text == url.host, "server.address of \(shown) (\(text.debugDescription))")
            #expect(r[3].int64 == url.nonDefaultPort.map(Int64.init), "server.port of \(shown) (\(text.debugDescription))")
        }
        // Every value the mapping gives is among the shapes.
        #expect(operations == ["chat", "text_completion", "embeddings", "generate_content"])
    }
}
