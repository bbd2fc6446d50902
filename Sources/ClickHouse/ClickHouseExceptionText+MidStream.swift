/// The exception text ClickHouse writes into a body after the result began: the tagged block
/// (``TaggedExceptionScanner``) or, before 25.11, a trailing `Code: N. DB::Exception: …`.
extension ClickHouseExceptionText {
    init(message: String) {
        self.code = nil
        self.name = nil
        self.message = message
    }

    /// The exception an older server appended to the end of a body (`Code: N. DB::Exception: …`),
    /// looked for in the last 64 KiB of `bytes`.
    public static func trailing(in bytes: some Collection<UInt8>) -> ClickHouseExceptionText? {
        let tail = bytes.suffix(64 * 1024)
        let text = String(decoding: tail, as: UTF8.self)
        guard let at = text.range(ofASCII: "Code: ", backwards: true),
              text[at.lowerBound...].range(ofASCII: "DB::Exception") != nil
        else { return nil }
        return ClickHouseExceptionText(parsing: String(text[at.lowerBound...]))
    }
}
