/// The one seam between the pipeline and the OTLP wire format: turns a batch into the body of an
/// `ExportMetricsServiceRequest`. ``SwiftProtobufMetricsEncoder`` is the reference implementation;
/// a hand-written encoder can replace it without touching anything else.
public protocol MetricsEncoder: Sendable {
    /// The request body in `wireProtocol` (protobuf bytes or OTLP JSON).
    func encode(_ batch: MetricBatch, as wireProtocol: OTLPExporterConfiguration.WireProtocol) throws -> [UInt8]
}
