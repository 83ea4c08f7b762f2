// A task given as a JSON object (a line of `grpo rewards score`, a task in a
// request to `grpo serve`): the task-set fields, each checked for its type.
//   {"kind": "math", "answer": "4"}  ->  RewardTask(kind: "math", answer: "4")
//   {"answer": 4}                     ->  the same (a number is taken as its text)
//   {"tests": ["x"]}                  ->  FieldError(field: "tests", message: "expected a string")

import Foundation
import Support

extension RewardTask {
    /// A field of a task object with the wrong type or value.
    public struct FieldError: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let message: String
        public var description: String { "field \"\(field)\": \(message)" }
    }

    /// Reads a task object; unknown fields are kept in `json` for plugins.
    public init(object t: [String: JSONValue]) throws {
        for key in ["kind", "prompt", "answer", "tests", "entry_point", "id"] where t[key] != nil && t[key]!.text == nil
        {
            throw FieldError(field: key, message: "expected a string")
        }
        var tolerance: Double?
        if let v = t["numeric_tolerance"], v != .null {
            guard let n = v.number, n >= 0, n < 1 else {
                throw FieldError(field: "numeric_tolerance", message: "expected a number at least 0 and below 1")
            }
            tolerance = n
        }
        for key in ["raw_completion", "in_process_checks"] where t[key] != nil && t[key]!.bool == nil {
            throw FieldError(field: key, message: "expected true or false")
        }
        self.init(
            id: t["id"]?.text, kind: t["kind"]?.text, prompt: t["prompt"]?.text, answer: t["answer"]?.text,
            tests: t["tests"]?.text, entryPoint: t["entry_point"]?.text,
            rawCompletion: t["raw_completion"]?.bool ?? false, numericTolerance: tolerance,
            allowsInProcessChecks: t["in_process_checks"]?.bool ?? false, json: t)
    }
}
