public struct EncodedAttributes: Sendable, Equatable {
    public let attributes: [Attribute]
    public let protobuf: [UInt8]
}
