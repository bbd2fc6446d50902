/// Removes the secrets of a connection string from text that leaves this module (error messages,
/// log lines), and makes server text safe to log.
///
/// The secrets are every password the conninfo carries (`password`, `sslpassword`, in a URI's
/// userinfo or its query), the whole userinfo of a URI (as libpq reads it, and up to the last `@`
/// for a malformed URI whose password holds a raw `@` or `/`), and `PGPASSWORD`. Each is replaced
/// by `***` as written, percent-decoded, percent-encoded, and quoted as in a key/value string.
struct PostgresRedactor: Sendable, Equatable {
    /// Every form of every secret, longest first so that a longer form is replaced whole.
    private(set) var forms: [String]

    init(secrets: [String]) {
        var forms: Set<String> = []
        for secret in secrets where !secret.isEmpty {
            forms.insert(secret)
            if let decoded = Self.percentDecoded(secret), !decoded.isEmpty {
                forms.insert(decoded)
            }
            forms.insert(Self.percentEncoded(secret, uppercase: true))
            forms.insert(Self.percentEncoded(secret, uppercase: false))
            forms.insert(secret.replacing("\\", with: "\\\\").replacing("'", with: "\\'"))
        }
        self.forms = forms.sorted { ($0.utf8.count, $0) > ($1.utf8.count, $1) }
    }

    /// The secrets of `conninfo` (parsed or not) and of the environment's `PGPASSWORD`.
    init(conninfo: String?, parsedOptions: [String: String], environment: [String: String]) {
        var secrets: [String] = []
        for keyword in ["password", "sslpassword"] {
            if let value = parsedOptions[keyword] { secrets.append(value) }
        }
        if let password = environment["PGPASSWORD"] { secrets.append(password) }
        if let conninfo {
            secrets += Self.rawSecrets(in: conninfo)
        }
        self.init(secrets: secrets)
    }

    /// `text` with every secret replaced by `***`.
    func redact(_ text: String) -> String {
        var text = text
        for form in self.forms where text.contains(form) {
            text = text.replacing(form, with: "***")
        }
        return text
    }

    /// `text` from the server or libpq, redacted and made safe for one log line.
    func clean(_ text: String) -> String {
        self.redact(Self.escapingControlCharacters(text))
    }

    // MARK: - Finding secrets in unparsed text

    /// Secrets found by reading the text, so that even a string libpq cannot parse is covered.
    static func rawSecrets(in conninfo: String) -> [String] {
        var secrets: [String] = []
        if let schemeEnd = conninfo.firstRange(of: "://") {
            let rest = conninfo[schemeEnd.upperBound...]
            // libpq's reading: the userinfo ends at the first '@' before any '/'.
            if let end = rest.firstIndex(where: { $0 == "@" || $0 == "/" }), rest[end] == "@" {
                secrets += Self.userinfoSecrets(String(rest[..<end]))
            }
            // A raw '@' or '/' in a password: the operator's userinfo ends at the last '@'.
            if let lastAt = rest.lastIndex(of: "@") {
                secrets += Self.userinfoSecrets(String(rest[..<lastAt]))
            }
            // password=… in the query string.
            if let query = rest.firstIndex(of: "?") {
                for pair in rest[rest.index(after: query)...].split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2, ["password", "sslpassword"].contains(String(parts[0]).lowercased()) {
                        secrets.append(String(parts[1]))
                    }
                }
            }
        }
        secrets += Self.keyValuePasswords(in: conninfo)
        return secrets
    }

    /// The userinfo itself and the password part of it (after the first `:`).
    private static func userinfoSecrets(_ userinfo: String) -> [String] {
        guard !userinfo.isEmpty else { return [] }
        var secrets = [userinfo]
        if let colon = userinfo.firstIndex(of: ":") {
            secrets.append(String(userinfo[userinfo.index(after: colon)...]))
        }
        return secrets
    }

    /// Values of `password=` and `sslpassword=` in key/value text, quoted or bare, even when the
    /// string is malformed (an unterminated quote runs to the end).
    private static func keyValuePasswords(in text: String) -> [String] {
        var secrets: [String] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            // A keyword starts the string or follows whitespace.
            guard index == 0 || characters[index - 1].isWhitespace else {
                index += 1
                continue
            }
            var keyword = ""
            var cursor = index
            while cursor < characters.count, characters[cursor].isLetter || characters[cursor] == "_" {
                keyword.append(characters[cursor])
                cursor += 1
            }
            while cursor < characters.count, characters[cursor].isWhitespace { cursor += 1 }
            guard ["password", "sslpassword"].contains(keyword.lowercased()),
                  cursor < characters.count, characters[cursor] == "="
            else {
                index += 1
                continue
            }
            cursor += 1
            while cursor < characters.count, characters[cursor].isWhitespace { cursor += 1 }
            var raw = ""
            var value = ""
            if cursor < characters.count, characters[cursor] == "'" {
                cursor += 1
                while cursor < characters.count, characters[cursor] != "'" {
                    if characters[cursor] == "\\", cursor + 1 < characters.count {
                        raw.append(characters[cursor])
                        cursor += 1
                    }
                    raw.append(characters[cursor])
                    value.append(characters[cursor])
                    cursor += 1
                }
            } else {
                while cursor < characters.count, !characters[cursor].isWhitespace {
                    if characters[cursor] == "\\", cursor + 1 < characters.count {
                        raw.append(characters[cursor])
                        cursor += 1
                    }
                    raw.append(characters[cursor])
                    value.append(characters[cursor])
                    cursor += 1
                }
            }
            secrets += [raw, value]
            index = cursor
        }
        return secrets
    }

    // MARK: - Encodings

    static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = utf8.next().flatMap(Self.hexValue), let low = utf8.next().flatMap(Self.hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func percentEncoded(_ text: String, uppercase: Bool) -> String {
        let digits = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: - Control characters

    /// Text on one line with no terminal control: line breaks (and the tabs libpq indents the next
    /// line with) become `; `, a tab a space, other C0 and C1 controls and DEL `\u{XX}`.
    static func escapingControlCharacters(_ text: String) -> String {
        var output = String.UnicodeScalarView()
        var pendingBreak = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\r" {
                pendingBreak = true
                continue
            }
            if pendingBreak {
                if scalar == "\t" || scalar == " " { continue }
                if !output.isEmpty { output.append(contentsOf: "; ".unicodeScalars) }
                pendingBreak = false
            }
            switch scalar.value {
            case 0x09:
                output.append(" ")
            case 0x00...0x1f, 0x7f...0x9f:
                output.append(contentsOf: PostgresText.escape(scalar).unicodeScalars)
            default:
                output.append(scalar)
            }
        }
        return String(output)
    }
}

extension PostgresConnection {
    /// Every secret a connection string carries, parsed or not (passwords, the userinfo of a URI):
    /// for callers that must keep them out of their own logs.
    public static func secrets(in conninfo: String) -> [String] {
        PostgresRedactor.rawSecrets(in: conninfo)
    }
}
