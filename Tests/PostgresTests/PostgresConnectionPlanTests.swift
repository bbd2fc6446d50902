import Testing

@testable import Postgres

/// The decisions `PostgresConnection.connect` makes before it calls libpq, as plain values.
@Suite("Connection plan: bounds, sslmode, explicit settings win")
struct PostgresConnectionPlanTests {

    func plan(
        _ conninfo: String?,
        environment: [String: String] = [:],
        timeouts: PostgresTimeouts = PostgresTimeouts()
    ) throws -> PostgresConnectionPlan {
        try PostgresConnectionPlan.resolve(
            conninfo: conninfo, environment: environment, applicationName: "otel-bridge",
            connectTimeout: .seconds(10), timeouts: timeouts
        )
    }

    /// The value libpq ends up with: the last one for a keyword, or the expanded conninfo's.
    func value(_ keyword: String, _ plan: PostgresConnectionPlan) -> String? {
        plan.parameters.last { $0.keyword == keyword }?.value
    }

    @Test func everyBoundIsSetByDefault() throws {
        let plan = try self.plan("postgresql://bridge:pw@db.example.com:5432/analytics")
        #expect(self.value("connect_timeout", plan) == "10")
        #expect(self.value("keepalives", plan) == "1")
        #expect(self.value("keepalives_idle", plan) == "30")
        #expect(self.value("keepalives_interval", plan) == "10")
        #expect(self.value("keepalives_count", plan) == "3")
        #expect(self.value("tcp_user_timeout", plan) == "60000")
        #expect(self.value("options", plan)
            == "-c statement_timeout=60000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=60000")
        #expect(plan.sessionSettings == [
            "statement_timeout": "60000", "lock_timeout": "10000", "idle_in_transaction_session_timeout": "60000",
        ])
        // The conninfo comes after the defaults (it overrides them) and before options/client_encoding.
        let keywords = plan.parameters.map(\.keyword)
        #expect(keywords.firstIndex(of: "dbname")! > keywords.firstIndex(of: "keepalives_idle")!)
        #expect(keywords.firstIndex(of: "dbname")! < keywords.firstIndex(of: "options")!)
        #expect(keywords.last == "client_encoding")
    }

    @Test func explicitSettingsInTheStringWin() throws {
        let uri = try self.plan(
            "postgresql://db.example.com/a?connect_timeout=3&keepalives=0&keepalives_idle=7&tcp_user_timeout=0&sslmode=require"
        )
        for keyword in ["connect_timeout", "keepalives", "keepalives_idle", "tcp_user_timeout", "sslmode"] {
            #expect(!uri.parameters.contains { $0.keyword == keyword }, "\(keyword) must be left to the string")
        }
        #expect(self.value("keepalives_interval", uri) == "10")
        #expect(uri.sslMode == .explicit)

        let keyValue = try self.plan("host=db.example.com connect_timeout=4 sslmode=disable keepalives_count=9")
        #expect(!keyValue.parameters.contains { $0.keyword == "connect_timeout" })
        #expect(!keyValue.parameters.contains { $0.keyword == "keepalives_count" })
        #expect(keyValue.sslMode == .explicit)
    }

    @Test func sessionSettingsInOptionsWinAndTheRestIsAppended() throws {
        let plan = try self.plan("postgresql://db.example.com/a?options=-c%20lock_timeout%3D1234%20-c%20work_mem%3D64MB")
        #expect(self.value("options", plan)
            == "-c lock_timeout=1234 -c work_mem=64MB -c statement_timeout=60000 -c idle_in_transaction_session_timeout=60000")
        #expect(plan.sessionSettings["lock_timeout"] == nil)

        // The other spellings the server accepts.
        #expect(PostgresConnectionPlan.settingNames(inOptions: "-cstatement_timeout=5 --lock-timeout=3 -c  Idle_In_Transaction_Session_Timeout=1")
            == ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"])
        #expect(PostgresConnectionPlan.settingNames(inOptions: #"-c search_path=a\ b -c x.y=1"#) == ["search_path", "x.y"])
        #expect(PostgresConnectionPlan.settingNames(inOptions: "-c") == [])
    }

    @Test func pgoptionsIsKeptAndWins() throws {
        let plan = try self.plan("host=db.example.com", environment: ["PGOPTIONS": "-c statement_timeout=5min -c geqo=off"])
        // libpq would drop PGOPTIONS once `options` is passed, so the plan carries it over.
        #expect(self.value("options", plan)
            == "-c statement_timeout=5min -c geqo=off -c lock_timeout=10000 -c idle_in_transaction_session_timeout=60000")
        // An `options` in the string replaces PGOPTIONS, as in libpq.
        let both = try self.plan("host=db.example.com options='-c lock_timeout=1'", environment: ["PGOPTIONS": "-c statement_timeout=1"])
        #expect(self.value("options", both)
            == "-c lock_timeout=1 -c statement_timeout=60000 -c idle_in_transaction_session_timeout=60000")
    }

    @Test func environmentVariablesCountAsExplicit() throws {
        let plan = try self.plan(
            "host=db.example.com",
            environment: ["PGCONNECT_TIMEOUT": "2", "PGSSLMODE": "require"]
        )
        #expect(!plan.parameters.contains { $0.keyword == "connect_timeout" })
        #expect(!plan.parameters.contains { $0.keyword == "sslmode" })
        #expect(plan.sslMode == .explicit)
        #expect(try self.plan("host=db.example.com", environment: ["PGREQUIRESSL": "1"]).sslMode == .explicit)
    }

    @Test func timeoutsCanBeChangedOrLeftOut() throws {
        let plan = try self.plan(
            "host=localhost",
            timeouts: PostgresTimeouts(
                statement: .milliseconds(1500), lock: nil, idleInTransaction: .microseconds(1),
                keepalivesIdle: .milliseconds(1), keepalivesInterval: nil, keepalivesCount: 0, tcpUserTimeout: nil
            )
        )
        #expect(self.value("options", plan) == "-c statement_timeout=1500 -c idle_in_transaction_session_timeout=1")
        #expect(self.value("keepalives_idle", plan) == "1")
        #expect(self.value("keepalives_interval", plan) == nil)
        #expect(self.value("keepalives_count", plan) == "1")
        #expect(self.value("tcp_user_timeout", plan) == nil)
        #expect(PostgresConnectionPlan.milliseconds(.seconds(Int64.max)) == Int64(Int32.max))
        #expect(PostgresConnectionPlan.wholeSeconds(.seconds(-5)) == 1)
    }

    // MARK: - sslmode

    @Test(arguments: [
        ("postgresql://u:p@db.example.com/a", "verify-full"),
        ("postgresql://u:p@10.0.0.5:5432/a", "verify-full"),
        ("postgresql://u:p@[2001:db8::1]:5432/a", "verify-full"),
        ("postgresql://u:p@localhost/a", "prefer"),
        ("postgresql://u:p@LOCALHOST/a", "prefer"),
        ("postgresql://u:p@127.0.0.1:15432/a", "prefer"),
        ("postgresql://u:p@127.42.1.9/a", "prefer"),
        ("postgresql://u:p@[::1]:5432/a", "prefer"),
        ("postgresql:///a?host=/var/run/postgresql", "prefer"),
        ("postgresql://%2Ftmp%2Fpg/a", "prefer"),
        ("host=::1 dbname=a", "prefer"),
        ("host=::ffff:127.0.0.1", "prefer"),
        ("host=128.0.0.1", "verify-full"),
        ("host=localhost.example.com", "verify-full"),
        ("dbname=a", "prefer"),
        ("host=localhost,db.example.com", "verify-full"),
        ("host=localhost,127.0.0.2", "prefer"),
        // hostaddr is what is dialled (a sidecar proxy on loopback); host only names the certificate.
        ("host=db.example.com hostaddr=127.0.0.1", "prefer"),
        ("host=localhost hostaddr=10.1.2.3", "verify-full"),
    ])
    func sslModeDefaultsBySecurityOfTheHost(conninfo: String, expected: String) throws {
        let plan = try self.plan(conninfo)
        #expect(plan.sslMode == .defaulted(expected))
        #expect(self.value("sslmode", plan) == expected)
    }

    @Test func sslModeFromTheEnvironmentHosts() throws {
        #expect(try self.plan(nil, environment: ["PGHOST": "db.example.com"]).sslMode == .defaulted("verify-full"))
        #expect(try self.plan(nil, environment: ["PGHOST": "/tmp"]).sslMode == .defaulted("prefer"))
        #expect(try self.plan(nil).sslMode == .defaulted("prefer"))
        #expect(try self.plan("", environment: ["PGHOSTADDR": "192.0.2.1"]).sslMode == .defaulted("verify-full"))
        // A host in the string replaces PGHOST, as in libpq.
        #expect(try self.plan("host=localhost", environment: ["PGHOST": "db.example.com"]).sslMode == .defaulted("prefer"))
        #expect(try self.plan(nil, environment: ["PGSSLMODE": "disable", "PGHOST": "db.example.com"]).sslMode == .explicit)
    }
}
