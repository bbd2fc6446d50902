/// How HTTPS connections are verified and authenticated. Verification is on by default.
public struct TLSConfiguration: Sendable, Equatable {
    /// Verify the server certificate and host name. Turning this off is for tests only.
    public var verifyPeer: Bool
    /// PEM file of CA certificates to trust instead of the system store.
    public var caFile: String?
    /// PEM client certificate for mutual TLS.
    public var clientCertificateFile: String?
    /// PEM private key of the client certificate.
    public var clientKeyFile: String?

    public init(
        verifyPeer: Bool = true, caFile: String? = nil,
        clientCertificateFile: String? = nil, clientKeyFile: String? = nil
    ) {
        self.verifyPeer = verifyPeer
        self.caFile = caFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
    }
}
