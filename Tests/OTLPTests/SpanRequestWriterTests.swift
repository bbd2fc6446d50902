import Foundation
import SwiftProtobuf
import Testing
@testable import OTLP

@Suite struct SpanRequestWriterTests {
    let resource = [Attribute("service.name", .string("svc")), Attribute("deployment.environment", .string("test"))]
    let scope = InstrumentationScope(name: "otel-bridge", version: "0.1.0")

    func span(_ i: Int, parent: Bool = true) -> Span {
        Span(traceID: Array(0..<16).map { UInt8($0 * 16 + i % 16) }, spanID: [0xAB, 0, 0, 0, 0, 0, 0, UInt8(i + 1)],
             parentSpanID: parent ? [0, 1, 2, 3, 4, 5, 6, 7] : [],
             name: "chat gpt-4o", kind: .client, startTimeUnixNano: 1_700_000_000_123_000_000 + UInt64(i),
             endTimeUnixNano: 1_700_000_000_523_000_000 + UInt64(i),
             attributes: [Attribute("gen_ai.operation.name", .string("chat")), Attribute("gen_ai.usage.input_tokens", .int(0)),
                          Attribute("portkey.cost", .double(0.25)), Attribute("gen_ai.request.stream", .bool(true))],
             status: i % 2 == 0 ? Span.Status(code: .error) : Span.Status())
    }

    /// What swift-protobuf writes for the same spans: the reference.
    func reference(_ spans: [Span]) -> Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest {
        var r = Opentelemetry_Proto_Resource_V1_Resource()
        r.attributes = resource.map(\.proto)
        var s = Opentelemetry_Proto_Common_V1_InstrumentationScope()
        s.name = scope.name
        s.version = scope.version
        var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        ss.scope = s
        ss.spans = spans.map(\.proto)
        var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        rs.resource = r
        rs.scopeSpans = [ss]
        var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
        request.resourceSpans = [rs]
        return request
    }

    @Test func protobufIsByteForByteSwiftProtobufs() throws {
        let writer = try SpanRequestWriter(resource: resource, scope: scope, wireProtocol: .httpProtobuf)
        for n in [0, 1, 3, 200] {
            let spans = (0..<n).map { span($0, parent: $0 % 3 != 0) }
            let body = writer.assemble(try spans.map(writer.encode))
            #expect(body == (try reference(spans).serializedBytes() as [UInt8]))
            #expect(body.count <= writer.overhead + spans.reduce(0) { $0 + (try! writer.encode($1)).byteCount })
        }
    }

    // MARK: - The hand-written protobuf encoder against swift-protobuf, over generated spans

    typealias Generator = MetricRequestWriterTests.Generator
    typealias Values = PointEncoderTests

    static let ids: [[UInt8]] = [[], [0], Array(0..<8), Array(200..<216), Array(repeating: 0xFF, count: 200)]  // 200: a 2-byte length

    /// A span with edge values in every field the model has: ids of every length (empty too), names
    /// with NULs, Unicode and 2- and 3-byte lengths, every kind and status code, times 0 and max,
    /// none to many attributes of every value type (NaN, -0.0, Int64.min, empty keys), status messages.
    static func generatedSpan(_ g: inout Generator) -> Span {
        let attributes = (0..<[0, 1, 5, 40][g.next(4)]).flatMap { _ in Values.attributes(&g) }
        return Span(traceID: Values.pick(ids, &g), spanID: Values.pick(ids, &g), parentSpanID: Values.pick(ids, &g),
                    name: Values.pick(Values.strings, &g), kind: Span.Kind(rawValue: g.next(6))!,
                    startTimeUnixNano: Values.pick(Values.times, &g), endTimeUnixNano: Values.pick(Values.times, &g),
                    attributes: attributes,
                    status: Span.Status(code: Span.Status.Code(rawValue: g.next(3))!, message: g.next(2) == 0 ? "" : Values.pick(Values.strings, &g)))
    }

