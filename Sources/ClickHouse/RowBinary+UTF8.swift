extension RowBinary {
    /// A String column's bytes that are not valid UTF-8 (ClickHouse strings are arbitrary bytes),
    /// decoded without losing anything: valid sequences as they are, every byte of an invalid
    /// sequence as `\xNN`, and every backslash as `\\`, so two different byte strings stay two
    /// different values (and two series). Valid UTF-8 is never changed.
    static func escapingInvalidUTF8(_ raw: UnsafeRawBufferPointer) -> String {
        var out = ""
        out.reserveCapacity(raw.count + 16)
        let bytes = Array(raw)
        var i = 0
        let hex = Array("0123456789abcdef")
        while i < bytes.count {
            let b = bytes[i]
            let length: Int
            switch b {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: length = 0
            }
            if length > 0, i + length <= bytes.count,
               let scalarText = String(validating: bytes[i..<i + length], as: UTF8.self) {
                out += scalarText == "\\" ? "\\\\" : scalarText
                i += length
            } else {
                out += "\\x"
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
                i += 1
            }
        }
        return out
    }
}
