import Observability
import Checkpoints
import Foundation
import Logging
import OTLP
import Postgres
import Rollup
import Synchronization

/// What a pass borrows instead of making: the checkpoint store's connection and the OTLP
/// exporters. `run` makes a set for its one pass; each of `serve`'s schedules keeps one across its
/// passes, so its Postgres connection is opened once (and again only once it broke) and its
/// exporters remember an endpoint that is down (``OTLPHTTPExporter/isEndpointUnavailable``: a
/// spent retry budget makes the next pass's first batch a single attempt).
///
/// With them goes the worker thread that runs the passes' deliveries and commits
/// (``PassWorker``): one for `run`, one per schedule in `serve`, kept across its passes.
///
/// One pass at a time holds them (``borrow(_:)``): a schedule runs its passes one after another.
public final class PassResources: Sendable {
    private let lease: Mutex<Lease>

    /// - Parameter migrates: whether a new connection checks the checkpoint schema's migrations
    ///   (`run`), or they were checked once at start (`serve`).
    public init(migrates: Bool) {
        lease = Mutex(Lease(migrates: migrates))
    }

    /// Lends the resources to one pass. A pass that failed on the checkpoint store gives its
    /// connection up: whatever session state the failure left (a lock, a transaction) ends with it.
    func borrow<E: Error>(_ body: (Lease) throws(E) -> [PassSummary]) throws(E) -> [PassSummary] {
        try lease.withLock { (lease) throws(E) -> [PassSummary] in
            do throws(E) {
                let summaries = try body(lease)
                if summaries.contains(where: { $0.errorCode == .checkpoint }) { lease.dropStore(because: "a pass failed on it") }
                return summaries
            } catch {
                lease.dropStore(because: "a pass failed on it")
                throw error
            }
        }
    }

    /// The resources as a pass sees them: made on first use, the connection made again when it broke.
    /// Not `Sendable`: it lives inside its ``PassResources``'s `Mutex` and is lent to one pass at a time.
    final class Lease {
        let migrates: Bool
        private var openStore: CheckpointStore?
        private var metricsExporter: OTLPHTTPExporter?
        private var tracesExporter: OTLPHTTPExporter?
        private var passWorker: PassWorker?

        /// The thread that runs the deliveries and commits of the passes that borrow this lease.
        var worker: PassWorker {
            if let passWorker { return passWorker }
            let made = PassWorker(name: "bridge-io")
            passWorker = made
            return made
        }

        init(migrates: Bool) { self.migrates = migrates }

        /// The checkpoint store: the connection of an earlier pass when it still answers (a
        /// `SELECT 1`), else a new one. A connection left inside a transaction by a failed pass
        /// is not reused either: its locks and state are the server's to drop.
        func store(_ bridge: Bridge) throws(BridgeError) -> CheckpointStore {
            if let store = openStore {
                let connection = store.connection
                if connection.isConnected && !connection.isInTransaction && (try? connection.ping()) != nil { return store }
                dropStore(because: "it no longer answers")
            }
            let opened = try bridge.openStore(migrate: migrates)
            openStore = opened
            return opened
        }

        /// Closes the connection, saying why; the next pass (or this one) makes a new one.
        func dropStore(because reason: String) {
            guard let store = openStore else { return }
            store.connection.logger.notice("closing the checkpoint store connection; the next use reconnects", metadata: ["reason": "\(reason)"])
            store.connection.close()
            openStore = nil
        }

        /// The exporter of the metrics endpoint.
        func metrics(_ bridge: Bridge) -> OTLPHTTPExporter {
            if let metricsExporter { return metricsExporter }
            let made = OTLPHTTPExporter(configuration: bridge.configuration.metricsExporter, signal: .metrics,
                                        retryPolicy: bridge.configuration.retryPolicy, logger: bridge.logger)
            metricsExporter = made
            return made
        }

        /// The exporter of the traces endpoint.
        func traces(_ bridge: Bridge) -> OTLPHTTPExporter {
            if let tracesExporter { return tracesExporter }
            let made = OTLPHTTPExporter(configuration: bridge.configuration.genAITraces.exporter, signal: .traces,
                                        retryPolicy: bridge.configuration.retryPolicy, logger: bridge.logger)
            tracesExporter = made
            return made
        }
    }
}
