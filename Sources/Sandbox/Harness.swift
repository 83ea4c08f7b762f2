// The Python side of a sandboxed run. It reads the request from stdin
// (nonce, solution, tests; see `request`), keeps the nonce only in a closure, runs the
// solution, then each top-level statement of the tests, in a fresh namespace;
// and prints "<nonce> <passed> <total> <status>" as its last act. The parent
// believes nothing else: not the exit code, not any other output.
//
// Equality in `assert a == b` is rewritten to a type-strict comparison
// (`type(a) is type(b)`, recursively for lists, tuples, dicts and sets) bound
// before the solution runs, so an object whose __eq__ always says True fails.

enum Harness {
    /// The request on stdin: "<nonce>\n<solution length in code points>\n<solution><tests>".
    /// (No json or ast module: importing them would double the interpreter's start-up.)
    static func request(nonce: String, solution: String, tests: String) -> String {
        "\(nonce)\n\(solution.unicodeScalars.count)\n\(solution)\(tests)"
    }

    static let source = #"""
import sys, _ast
def _grpo_main(_read=sys.stdin.read, _write=sys.stdout.write, _flush=sys.stdout.flush, _type=type,
               _isinstance=isinstance, _len=len, _zip=zip, _compile=compile, _exec=exec, _int=int,
               _BaseException=BaseException, _AssertionError=AssertionError, _dict=dict, _list=list,
               _tuple=tuple, _set=set, _frozenset=frozenset, _all=all, _str=str, _bytes=bytes, _bool=bool):
    data = _read()
    nonce, size, rest = data.split("\n", 2)
    size = _int(size)
    solution, tests = rest[:size], rest[size:]
    del data, rest
    def strict(a, b):
        ta, tb = _type(a), _type(b)
        if ta is not tb:
            return ta in (_int, float) and tb in (_int, float) and a == b
        if ta in (_list, _tuple):
            return _len(a) == _len(b) and _all(strict(x, y) for x, y in _zip(a, b))
        if ta is _dict:
            return _len(a) == _len(b) and _all(k in b and strict(a[k], b[k]) for k in a)
        if ta in (_int, float, _str, _bool, _bytes, complex, _set, _frozenset, _type(None)):
            return a == b
        return False
    name = "_grpo_strict_" + nonce[:8]
    def strictify(stmt):
        t = stmt.test
        if _isinstance(t, _ast.Compare) and _len(t.ops) == 1 and _isinstance(t.ops[0], (_ast.Eq, _ast.NotEq)):
            call = _ast.Call(func=_ast.Name(id=name, ctx=_ast.Load()), args=[t.left, t.comparators[0]], keywords=[])
            new = call if _isinstance(t.ops[0], _ast.Eq) else _ast.UnaryOp(op=_ast.Not(), operand=call)
            for node in (call, call.func, new):
                node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = t.lineno, t.col_offset, t.end_lineno, t.end_col_offset
            stmt.test = new
        return stmt
    def report(passed, total, status):
        _write("\n%s %d %d %s\n" % (nonce, passed, total, status))
        _flush()
    try:
        tree = _compile(tests, "<tests>", "exec", _ast.PyCF_ONLY_AST)
    except SyntaxError:
        report(0, 0, "tests_syntax_error"); return
    statements = []
    for stmt in tree.body:
        is_assert = _isinstance(stmt, _ast.Assert)
        if is_assert: stmt = strictify(stmt)
        statements.append((_compile(_ast.Module(body=[stmt], type_ignores=[]), "<tests>", "exec"), is_assert))
    asserts = sum(1 for _, a in statements if a)
    total = asserts or _len(statements)
    try:
        code = _compile(solution, "<solution>", "exec")
    except SyntaxError:
        report(0, total, "syntax_error"); return
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        _exec(code, namespace)
    except _BaseException:
        report(0, total, "error"); return
    namespace[name] = strict
    passed = 0
    status = "passed"
    for compiled, is_assert in statements:
        try:
            _exec(compiled, namespace)
            if is_assert or not asserts: passed += 1
        except _AssertionError:
            status = "assertion_failed"
        except _BaseException:
            if status == "passed": status = "error"
    report(passed if status == "passed" or asserts else 0, total, status)
_grpo_main()
"""#
}
