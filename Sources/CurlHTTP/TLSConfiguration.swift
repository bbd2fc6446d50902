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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TLSConfiguration {
    /// Why the file at `path` cannot serve as a certificate or key (missing, a directory,
    /// unreadable), or `nil` when it is a readable regular file. Checked when the configuration is
    /// read, so a wrong path fails at start-up rather than at the first export after a query.
    public static func unreadableReason(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT || errno == ENOTDIR ? "no file at \(path)" : "cannot access \(path) (errno \(errno))"
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "\(path) is not a regular file" }
        guard access(path, R_OK) == 0 else { return "\(path) is not readable by this process" }
        return nil
    }
}
