/// The bridge's own health, exported as OTLP metrics to the metrics endpoint beside the rollups,
/// so an operator alerts on a stalled export in the backend they already use.
///
/// Every instrument carries `otel_bridge.pipeline` (the pipeline's name); failures also carry
/// `error.type` (the error's code: configuration, template, query, result, export, checkpoint).
/// `deploy/` queries these by their Prometheus names (`otel_bridge_watermark_lag_seconds`, …); a
/// test checks the translation.
public enum SelfTelemetry {
    public struct Instrument: Sendable, Equatable {
        public enum Kind: String, Sendable { case counter, gauge, histogram }
        public var name: String
        public var unit: String
        public var kind: Kind
        public var description: String
    }

    public static let passDuration = Instrument(
        name: "otel_bridge.pass.duration", unit: "s", kind: .histogram,
        description: "Wall time of one pass of a pipeline, from lock to unlock.")
    public static let rowsRead = Instrument(
        name: "otel_bridge.rows.read", unit: "{row}", kind: .counter,
        description: "Result rows read from ClickHouse.")
    public static let pointsExported = Instrument(
        name: "otel_bridge.points.exported", unit: "{point}", kind: .counter,
        description: "Data points acknowledged by the OTLP receiver.")
    public static let pointsRejected = Instrument(
        name: "otel_bridge.points.rejected", unit: "{point}", kind: .counter,
        description: "Data points the receiver reported as rejected in a partial success.")
    public static let passFailures = Instrument(
        name: "otel_bridge.pass.failures", unit: "{failure}", kind: .counter,
        description: "Passes that failed, by error.type.")
    public static let watermarkLag = Instrument(
        name: "otel_bridge.watermark.lag", unit: "s", kind: .gauge,
        description: "Seconds the pipeline's watermark is behind now.")

    /// Every instrument, in the order they are exported.
    public static let instruments = [passDuration, rowsRead, pointsExported, pointsRejected, passFailures, watermarkLag]
}
