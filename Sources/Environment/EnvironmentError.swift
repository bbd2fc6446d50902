/// A variable whose value cannot be used: names the variable, never a secret value.
public struct EnvironmentError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The documented name of the variable (the table's).
    public var variable: String
    /// What is wrong and what is expected.
    public var reason: String

    public init(variable: String, reason: String) {
        self.variable = variable
        self.reason = reason
    }

    public var description: String { "\(variable): \(reason)" }
}
