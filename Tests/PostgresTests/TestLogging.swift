import Foundation
import Logging
import TestSupport

/// Collects log records so a test can assert what was logged (and what never was).
struct LogRecord: Sendable {
    var level: Logger.Level
    var message: String
    var metadata: [String: String]
}

typealias LogRecords = Collected<LogRecord>

struct CapturingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        self.records.append(LogRecord(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
