import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import UTCTime

/// The bounds on every wait of a connection, applied when the connection string does not set them.
///
/// A connection string (URI query or key/value) setting the same libpq keyword, or `options`/
/// `PGOPTIONS` with `-c name=value` for the session settings, wins. `nil` leaves a bound to libpq's
/// and the server's own default (which for most of these is: wait forever).
public struct PostgresTimeouts: Sendable, Equatable {
    /// `statement_timeout`: the server cancels a statement running longer. Default 60 s.
    public var statement: Duration?
    /// `lock_timeout`: the server gives up waiting for a row, table or advisory lock. Default 10 s.
    public var lock: Duration?
    /// `idle_in_transaction_session_timeout`: the server ends a session whose transaction stays
    /// idle longer. Default 60 s.
    public var idleInTransaction: Duration?
    /// libpq's `keepalives_idle`: seconds of silence before TCP sends a keepalive. Default 30 s.
    /// With ``keepalivesInterval`` and ``keepalivesCount`` a dead peer is noticed in about a minute.
    public var keepalivesIdle: Duration?
    /// libpq's `keepalives_interval`: between unanswered keepalives. Default 10 s.
    public var keepalivesInterval: Duration?
    /// libpq's `keepalives_count`: unanswered keepalives before the connection is dead. Default 3.
    public var keepalivesCount: Int?
    /// libpq's `tcp_user_timeout`: how long sent data may stay unacknowledged before the connection
    /// is dead (Linux). Default 60 s.
    public var tcpUserTimeout: Duration?

    public init(
        statement: Duration? = .seconds(60),
        lock: Duration? = .seconds(10),
        idleInTransaction: Duration? = .seconds(60),
        keepalivesIdle: Duration? = .seconds(30),
        keepalivesInterval: Duration? = .seconds(10),
        keepalivesCount: Int? = 3,
        tcpUserTimeout: Duration? = .seconds(60)
    ) {
        self.statement = statement
        self.lock = lock
        self.idleInTransaction = idleInTransaction
        self.keepalivesIdle = keepalivesIdle
        self.keepalivesInterval = keepalivesInterval
        self.keepalivesCount = keepalivesCount
        self.tcpUserTimeout = tcpUserTimeout
    }
}

/// What to hand libpq for one connection string: the decisions of ``PostgresConnection/connect``,
/// as a value, with the environment injected so that tests can pass their own.
struct PostgresConnectionPlan: Sendable {
    /// How the effective `sslmode` came about.
    enum SSLModeSource: Sendable, Equatable {
        /// Set by the connection string or `PGSSLMODE`/`PGREQUIRESSL`; not touched.
        case explicit
        /// Chosen here: `verify-full` for a non-local host, `prefer` when every host is local.
        case defaulted(String)
    }

    /// Keyword/value pairs for `PQconnectdbParams` with `expand_dbname`, in order (later wins).
    var parameters: [(keyword: String, value: String)]
    /// The keywords the connection string sets.
    var explicitKeywords: Set<String>
    var sslMode: SSLModeSource
    /// The hosts connected to, as the string and environment name them (`""`: libpq's default socket).
    var hosts: [String]
    /// The session settings added to `options`, name → value (`statement_timeout` → `60000`).
    var sessionSettings: [String: String]
    /// Removes the string's secrets from messages.
    var redactor: PostgresRedactor

    /// The session settings bounded by ``PostgresTimeouts``, in the order they are added.
    static let sessionSettingNames = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"]

    /// Expected forms, for errors about a string that cannot be parsed (which is never echoed).
    static let expectedForms =
        "expected a URI postgresql://user:password@host:port/dbname?param=value "
        + "(percent-encode '@', '/', ':', '%' and spaces in the user name and password: %40, %2F, %3A, %25, %20) "
        + "or key/value pairs such as host=db port=5432 dbname=analytics user=bridge (single-quote values with spaces)"

