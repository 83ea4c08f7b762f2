// The lists of the viewer's Lists page, by the name in their URL
// (/api/runs/{run}/lists/{name}); see Traces' SampleLists for what each holds.

import Traces

enum SampleList: String, CaseIterable {
    case neverSolved = "never-solved"
    case formatOkAnswerWrong = "format-ok-answer-wrong"
    case highestRewardWrong = "highest-reward-wrong"
    case flatGroups = "flat-groups"
    /// The filters of `grpo traces samples`: task, step or step range, rule with a score range,
    /// reason, order.
    case samples

    func table(_ reader: TraceReader, run: Int64, query: Query) throws -> Table {
        let limit = try query.limit()
        let steps = try query.steps
        switch self {
        case .neverSolved: return try reader.neverSolved(run: run, steps: steps, limit: limit)
        case .formatOkAnswerWrong: return try reader.formatOkAnswerWrong(run: run, steps: steps, limit: limit)
        case .highestRewardWrong: return try reader.highestRewardWrong(run: run, steps: steps, limit: limit)
        case .flatGroups: return try reader.flatGroups(run: run, steps: steps, limit: limit)
        case .samples:
            var filter = SampleFilter()
            filter.limit = limit
            filter.steps = steps
            filter.step = try query.integer("step")
            filter.taskID = try query.string("task")
            filter.rule = try query.string("rule")
            filter.reason = try query.string("reason")
            filter.above = try query.number("above")
            filter.below = try query.number("below")
            if let order = try query.string("order") {
                guard let known = SampleFilter.Order(rawValue: order) else {
                    let orders = SampleFilter.Order.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ViewerError.badParameter("order", "\(orders) (not \(order))")
                }
                filter.order = known
            }
            filter.descending = !(try query.flag("ascending"))
            filter.preview = 120
            return try reader.samples(run: run, filter: filter)
        }
    }
}
