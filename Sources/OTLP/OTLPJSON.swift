import Foundation

/// What OTLP/JSON writes differently from the generic protobuf JSON mapping.
enum OTLPJSON {
    private static let keys = [Array(#""traceId":""#.utf8), Array(#""spanId":""#.utf8)]

    /// `json` with the value of every `"traceId"` and `"spanId"` key (the generic mapping's base64
    /// of the bytes) written as lower-case hex, as the OTLP specification requires. In a metrics
    /// request only exemplars have these keys, and a string value cannot hold them unescaped.
    static func hexIDs(_ json: [UInt8]) -> [UInt8] {
        guard keys.contains(where: { json.firstRange(of: $0) != nil }) else { return json }
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 64)
        var i = 0
        scan: while i < json.count {
            for key in keys where json[i] == UInt8(ascii: "\"") && json[i...].starts(with: key) {
                let start = i + key.count
                guard let end = json[start...].firstIndex(of: UInt8(ascii: "\"")),
                      let bytes = Data(base64Encoded: Data(json[start..<end])) else { break }
                out.append(contentsOf: key)
                out.append(contentsOf: hexString(Array(bytes)).utf8)
                out.append(UInt8(ascii: "\""))
                i = end + 1
                continue scan
            }
            out.append(json[i])
            i += 1
        }
        return out
    }
}
