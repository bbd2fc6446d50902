import Postgres
import UTCTime

extension CheckpointStore {
    /// A keyset pipeline's watermark: the time and, once a row was committed, that row's id
    /// (`checkpoints.watermark_id`). A pipeline without checkpoint gets one at
    /// `initialWatermark` without id.
    public func ensureKeyset(pipeline: String, initialWatermark: UTCInstant) throws -> (watermark: UTCInstant, id: String?) {
        _ = try ensureCheckpoint(pipeline: pipeline, initialWatermark: initialWatermark)
        return try keyset(pipeline: pipeline) ?? (initialWatermark, nil)
    }

    /// The stored keyset of `pipeline`, or nil without checkpoint.
    public func keyset(pipeline: String) throws -> (watermark: UTCInstant, id: String?)? {
        let rows = try connection.query(
            "SELECT watermark, watermark_id FROM otel_bridge.checkpoints WHERE pipeline = $1", [pipeline])
        guard let row = rows.first else { return nil }
        return (try row.instant("watermark"), try row.optionalString("watermark_id"))
    }
}
