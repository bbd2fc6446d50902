import ArgumentParser
import Bridge
import Service
import Foundation

/// `otel-bridge serve`: the long-running form (the Kubernetes Deployment).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every enabled pipeline on its own schedule until SIGTERM or SIGINT (what the Kubernetes Deployment runs).",
        discussion: """
            Each pipeline's pass starts when its next bucket closes (its step, after its lag); pipelines \
            never wait for each other. Replicas share the work through each pipeline's Postgres lock. On \
            SIGTERM or SIGINT no new query or batch starts, a push on the wire may finish within \
            BRIDGE_SHUTDOWN_TIMEOUT seconds (default 20), and the process exits 0; what was not acknowledged \
            is sent by the next run. Health: GET /livez and /readyz on BRIDGE_HEALTH_PORT (default 8080; 0 for none).
            """)

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let bridge = try options.bridge()
        try await bridge.serve(bridge.configuration.serve)
    }
}
