import UTCTime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A pipeline's row in `otel_bridge.checkpoints`.
public struct Checkpoint: Sendable, Equatable {
    /// The pipeline name (primary key).
    public var pipeline: String
    /// Every bucket that ends at or before this instant has been exported and acknowledged.
    public var watermark: UTCInstant
    /// When the watermark last changed (a batch commit or a rewind).
    public var updatedAt: UTCInstant
    /// When the pipeline got its checkpoint.
    public var createdAt: UTCInstant
    /// When a batch was last committed.
    public var lastSuccessAt: UTCInstant?
    /// The error of the last failed run.
    public var lastError: String?
    /// When the last run failed.
    public var lastErrorAt: UTCInstant?
    /// Failed runs since the last successful one.
    public var consecutiveFailures: Int

    public init(
        pipeline: String, watermark: UTCInstant, updatedAt: UTCInstant, createdAt: UTCInstant, lastSuccessAt: UTCInstant? = nil,
        lastError: String? = nil, lastErrorAt: UTCInstant? = nil, consecutiveFailures: Int = 0
    ) {
        self.pipeline = pipeline
        self.watermark = watermark
        self.updatedAt = updatedAt
        self.createdAt = createdAt
        self.lastSuccessAt = lastSuccessAt
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.consecutiveFailures = consecutiveFailures
    }
}