    static func resolve(
        conninfo: String?,
        environment: [String: String],
        applicationName: String,
        connectTimeout: Duration,
        timeouts: PostgresTimeouts
    ) throws(PostgresError) -> PostgresConnectionPlan {
        let conninfo = conninfo.flatMap { $0.isEmpty ? nil : $0 }
        var options: [String: String] = [:]
        if let conninfo {
            let rawRedactor = PostgresRedactor(conninfo: conninfo, parsedOptions: [:], environment: environment)
            try Self.checkURIShape(conninfo)
            options = try Self.parse(conninfo, redactor: rawRedactor)
        }
        let redactor = PostgresRedactor(conninfo: conninfo, parsedOptions: options, environment: environment)

        func isSet(_ keyword: String, environment names: String...) -> Bool {
            options[keyword] != nil || names.contains { environment[$0] != nil }
        }

        var parameters: [(keyword: String, value: String)] = [("fallback_application_name", applicationName)]
        if !isSet("connect_timeout", environment: "PGCONNECT_TIMEOUT") {
            parameters.append(("connect_timeout", String(Self.wholeSeconds(connectTimeout))))
        }
        let keepaliveSettings: [(String, String?)] = [
            ("keepalives", "1"),
            ("keepalives_idle", timeouts.keepalivesIdle.map { String(Self.wholeSeconds($0)) }),
            ("keepalives_interval", timeouts.keepalivesInterval.map { String(Self.wholeSeconds($0)) }),
            ("keepalives_count", timeouts.keepalivesCount.map { String(max(1, $0)) }),
            ("tcp_user_timeout", timeouts.tcpUserTimeout.map { String(Self.milliseconds($0)) }),
        ]
        for case let (keyword, value?) in keepaliveSettings where !isSet(keyword) {
            parameters.append((keyword, value))
        }

        // Hosts: hostaddr (the address actually dialled) where given, else host; else libpq's
        // default, a Unix socket.
        let hostNames = Self.list(options["host"] ?? environment["PGHOST"])
        let hostAddresses = Self.list(options["hostaddr"] ?? environment["PGHOSTADDR"])
        var hosts: [String] = []
        for index in 0..<max(hostNames.count, hostAddresses.count, 1) {
            let address = index < hostAddresses.count ? hostAddresses[index] : ""
            let name = index < hostNames.count ? hostNames[index] : (hostNames.count == 1 ? hostNames[0] : "")
            hosts.append(address.isEmpty ? name : address)
        }
        let sslMode: SSLModeSource
        if isSet("sslmode", environment: "PGSSLMODE") || isSet("requiressl", environment: "PGREQUIRESSL") {
            sslMode = .explicit
        } else {
            let mode = hosts.allSatisfy(Self.isLocal) ? "prefer" : "verify-full"
            sslMode = .defaulted(mode)
            parameters.append(("sslmode", mode))
        }

        if let conninfo {
            parameters.append(("dbname", conninfo))
        }

        // Session settings: libpq sends only one `options` (the string's, else PGOPTIONS), so
        // extend that one with the bounds it does not set.
        let baseOptions = options["options"] ?? environment["PGOPTIONS"] ?? ""
        let alreadySet = Self.settingNames(inOptions: baseOptions)
        var sessionSettings: [String: String] = [:]
        var added: [String] = []
        let values: [String: Duration?] = [
            "statement_timeout": timeouts.statement,
            "lock_timeout": timeouts.lock,
            "idle_in_transaction_session_timeout": timeouts.idleInTransaction,
        ]
        for name in Self.sessionSettingNames {
            guard let duration = values[name] ?? nil, !alreadySet.contains(name) else { continue }
            let value = String(Self.milliseconds(duration))
            sessionSettings[name] = value
            added.append("-c \(name)=\(value)")
        }
        if !added.isEmpty {
            let merged = ([baseOptions.trimmingPrefix(while: \.isWhitespace)].filter { !$0.isEmpty }.map(String.init) + added)
                .joined(separator: " ")
            parameters.append(("options", merged))
        }
        // The decoders expect UTF-8 whatever PGCLIENTENCODING says.
        parameters.append(("client_encoding", "UTF8"))

        return PostgresConnectionPlan(
            parameters: parameters,
            explicitKeywords: Set(options.keys),
            sslMode: sslMode,
            hosts: hosts,
            sessionSettings: sessionSettings,
            redactor: redactor
        )
    }

    /// Whether a host is this machine: a Unix socket directory (or libpq's default one), an
    /// abstract socket, `localhost`, or a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
    static func isLocal(_ host: String) -> Bool {
        var host = host.trimmingPrefix(while: \.isWhitespace)[...]
        if host.isEmpty || host.hasPrefix("/") || host.hasPrefix("@") { return true }
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        let lowercased = host.lowercased()
        if lowercased == "localhost" || lowercased == "localhost." { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, lowercased, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, lowercased, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
            // IPv4-mapped ::ffff:127.x.y.z
            return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
        }
        return false
    }

