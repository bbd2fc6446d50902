/// Text that came from outside (a response body, a server's error message) made fit for an
/// error description, a log line or a Postgres text column.
///
/// A receiver or server controls these bytes. Shown raw they could forge log lines (`\n`), move
/// the cursor of a terminal (ESC), cut a C string or a Postgres `text` value (NUL), or fill a log
/// with megabytes. So: at most `limit` characters (then `…`), and every control character,
/// non-printable or invalid UTF-8 byte replaced by a visible escape (`\n`, `\r`, `\t`, `\u{1B}`).
public enum LogSafe {
    /// The default bound for text quoted from a response body.
    public static let defaultLimit = 300

    /// `text` with control and non-printable characters escaped, bounded to `limit` characters
    /// of output (escapes included), then `…`.
    public static func text(_ text: String, limit: Int = defaultLimit) -> String {
        // Most text has nothing to escape and fits: it is its own safe form.
        if isPlain(text, limit: limit) { return text }
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            let piece: String
            switch scalar {
            case "\n": piece = "\\n"
            case "\r": piece = "\\r"
            case "\t": piece = "\\t"
            default:
                if needsEscape(scalar) {
                    piece = "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    piece = String(scalar)
                }
            }
            let length = piece.unicodeScalars.count
            if count + length > max(0, limit) {
                out += "…"
                break
            }
            out += piece
            count += length
        }
        return out
    }

    /// Control characters, DEL and C1 controls, the replacement character, line and paragraph
    /// separators, zero-width and bidirectional formatting characters: what could break or
    /// disguise a log line.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0xFFFD, 0xFEFF, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F: true
        default: false
        }
    }

    /// Whether `text` is already safe and within `limit` (checked without allocating).
    public static func isPlain(_ text: String, limit: Int = defaultLimit) -> Bool {
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            if count > limit || needsEscape(scalar) { return false }
        }
        return true
    }

    /// The first bytes of `bytes` decoded as UTF-8 (invalid sequences escaped) and made safe.
    public static func text(_ bytes: some Collection<UInt8>, limit: Int = defaultLimit) -> String {
        // 4 bytes per character at most: never decode more than the limit can show.
        let head = bytes.prefix(max(0, limit) * 4 + 4)
        return text(String(decoding: head, as: UTF8.self), limit: limit)
    }

    /// Whether `value` can go into an HTTP header field as is: no control character except
    /// horizontal tab (CR, LF and NUL would end or cut the field), no DEL.
    public static func isHeaderValueSafe(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// Whether `name` is an RFC 9110 token (`field-name`).
    public static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
