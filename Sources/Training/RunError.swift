// A run that cannot start as asked: a resume without what it needs, or a command line that
// asks for two things at once. The CLI shows it as a usage error.

public struct RunError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
