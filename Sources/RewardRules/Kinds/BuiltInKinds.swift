// The kinds every rule file can use. Each kind's file defines its RuleKind.

enum BuiltInKinds {
    static var all: [RuleKind] {
        [
            MathRule.kind, CodeRule.kind, ProgramOutputRule.kind, CountdownRule.kind, RegexRule.kind, LengthRule.kind,
            RepetitionRule.kind, TagCountRule.kind, CommandRule.kind,
        ]
    }
}
