import CCurl

public enum Gzip {
    /// gzip-compresses `bytes` (used for OTLP request bodies with `Content-Encoding: gzip`).
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        var capacity = otb_gzip_bound(bytes.count)
        var output = [UInt8](repeating: 0, count: capacity)
        let rc = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                otb_gzip(input.baseAddress, input.count, out.baseAddress, &capacity, level)
            }
        }
        precondition(rc == Z_OK, "zlib deflate failed with \(rc) although the output buffer was sized by compressBound")
        output.removeSubrange(capacity...)
        return output
    }
}