    @Test("each generated span is written byte for byte as swift-protobuf writes it", arguments: UInt64(1)...8)
    func handWrittenSpansAreSwiftProtobufs(seed: UInt64) throws {
        var g = Generator(state: seed)
        var kinds = Set<Int>(), codes = Set<Int>(), values = Set<String>(), withMessage = 0, withoutStatus = 0
        for _ in 0..<300 {
            let span = Self.generatedSpan(&g)
            let bytes = SpanRequestWriter.protobufField(span)
            let reference = try SpanRequestWriter.referenceProtobufField(span)
            #expect(bytes == reference, "span \(span)")
            guard bytes == reference else { return }
            kinds.insert(span.kind.rawValue)
            codes.insert(span.status.code.rawValue)
            for a in span.attributes { values.insert("\(a.value)".prefix(while: { $0 != "(" }).description) }
            if !span.status.message.isEmpty { withMessage += 1 }
            if span.status == Span.Status() { withoutStatus += 1 }
        }
        // The generator reached every kind, status code and value type, and both status shapes.
        #expect(kinds == Set(0...5))
        #expect(codes == Set(0...2))
        #expect(values == ["string", "int", "double", "bool"])
        #expect(withMessage > 0 && withoutStatus > 0)
    }

    @Test("a request of generated spans is byte for byte swift-protobuf's", arguments: UInt64(1)...4)
    func handWrittenRequestIsSwiftProtobufs(seed: UInt64) throws {
        let writer = try SpanRequestWriter(resource: resource, scope: scope, wireProtocol: .httpProtobuf)
        var g = Generator(state: seed)
        let spans = (0..<Int(seed) * 50).map { _ in Self.generatedSpan(&g) }
        let encoded = try spans.map(writer.encode)
        let body = writer.assemble(encoded)
        #expect(body == (try reference(spans).serializedBytes() as [UInt8]))
        #expect(body.count <= writer.overhead + encoded.reduce(0) { $0 + $1.byteCount })
        let decoded = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: body)
        #expect(decoded.resourceSpans[0].scopeSpans[0].spans.count == spans.count)
    }

    @Test("the comparison sees a wrong byte: a changed value changes the hand-written bytes as it does the reference's")
    func handWrittenBytesFollowTheValues() throws {
        var g = Generator(state: 99)
        var span = Self.generatedSpan(&g)
        span.attributes = [Attribute("k", .double(-0.0))]
        let before = SpanRequestWriter.protobufField(span)
        span.attributes = [Attribute("k", .double(0.0))]
        let after = SpanRequestWriter.protobufField(span)
        #expect(before != after)
        #expect(after == (try SpanRequestWriter.referenceProtobufField(span)))
        #expect(before.count == after.count)
    }

    @Test func jsonWritesIdsAsHexAndOtherwiseDecodesAsTheReference() throws {
        let writer = try SpanRequestWriter(resource: resource, scope: scope, wireProtocol: .httpJSON)
        let spans = [span(0), span(1, parent: false)]
        let body = writer.assemble(try spans.map(writer.encode))
        let object = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
        let rs = (object["resourceSpans"] as! [[String: Any]])[0]
        let json = ((rs["scopeSpans"] as! [[String: Any]])[0]["spans"] as! [[String: Any]])
        #expect(json[0]["traceId"] as? String == "00102030405060708090a0b0c0d0e0f0")
        #expect(json[0]["spanId"] as? String == "ab00000000000001")
        #expect(json[0]["parentSpanId"] as? String == "0001020304050607")
        #expect(json[1]["parentSpanId"] == nil)
        #expect(json[0]["kind"] as? Int == 3)
        #expect((json[0]["status"] as? [String: Any])?["code"] as? Int == 2)
        // Without the ids, the rest is what swift-protobuf's JSON decoder reads as the reference.
        var stripped = object
        var rs2 = rs
        var ss = (rs["scopeSpans"] as! [[String: Any]])[0]
        ss["spans"] = json.map { s in s.filter { !["traceId", "spanId", "parentSpanId"].contains($0.key) } }
        rs2["scopeSpans"] = [ss]
        stripped["resourceSpans"] = [rs2]
        let decoded = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(
            jsonUTF8Data: try JSONSerialization.data(withJSONObject: stripped))
        var expected = reference(spans)
        for i in expected.resourceSpans[0].scopeSpans[0].spans.indices {
            expected.resourceSpans[0].scopeSpans[0].spans[i].traceID = Data()
            expected.resourceSpans[0].scopeSpans[0].spans[i].spanID = Data()
            expected.resourceSpans[0].scopeSpans[0].spans[i].parentSpanID = Data()
        }
        #expect(decoded == expected)
        #expect(body.count <= writer.overhead + spans.reduce(0) { $0 + (try! writer.encode($1)).byteCount })
    }

    @Test func hex() {
        #expect(hexString([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(hexString([]) == "")
    }
}
