// Errors a user can act on: each names the file and the field at fault.

public enum PolicyError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case badConfig(file: String, key: String?, message: String)
    case badCheckpoint(file: String, tensor: String?, message: String)
    case badData(file: String, line: Int, field: String?, message: String)
    case nonFiniteLoss(step: Int, value: Float)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .missingFile(let path): return "\(path): no such file"
        case let .badConfig(file, key, message):
            return key.map { "\(file): key \"\($0)\": \(message)" } ?? "\(file): \(message)"
        case let .badCheckpoint(file, tensor, message):
            return tensor.map { "\(file): tensor \"\($0)\": \(message)" } ?? "\(file): \(message)"
        case let .badData(file, line, field, message):
            return field.map { "\(file):\(line): field \"\($0)\": \(message)" } ?? "\(file):\(line): \(message)"
        case let .nonFiniteLoss(step, value):
            return "step \(step): loss is \(value); stopping before the weights are damaged"
        case .invalidArgument(let m): return m
        }
    }
}
