import Environment
import Foundation
import Logging
import OTLP
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import Rollup

/// The one table of environment variables (`EnvironmentVariable.all`): the README documents the
/// same variables, every one of them is read and checked, `validate` and `run` read every switch
/// alike, and the gateway's own spellings mean the documented ones.
@Suite("The environment: one table, read once")
struct EnvironmentTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let template = root.appendingPathComponent("queries/gen_ai_traces.sql").path

    /// Every variable name in the first column of README.md's configuration table (the table under
    /// `## Configuration` whose header is `| variable | default | meaning |`).
    static func readmeVariables() throws -> [String] {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "\n## Configuration\n"), "README.md has no '## Configuration' section")
        let rest = readme[section.upperBound...]
        let header = try #require(rest.range(of: "| variable | default | meaning |"), "no variable table under '## Configuration'")
        var names: [String] = []
        for line in rest[header.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2) {
            guard line.hasPrefix("|") else { break }
            let firstCell = line.split(separator: "|", omittingEmptySubsequences: false)[1]
            // Every `NAME` of the cell: upper-case words with underscores.
            for part in firstCell.split(separator: "`").enumerated() where part.offset % 2 == 1 {
                let name = String(part.element)
                if name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) { names.append(name) }
            }
        }
        return names
    }

    @Test("README.md's configuration table names exactly the variables of the table, aliases included")
    func readmeMatchesTable() throws {
        let documented = try Self.readmeVariables()
        let table = EnvironmentVariable.all.flatMap(\.spellings)
        #expect(Set(documented).count == documented.count, "README names a variable twice: \(documented)")
        let missing = Set(table).subtracting(documented).sorted(), extra = Set(documented).subtracting(table).sorted()
        #expect(missing.isEmpty, "in EnvironmentVariable.all but not in README.md's table: \(missing)")
        #expect(extra.isEmpty, "in README.md's table but not in EnvironmentVariable.all: \(extra)")
    }

    @Test("every variable the Kubernetes manifests set is one of the table (a misspelt name would be ignored)")
    func manifestsSetKnownVariables() throws {
        let directory = Self.root.appendingPathComponent("deploy/kubernetes")
        var seen = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".yaml") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let item = line.drop { $0 == " " }
                guard item.hasPrefix("- name: ") else { continue }
                let name = String(item.dropFirst("- name: ".count)).trimmingCharacters(in: .whitespaces)
                // Environment entries only: containers, volumes and ports have lower-case names.
                guard name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else { continue }
                seen += 1
                #expect(EnvironmentVariable.named(name) != nil, "deploy/kubernetes/\(file) sets \(name), which the bridge does not read")
            }
        }
        #expect(seen > 0, "no environment entries found in deploy/kubernetes")
    }

    /// An environment under which every variable of the table is read (the traces pipeline on).
    static let base = ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": template]

    /// A value each kind refuses.
    static func refused(_ v: EnvironmentVariable) -> String? {
        switch v.kind {
        case .text, .path, .list: nil  // any text is one
        case .credential: "user\u{1}name"
        case .url: "collector:4318"
        case .connectionString: "host=db password='unterminated"
        case .file: "/nonexistent/otel-bridge-\(UUID().uuidString).pem"
        case .boolean: "maybe"
        case .integer, .seconds, .milliseconds, .duration: "-1x"
        case .choice: "sometimes"
        case .instant: "yesterday"
        case .keyValues, .headers: "no-equals-sign"
        }
    }

    @Test("every variable of the table is read: a value its kind refuses is a configuration error naming it")
    func everyVariableIsRead() throws {
        for variable in EnvironmentVariable.all {
            guard let bad = Self.refused(variable) else { continue }
            for spelling in variable.spellings {
                var env = Self.base
                env[spelling] = bad
                // The traces switch itself: its bad value is the one under test.
                if variable == .genAITracesEnabled { env["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED"] = nil; env[spelling] = bad }
                let error = captureError { () throws(BridgeError) in try BridgeConfiguration(environment: env) }
                #expect(error?.code == .configuration, "\(spelling)=\(bad) was accepted")
                #expect(error.map { $0.key == spelling || $0.description.contains(spelling) } ?? false, "\(spelling): \(String(describing: error))")
                if variable.isSecret { #expect(!(error?.description.contains(bad) ?? false), "\(spelling)'s value was echoed") }
            }
        }
    }

    @Test("the one boolean parser: true/1/yes on, false/0/no off, any case, trimmed; nothing else")
    func booleanParser() {
        for (text, expected) in [("true", true), ("TRUE", true), (" Yes\t", true), ("1", true), ("false", false), ("No", false), (" 0 ", false)] {
            #expect(EnvironmentValues.parseBoolean(text) == expected, "\(text)")
        }
        for text in ["", "on", "off", "2", "y", "maybe", "truee"] {
            #expect(EnvironmentValues.parseBoolean(text) == nil, "\(text)")
        }
    }

    static let spellings = ["true", "TRUE", "True", " yes ", "1", "false", "FALSE", "No", "0", "\tfalse", "", "maybe", "on"]

    /// What `run` acts on, by the field it reads: written here, not taken from `switches`.
    static let runReads: [String: @Sendable (BridgeConfiguration) -> Bool] = [
        "OTEL_PUSH_ENABLED": { $0.pushEnabled },
        "BRIDGE_SELF_TELEMETRY": { $0.selfTelemetry },
        "CLICKHOUSE_COMPRESSION": { $0.clickhouse.compression },
        "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": { $0.genAITraces.enabled },
        "EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES": { $0.genAITraces.deprecatedAttributes },
    ]

    @Test("validate and run agree on every boolean variable, in every spelling, and on a bad value", .timeLimit(.minutes(10)))
    func validateAgreesWithRun() throws {
        let booleans = EnvironmentVariable.all.filter(\.isBoolean)
        #expect(Set(booleans.map(\.name)) == Set(Self.runReads.keys), "a boolean variable without its field here")
        // Nothing reachable: every service on a closed port, so each check fails fast or is skipped.
        let closed = [
            "CHECKPOINT_DATABASE_URL": "postgresql://u@127.0.0.1:1/x?connect_timeout=2", "CLICKHOUSE_URL": "http://127.0.0.1:1",
            "OTEL_ENDPOINT": "http://127.0.0.1:1", "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template, "BRIDGE_CONFIG": "/nonexistent/bridge.yaml",
        ]
        for variable in booleans {
            for spelling in variable.spellings {
                for text in Self.spellings {
                    var env = closed
                    env[spelling] = text
                    // The traces switch on, so its own settings are read too (unless it is the one under test).
                    if variable != .genAITracesEnabled { env["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED"] = "true" }
                    let run = Result { () throws(BridgeError) in try BridgeConfiguration(environment: env) }
                    let checks = Bridge.validate(environment: env, logger: Logger(label: "test"), output: { _ in }).checks
                    let environmentLine = try #require(checks.first { $0.name == "environment" })
                    let what = "\(spelling)=\(text.debugDescription)"
                    switch run {
                    case .failure(let error):
                        #expect(error.key == spelling, "\(what): \(error)")
                        #expect(environmentLine.status == .failed && environmentLine.exitCode == 2 && environmentLine.detail.contains(spelling),
                                "\(what): validate said \(environmentLine.line)")
                    case .success(let configuration):
                        let on = Self.runReads[variable.name]!(configuration)
                        let expected = text.trimmingCharacters(in: .whitespaces).isEmpty
                            ? variable.defaultText == "true" : EnvironmentValues.parseBoolean(text)!
                        #expect(on == expected, "\(what): run reads \(on)")
                        #expect(environmentLine.status == .ok, "\(what): validate said \(environmentLine.line)")
                        #expect(environmentLine.detail.contains("\(variable.name)=\(on)"), "\(what): validate said \(environmentLine.line)")
                        // The checks validate makes or skips follow the same value.
                        if variable == .otelPushEnabled {
                            let metrics = try #require(checks.first { $0.name == "otlp metrics" })
                            #expect((metrics.status != .skipped) == on, "\(what): \(metrics.line)")
                        }
                        if variable == .genAITracesEnabled {
                            #expect(checks.contains { $0.name == "otlp traces" } == on, "\(what): \(checks.map(\.name))")
                        }
                    }
                }
            }
        }
    }

    @Test("the gateway's spellings mean the documented variables")
    func gatewaySpellings() throws {
        let c = try BridgeConfiguration(environment: [
            "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template,
            "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT": "https://traces.example:4318",
            "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS": "x-api-key=k3y-value,x-tenant=acme",
        ])
        #expect(c.genAITraces.enabled)
        #expect(c.genAITraces.exporter.endpoint == "https://traces.example:4318/v1/traces")
        #expect(c.genAITraces.exporter.headers.map { "\($0.name)=\($0.value)" } == ["x-api-key=k3y-value", "x-tenant=acme"])
        #expect(c.spellings[.genAITracesEnabled] == "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED")
        #expect(c.spellings[.named("EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT")!] == "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT")
        #expect(c.spellings[.named("EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS")!] == "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS")
        // The documented spelling is read as it always was.
        let documented = try BridgeConfiguration(environment: ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "1", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template])
        #expect(documented.genAITraces.enabled && documented.spellings[.genAITracesEnabled] == "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED")
        // Two spellings, one meaning: fine ("yes" and "true" are both on).
        let both = try BridgeConfiguration(environment: [
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "yes", "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED": " true",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template,
        ])
        #expect(both.genAITraces.enabled)
    }

    @Test("two spellings with different values: a configuration error naming both, never a header value, traces on or off",
          arguments: [
        ("EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED", "true", "EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED", "false"),
        ("EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318", "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT", "http://u:pw-secret-1@b:4318"),
        ("EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=hdr-secret-1", "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS", "x-api-key=hdr-secret-2"),
    ], [true, false])
    func conflictingSpellings(spellings: (String, String, String, String), tracesOn: Bool) throws {
        let (documented, value, alias, other) = spellings
        var env = ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": tracesOn ? "true" : "false", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template]
        env[documented] = value
        env[alias] = other
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: env) })
        #expect(error.code == .configuration && error.code.exitCode == 2)
        #expect(error.description.contains(documented) && error.description.contains(alias), "\(error)")
        for secret in ["pw-secret-1", "hdr-secret-1", "hdr-secret-2"] {
            #expect(!error.description.contains(secret) && !error.debugDescription.contains(secret), "\(error.debugDescription)")
        }
    }

    @Test("a resource attribute value holding '=' is kept whole: each entry is split at its first '='")
    func resourceValueWithEquals() throws {
        let c = try BridgeConfiguration(environment: [
            "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.labels=app=bridge,query=a=b==c,plain=x",
            "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES": "selector=tier=gold,padded= v=1 ",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template,
        ])
        #expect(c.resource == [
            Attribute("service.name", .string("otel-bridge")), Attribute("k8s.pod.labels", .string("app=bridge")),
            Attribute("query", .string("a=b==c")), Attribute("plain", .string("x")),
        ])
        #expect(c.genAITraces.resource == [
            Attribute("service.name", .string("otel-bridge")), Attribute("selector", .string("tier=gold")), Attribute("padded", .string("v=1")),
        ])
    }

    @Test("the variables other pipelines' features read: parsed, defaults off or empty")
    func newVariables() throws {
        let defaults = try BridgeConfiguration(environment: [:])
        #expect(defaults.maxPointAgeSeconds == nil && defaults.metadataAttributes == nil && defaults.semconvStabilityOptIn.isEmpty)
        #expect(!defaults.genAILatestExperimental)
        for (text, seconds) in [("90s", 90), ("15m", 900), ("1h", 3_600), ("2d", 172_800), ("600", 600)] as [(String, Int64)] {
            #expect(try BridgeConfiguration(environment: ["BRIDGE_MAX_POINT_AGE": text]).maxPointAgeSeconds == seconds, "\(text)")
        }
        for text in ["0s", "1.5h", "-1m", "15 minutes", "400d", "99999999999999999999d"] {
            let error = captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["BRIDGE_MAX_POINT_AGE": text]) }
            #expect(error?.key == "BRIDGE_MAX_POINT_AGE", "\(text) accepted")
        }
        let c = try BridgeConfiguration(environment: [
            "BRIDGE_METADATA_ATTRIBUTES": " team, feature , _user", "OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental",
        ])
        #expect(c.metadataAttributes == ["team", "feature", "_user"])
        #expect(c.semconvStabilityOptIn == ["http", "gen_ai_latest_experimental"] && c.genAILatestExperimental)
        #expect(try !BridgeConfiguration(environment: ["OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest"]).genAILatestExperimental)
        let control = captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["BRIDGE_METADATA_ATTRIBUTES": "team,a\u{7}b"]) }
        #expect(control?.key == "BRIDGE_METADATA_ATTRIBUTES" && control?.message.contains("entry 2") == true)
    }

    @Test("serve's and the log's settings are in the same value", arguments: [
        (["BRIDGE_SHUTDOWN_TIMEOUT": "5", "BRIDGE_HEALTH_PORT": "0", "LOG_FORMAT": "JSON", "LOG_LEVEL": "Debug"], true),
        (["BRIDGE_SHUTDOWN_TIMEOUT": "0"], false), (["BRIDGE_HEALTH_PORT": "65536"], false), (["LOG_LEVEL": "verbose"], false),
    ])
    func serveAndLog(env: [String: String], valid: Bool) throws {
        let result = Result { () throws(BridgeError) in try BridgeConfiguration(environment: env) }
        switch result {
        case .success(let c):
            #expect(valid)
            #expect(c.serve.shutdownTimeout == .seconds(5) && c.serve.healthPort == 0)
            #expect(c.logFormat == .json && c.logLevel == .debug)
        case .failure(let error):
            #expect(!valid)
            #expect(error.code == .configuration && env.keys.contains(error.key ?? ""), "\(error)")
        }
    }
}
