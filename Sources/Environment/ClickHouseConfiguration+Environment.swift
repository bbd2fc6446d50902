import ClickHouse

extension ClickHouseConfiguration {
    /// Reads the `CLICKHOUSE_*` variables from `environment`; unset ones keep their defaults.
    ///
    /// `CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD` and `CLICKHOUSE_DATABASE` are credentials: one
    /// trailing line break, which a Kubernetes Secret mounted from a file usually carries, is
    /// dropped, and any other control character is an error that does not show the value.
    /// Numbers are range-checked (``EnvironmentVariable/clickhouseMaxExecutionTime``,
    /// ``EnvironmentVariable/clickhouseConnectTimeout``), file paths must name readable files, and
    /// no error shows a password or a URL's credentials.
    public init(environment env: EnvironmentValues) throws(ClickHouseError) {
        do {
            try self.init(reading: env)
        } catch {
            throw ClickHouseError(code: .configuration, message: error.description)
        }
    }

    /// As ``init(environment:)``, with the error as the table's: the variable and the reason.
    public init(reading env: EnvironmentValues) throws(EnvironmentError) {
        self.init()
        if let v = try env.url(.clickhouseURL) { url = v }
        if let v = try env.credential(.clickhouseUser) { user = v }
        if let v = try env.credential(.clickhousePassword) { password = v }
        if let v = try env.credential(.clickhouseDatabase) { database = v }
        if let v = try env.seconds(.clickhouseMaxExecutionTime) { maxExecutionTime = v }
        if let v = try env.seconds(.clickhouseConnectTimeout) { connectTimeout = v }
        if let v = try env.bool(.clickhouseCompression) {
            compression = v
            // The table's words for on name an encoding: that one alone is offered.
            if case .boolean(let encodings, _) = EnvironmentVariable.clickhouseCompression.kind,
               let word = try env.text(.clickhouseCompression)?.lowercased(), encodings.contains(word) {
                acceptEncoding = word
            }
        }
        if let v = try env.file(.clickhouseCAFile) { tls.caFile = v }
    }
}
