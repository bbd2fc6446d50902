/// A configuration variable that cannot be used; names the variable, never its value when the
/// value may be secret (headers).
public struct OTLPConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var variable: String
    public var reason: String

    public init(variable: String, reason: String) {
        self.variable = variable
        self.reason = reason
    }

    public var description: String { "\(variable): \(reason)" }
}
