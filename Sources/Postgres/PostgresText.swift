/// What a Swift string must be to be stored in a Postgres `text` column, and a way to make any
/// string so.
///
/// Postgres text cannot hold U+0000: libpq cuts a parameter at the first NUL byte and the server
/// rejects `\0` in a text value. Every other Swift string is valid UTF-8 and storable (Swift
/// strings hold no lone surrogates). ``PostgresConnection`` refuses a parameter with a NUL before
/// sending anything (``PostgresError/Code/invalidParameter``); check with ``validate(_:parameter:)``
/// before doing work that cannot be undone, or store ``sanitized(_:maxBytes:)`` instead.
public enum PostgresText {
    /// The default limit of ``sanitized(_:maxBytes:)``: 8 KiB of UTF-8.
    public static let defaultMaxBytes = 8192

    /// Whether `text` can be sent as a text parameter (it holds no NUL).
    public static func isStorable(_ text: String) -> Bool {
        !text.utf8.contains(0)
    }

    /// Throws ``PostgresError/Code/invalidParameter`` if `text` cannot be sent as a text parameter.
    ///
    /// - Parameter parameter: how to name the value in the error (`"$2"`, `"runs.error"`).
    public static func validate(
        _ text: String,
        parameter: String = "a text value",
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresError) {
        guard let offset = text.utf8.firstIndex(of: 0) else { return }
        let byte = text.utf8.distance(from: text.utf8.startIndex, to: offset)
        throw PostgresError(
            code: .invalidParameter,
            message: "\(parameter) contains a NUL character (U+0000, at UTF-8 byte \(byte)), which Postgres text cannot hold; "
                + "store PostgresText.sanitized(value) instead",
            file: file, line: line
        )
    }

    /// `text` made safe to store in a `text` column and to show on one line:
    ///
    /// - C0 control characters other than tab and line feed (NUL, CR, ESC, …), DEL and the C1
    ///   controls become a visible escape such as `\u{1B}`; a CR LF pair keeps only its escaped CR
    ///   and the line feed.
    /// - If the result has more than `maxBytes` bytes of UTF-8, it is cut at a character boundary
    ///   (never inside a character, an escape or an emoji) and `…` is appended, so that the whole,
    ///   `…` included, has at most `maxBytes` bytes. A `maxBytes` below 3 leaves no room for `…`:
    ///   the result is then the longest prefix that fits.
    public static func sanitized(_ text: String, maxBytes: Int = defaultMaxBytes) -> String {
        let limit = max(0, maxBytes)
        let ellipsis = "…"
        let ellipsisBytes = ellipsis.utf8.count
        var output = ""
        var outputBytes = 0
        // The length of the output when it last had room for the ellipsis after it.
        var fittingBytes = 0
        for character in text {
            let piece = Self.sanitized(character)
            let pieceBytes = piece.utf8.count
            if outputBytes + pieceBytes > limit {
                // Too long: cut back to where `…` still fits (a piece boundary), if it fits at all.
                guard limit >= ellipsisBytes else { return output }
                return String(decoding: output.utf8.prefix(fittingBytes), as: UTF8.self) + ellipsis
            }
            output += piece
            outputBytes += pieceBytes
            if outputBytes + ellipsisBytes <= limit {
                fittingBytes = outputBytes
            }
        }
        return output
    }

    private static func sanitized(_ character: Character) -> String {
        guard character.unicodeScalars.contains(where: Self.needsEscape) else {
            return String(character)
        }
        var piece = ""
        for scalar in character.unicodeScalars {
            if Self.needsEscape(scalar) {
                piece += Self.escape(scalar)
            } else {
                piece.unicodeScalars.append(scalar)
            }
        }
        return piece
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0a: false
        case 0x00...0x1f, 0x7f...0x9f: true
        default: false
        }
    }

    /// `\u{1B}`: the scalar's value in hex, as Swift writes it.
    static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "\\u{" + (hex.count < 2 ? "0" + hex : hex) + "}"
    }
}