    /// The names set by `-c name=value`, `-cname=value` or `--name=value` in an `options` string,
    /// lowercased, with `-` read as `_` as the server does.
    static func settingNames(inOptions options: String) -> Set<String> {
        // The server splits on unescaped whitespace; a backslash escapes the next character.
        var words: [String] = []
        var word = ""
        var escaped = false
        for character in options {
            if escaped {
                word.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character.isWhitespace {
                if !word.isEmpty { words.append(word) }
                word = ""
            } else {
                word.append(character)
            }
        }
        if !word.isEmpty { words.append(word) }

        var names: Set<String> = []
        var index = 0
        while index < words.count {
            var setting: Substring?
            let word = words[index]
            if word == "-c" {
                index += 1
                if index < words.count { setting = words[index][...] }
            } else if word.hasPrefix("-c") {
                setting = word.dropFirst(2)
            } else if word.hasPrefix("--") {
                setting = word.dropFirst(2)
            }
            if let setting, let equals = setting.firstIndex(of: "=") {
                names.insert(setting[..<equals].lowercased().replacing("-", with: "_"))
            }
            index += 1
        }
        return names
    }

    // MARK: - Parsing

    /// Refuses a URI in which libpq would read part of the user name or password as host, port or
    /// database: a raw `@` after the userinfo, which means the password holds an unencoded `@` or
    /// `/`. libpq would then put a fragment of the password into its error messages.
    static func checkURIShape(_ conninfo: String) throws(PostgresError) {
        guard conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://"),
              let schemeEnd = conninfo.firstRange(of: "://")
        else { return }
        var rest = conninfo[schemeEnd.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "@" || $0 == "/" }), rest[end] == "@" {
            rest = rest[rest.index(after: end)...]
        }
        let hostAndPath = rest.prefix { $0 != "?" }
        if hostAndPath.contains("@") {
            throw PostgresError(
                code: .connectionFailed,
                message: "invalid connection URI: it has an '@' after the user name and password, so libpq would read part of them as host or database "
                    + "(the URI is not shown: it may hold a password); " + Self.expectedForms
            )
        }
    }

    /// The keywords the string sets and their values (libpq's parser; no defaults or environment).
    static func parse(_ conninfo: String, redactor: PostgresRedactor) throws(PostgresError) -> [String: String] {
        var errorPointer: UnsafeMutablePointer<CChar>?
        guard let parsed = PQconninfoParse(conninfo, &errorPointer) else {
            var reason = "libpq could not parse it"
            if let errorPointer {
                // libpq quotes fragments of the string it could not parse, which may be a password.
                reason = redactor.clean(Self.removingQuotedFragments(String(cString: errorPointer)))
                    .trimming(" ;")
                PQfreemem(errorPointer)
            }
            throw PostgresError(
                code: .connectionFailed,
                message: "invalid connection string (\(reason); the string is not shown: it may hold a password); " + Self.expectedForms
            )
        }
        defer { PQconninfoFree(parsed) }
        var options: [String: String] = [:]
        var option = parsed
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                options[String(cString: keyword)] = String(cString: value)
            }
            option += 1
        }
        return options
    }

    static func removingQuotedFragments(_ message: String) -> String {
        var output = ""
        var inQuotes = false
        for character in message {
            if character == "\"" {
                output += inQuotes ? "…\"" : "\""
                inQuotes.toggle()
            } else if !inQuotes {
                output.append(character)
            }
        }
        return output
    }

    private static func list(_ value: String?) -> [String] {
        guard let value, !value.isEmpty else { return [] }
        return value.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
    }

    /// Whole seconds, rounded up, at least 1 (libpq's keepalive and connect settings).
    static func wholeSeconds(_ duration: Duration) -> Int64 {
        duration.wholeSeconds(roundingUp: true, clampedTo: 1...Int64(Int32.max))
    }

    /// Milliseconds, rounded up, at most `Int32.max` (the servers' limit); 0 (and anything
    /// negative) is 0 (no bound).
    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.wholeMilliseconds(roundingUp: true, clampedTo: 0...Int64(Int32.max))
    }
}

extension String {
    fileprivate func trimming(_ set: String) -> String {
        var text = self[...]
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}

extension PostgresConnection {
    /// Checks that `conninfo` is a connection string libpq can read (a URI or key/value pairs),
    /// without connecting: a bad one is the operator's configuration, found before anything runs.
    /// The error never shows the string (it may hold a password).
    public static func checkConnectionString(_ conninfo: String) throws(PostgresError) {
        _ = try PostgresConnectionPlan.resolve(
            conninfo: conninfo, environment: [:], applicationName: "otel-bridge", connectTimeout: .seconds(10),
            timeouts: PostgresTimeouts())
    }
}
