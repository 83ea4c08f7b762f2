// The Python side of the sandbox: three small programs, all run in the sandbox.
//
// - `runner` runs the candidate's solution, then the plan's steps (setup the
//   calls need, the calls under test, checks that can only run in-process), and
//   writes what each step produced as plain data (`PythonValue`'s wire form) on
//   fd 3. It decides nothing: everything it writes may have been forged by the
//   candidate, who shares its interpreter, and is read as data.
// - `planner` never runs candidate code: it reads the tests, splits every
//   assert into the calls under test and what is expected of them, and
//   evaluates the expected side itself (TestPlan.swift).
// - `verifier` never runs candidate code either: it evaluates the checks that
//   are more than a comparison (`len(f(9)) == 3`) on the values a run
//   returned, decoded from the wire form.
//
// The candidate never sees an expected value: the runner gets only the calls
// (and the setup they use), so a forged answer is no better than a wrong one.
// Requests to the runner and the verifier are framed items "<kind><bytes>\n<text>"
// (sizes in bytes of UTF-8, no newline translation); neither imports a module,
// since every run pays for its imports. The planner, run once per tests text,
// speaks JSON. All of them run in a fork of the fork server (ForkServer.swift),
// which has compiled them once.

enum Harness {
    /// Framed items, each "<kind><bytes>\n<text>".
    static func frame(_ items: [(kind: Character, text: String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (kind, text) in items {
            out.append(contentsOf: Array("\(kind)\(text.utf8.count)\n".utf8))
            out.append(contentsOf: Array(text.utf8))
        }
        return out
    }

    /// The runner's request: the solution (X), then each step (S statement, P call, W in-process check).
    static func runnerRequest(solution: String, steps: [TestPlan.Step]) -> [UInt8] {
        frame([("X", solution)] + steps.map { ($0.kind.wireCode, $0.source) })
    }

    /// The verifier's request: values (V "<probe>=<wire>"), then the plan's setup statements (E) and
    /// computed checks (C "<check>:<expression>") in order.
    static func verifierRequest(program: [TestPlan.VerifierStep], values: [String: String]) -> [UInt8] {
        frame(
            values.sorted { $0.key < $1.key }.map { ("V", "\($0.key)=\($0.value)") }
                + program.compactMap { step in
                    if let source = step.exec { return ("E", source) }
                    guard let c = step.check, let e = step.expression else { return nil }
                    return ("C", "\(c):\(e)")
                })
    }

    /// Reads the framed request from stdin (shared by the runner and the verifier).
    static let reader = #"""
        def _grpo_read(_read=__import__("sys").stdin.buffer.read, _int=int, _len=len, _decode=bytes.decode):
            data = _read()
            items = []
            i = 0
            while i < _len(data):
                j = data.index(b"\n", i)
                size = _int(data[i + 1:j])
                items.append((data[i:i + 1], _decode(data[j + 1:j + 1 + size], "utf-8", "surrogateescape")))
                i = j + 1 + size
            return items
        """#

    /// Writes a Python value in the wire form (see PythonValue.swift); builtins are bound
    /// before any candidate code runs, and types are compared by identity only.
    static let encoder = #"""
        def _grpo_encoder(_type=type, _bool=bool, _int=int, _float=float, _complex=complex, _str=str, _bytes=bytes,
                          _list=list, _tuple=tuple, _dict=dict, _set=set, _frozenset=frozenset, _len=len,
                          _repr=float.__repr__, _none=type(None), _name=type.__dict__["__name__"].__get__,
                          _items=dict.items, _real=complex.real.__get__, _imag=complex.imag.__get__,
                          _encode=str.encode, _hex=bytes.hex, _BaseException=BaseException):
            def name(t):
                try:
                    n = _name(t)
                    return _hex(_encode(n, "utf-8", "replace")) if _type(n) is _str else ""
                except _BaseException:
                    return ""
            def enc(v, out, depth):
                t = _type(v)
                if t is _none: out.append("N")
                elif t is _bool: out.append("T" if v else "F")
                elif t is _int: out.append("i%x;" % v)
                elif t is _float: out.append("f" + _repr(v) + ";")
                elif t is _complex: out.append("c" + _repr(_real(v)) + "," + _repr(_imag(v)) + ";")
                elif t is _str: out.append("s" + _hex(_encode(v, "utf-8", "surrogatepass")) + ";")
                elif t is _bytes: out.append("b" + _hex(v) + ";")
                elif depth > 60: out.append("?" + _hex(b"deep") + ";")
                elif t is _list or t is _tuple or t is _set or t is _frozenset:
                    tag = "l" if t is _list else "t" if t is _tuple else "S" if t is _set else "z"
                    out.append("%s%d:" % (tag, _len(v)))
                    for x in v: enc(x, out, depth + 1)
                elif t is _dict:
                    out.append("d%d:" % _len(v))
                    for k, x in _items(v):
                        enc(k, out, depth + 1)
                        enc(x, out, depth + 1)
                else: out.append("?" + name(t) + ";")
            def encode(v):
                out = []
                enc(v, out, 0)
                return "".join(out)
            return encode, name
        """#

    /// Type-strict equality, the same rule as `PythonValue.strictlyEquals`: used by the clean
    /// verifier and by in-process checks (where the candidate can undo it: hence "weak").
    static let strict = #"""
        def _grpo_strict_equality(_type=type, _int=int, _float=float, _str=str, _bool=bool, _bytes=bytes,
                                  _complex=complex, _none=type(None), _list=list, _tuple=tuple, _dict=dict,
                                  _set=set, _frozenset=frozenset, _len=len, _all=all, _zip=zip, _id=id,
                                  _items=dict.items):
            def key(x):
                t = _type(x)
                if t is _bool: return ("b", x)
                if t is _int or t is _float: return ("n", x)
                if t is _str: return ("s", x)
                if t is _bytes: return ("y", x)
                if t is _none: return ("0",)
                if t is _complex: return ("c", x)
                if t is _tuple: return ("t",) + _tuple(key(i) for i in x)
                if t is _frozenset: return ("z", _frozenset(key(i) for i in x))
                return ("?", _id(x))
            def strict(a, b):
                ta, tb = _type(a), _type(b)
                if ta is not tb:
                    return (ta is _int or ta is _float) and (tb is _int or tb is _float) and a == b
                if ta is _list or ta is _tuple:
                    return _len(a) == _len(b) and _all(strict(x, y) for x, y in _zip(a, b))
                if ta is _dict:
                    kb = {key(k): v for k, v in _items(b)}
                    if _len(a) != _len(b) or _len(kb) != _len(b): return False
                    for k, v in _items(a):
                        kk = key(k)
                        if kk not in kb or not strict(v, kb[kk]): return False
                    return True
                if ta is _set or ta is _frozenset:
                    return _len(a) == _len(b) and {key(x) for x in a} == {key(x) for x in b}
                if ta in (_int, _float, _str, _bool, _bytes, _complex, _none):
                    return a == b
                return False
            return strict
        """#

    /// The candidate's side. Imports nothing (an import would slow every run).
    static let runner =
        encoder + "\n" + strict + "\n" + reader + "\n" + #"""
            def _grpo_run(_open=open, _type=type, _compile=compile, _exec=exec, _eval=eval,
                          _BaseException=BaseException,
                          _AssertionError=AssertionError, _strict=_grpo_strict_equality()):
                encode, name = _grpo_encoder()
                items = _grpo_read()
                channel = _open(3, "wb", closefd=False)
                out = []
                def finish():
                    out.append("end\n")
                    channel.write("\n".join(out).encode("ascii"))
                    channel.flush()
                try:
                    code = _compile(items[0][1], "<solution>", "exec")
                except _BaseException:
                    out.append("syntax_error")
                    finish()
                    return
                steps = [(k, _compile(s, "<tests>", "eval" if k == b"P" else "exec")) for k, s in items[1:]]
                namespace = {"__name__": "__main__", "__builtins__": __builtins__}
                try:
                    _exec(code, namespace)
                    out.append("ok")
                except _BaseException as e:
                    out.append("error " + name(_type(e)))
                    finish()
                    return
                namespace["_grpo_strict"] = _strict
                for kind, compiled in steps:
                    try:
                        if kind == b"P":
                            out.append(encode(_eval(compiled, namespace)))
                        else:
                            _exec(compiled, namespace)
                            out.append("T" if kind == b"W" else "N")
                    except _AssertionError:
                        out.append("F" if kind == b"W" else "!" + name(_AssertionError) + ";")
                    except _BaseException as e:
                        out.append("!" + name(_type(e)) + ";")
                finish()
            _grpo_run()
            """#

    /// A whole program, all of standard input, run as `python -` would run it.
    static let program = """
        exec(compile(__import__("sys").stdin.buffer.read(), "<stdin>", "exec"),
             {"__name__": "__main__", "__builtins__": __builtins__})
        """

    /// Plans a task's tests (TestPlan.swift). Never given candidate code.
    static let planner =
        encoder + "\n" + #"""
            import builtins, json, sys

            class _TestsError(Exception):
                pass

            def _planner():
                # ast and copy are imported here: the verifier, which runs once per program, needs neither.
                import ast, copy

                class _Unsplittable(Exception):
                    pass

                def _loads(node):
                    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}

                def _bound(node):
                    out = set()
                    for n in ast.walk(node):
                        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load): out.add(n.id)
                        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.add(n.name)
                        elif isinstance(n, ast.arg): out.add(n.arg)
                        elif isinstance(n, ast.alias): out.add((n.asname or n.name).split(".")[0])
                        elif isinstance(n, ast.ExceptHandler) and n.name: out.add(n.name)
                        elif isinstance(n, (ast.Global, ast.Nonlocal)): out.update(n.names)
                        elif getattr(n, "name", None) and type(n).__name__ in ("MatchAs", "MatchStar"): out.add(n.name)
                    return out

                def _root(func):
                    while True:
                        if isinstance(func, ast.Name): return func.id
                        if isinstance(func, (ast.Attribute, ast.Subscript)): func = func.value
                        elif isinstance(func, ast.Call): func = func.func
                        else: return None

                class _Strictify(ast.NodeTransformer):
                    # a == b -> _grpo_strict(a, b); a != b -> not _grpo_strict(a, b)
                    def visit_Compare(self, node):
                        self.generic_visit(node)
                        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)): return node
                        call = ast.Call(func=ast.Name(id="_grpo_strict", ctx=ast.Load()),
                                        args=[node.left, node.comparators[0]],
                                        keywords=[])
                        new = call if isinstance(node.ops[0], ast.Eq) else ast.UnaryOp(op=ast.Not(), operand=call)
                        return ast.fix_missing_locations(ast.copy_location(new, node))

                def _strictified(node):
                    return ast.unparse(_Strictify().visit(copy.deepcopy(node)))

                class _Rename(ast.NodeTransformer):
                    def __init__(self, old, new):
                        self.old, self.new = old, new
                    def visit_Name(self, node):
                        if node.id == self.old: node.id = self.new
                        return node

                def _inline_check(body):
                    # HumanEval: `def check(candidate): assert candidate(...) == ...` then `check(f)`: the body's
                    # statements, with the parameter renamed, take the call's place, so each assert is planned alone.
                    d = next((s for s in body if isinstance(s, ast.FunctionDef) and s.name == "check"), None)
                    if d is None: return body
                    a = d.args
                    if (len(a.args) != 1 or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs
                            or d.decorator_list): return body
                    if any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal))
                           for s in d.body for n in ast.walk(s)): return body
                    param, out, inlined = a.args[0].arg, [], False
                    for s in body:
                        call = s.value if isinstance(s, ast.Expr) else None
                        if s is d: continue
                        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"
                                and len(call.args) == 1 and not call.keywords and isinstance(call.args[0], ast.Name)):
                            out.extend(_Rename(param, call.args[0].id).visit(copy.deepcopy(inner)) for inner in d.body)
                            inlined = True
                        else:
                            out.append(s)
                    return out if inlined else body

                def _plan(tests, entry):
                    encode, _ = _grpo_encoder()
                    try:
                        tree = ast.parse(tests, "<tests>")
                    except SyntaxError as e:
                        raise _TestsError("the tests are not valid Python: %s (line %s)" % (e.msg, e.lineno))
                    env = {"__name__": "__grpo_tests__", "__builtins__": builtins}
                    candidate, tainted = ({entry} if entry else set()), set()
                    def free(n):
                        return n not in candidate and n not in tainted and (n in env or hasattr(builtins, n))
                    steps, checks, verify = [], [], []
                    probes = [0]
                    def text(node):
                        return (ast.get_source_segment(tests, node) or ast.unparse(node)).strip()[:300]
                    def run(node, line, what):
                        try:
                            module = ast.fix_missing_locations(ast.Module(body=[node], type_ignores=[]))
                            exec(compile(module, "<tests>", "exec"), env)
                        except BaseException as e:
                            raise _TestsError("line %d: %s fails without the solution: %s: %s"
                                              % (line, what, type(e).__name__, e))
                    def value(node, line):
                        try:
                            tree = ast.fix_missing_locations(ast.Expression(body=node))
                            return eval(compile(tree, "<tests>", "eval"), env)
                        except BaseException as e:
                            raise _TestsError("line %d: the expected value fails: %s: %s" % (line, type(e).__name__, e))
                    def in_process(stmt, line):
                        steps.append({"kind": "in_process", "source": _strictified(stmt), "line": line})
                        checks.append({"line": line, "source": text(stmt), "mode": "in_process",
                                       "step": len(steps) - 1})
                    for stmt in _inline_check(tree.body):
                        line = getattr(stmt, "lineno", 0)
                        if not isinstance(stmt, ast.Assert):
                            local = _bound(stmt)
                            unknown = {n for n in _loads(stmt)
                                       if n in candidate or n in tainted or (n not in local and not free(n))}
                            if not unknown:
                                run(stmt, line, "a statement")
                                steps.append({"kind": "setup", "source": ast.unparse(stmt), "line": line,
                                              "bound": local,
                                              "uses": _loads(stmt)})
                                verify.append({"exec": ast.unparse(stmt)})
                            elif any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
                                in_process(stmt, line)
                                tainted |= local
                            else:
                                steps.append({"kind": "statement", "source": ast.unparse(stmt), "line": line})
                                tainted |= local
                            continue
                        test = stmt.test
                        local = _bound(test)
                        if all(free(n) for n in _loads(test) if n not in local):
                            if not value(test, line):
                                raise _TestsError("line %d: the assert fails whatever the solution: %s"
                                                  % (line, text(stmt)))
                            checks.append({"line": line, "source": text(stmt), "mode": "constant", "value": True})
                            continue
                        first, made = len(steps), []
                        class Calls(ast.NodeTransformer):
                            def visit_Call(self, node):
                                root = _root(node.func)
                                if root is None or root in local or free(root):
                                    self.generic_visit(node)
                                    return node
                                if _loads(node) & local: raise _Unsplittable()
                                steps.append({"kind": "probe", "source": ast.unparse(node), "line": line,
                                              "probe": probes[0]})
                                made.append(probes[0])
                                probes[0] += 1
                                return ast.copy_location(ast.Name(id="_grpo_v%d" % made[-1], ctx=ast.Load()), node)
                        try:
                            new = Calls().visit(copy.deepcopy(test))
                            placeholders = {"_grpo_v%d" % p for p in made}
                            rest = {n for n in _loads(new) if n not in local and n not in placeholders and not free(n)}
                            if rest or not made: raise _Unsplittable()
                        except _Unsplittable:
                            del steps[first:]
                            probes[0] -= len(made)
                            in_process(stmt, line)
                            continue
                        ids = {"_grpo_v%d" % p: p for p in made}
                        def placeholder(n):
                            return ids.get(n.id) if isinstance(n, ast.Name) else None
                        check = {"line": line, "source": text(stmt)}
                        if placeholder(new) is not None:
                            check.update(mode="truthy", probe=placeholder(new), negate=False)
                        elif (isinstance(new, ast.UnaryOp) and isinstance(new.op, ast.Not)
                                and placeholder(new.operand) is not None):
                            check.update(mode="truthy", probe=placeholder(new.operand), negate=True)
                        elif (isinstance(new, ast.Compare) and len(new.ops) == 1
                              and isinstance(new.ops[0], (ast.Eq, ast.NotEq, ast.Is, ast.IsNot))):
                            left, right = new.left, new.comparators[0]
                            probe, other = ((placeholder(left), right) if placeholder(left) is not None
                                            and not (_loads(right) & placeholders) else
                                            (placeholder(right), left) if placeholder(right) is not None
                                            and not (_loads(left) & placeholders) else (None, None))
                            op = {ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not"}[type(new.ops[0])]
                            if probe is not None:
                                expected = value(other, line)
                                wire = encode(expected)
                                if not wire.startswith("?") and (op in ("==", "!=") or expected is None
                                                                 or expected is True
                                                                   or expected is False):
                                    check.update(mode="direct", probe=probe, op=op, expected=wire)
                        if "mode" not in check:
                            check.update(mode="computed", probes=made)
                            verify.append({"check": len(checks), "expression": _strictified(new)})
                        checks.append(check)
                    if not checks:
                        raise _TestsError("the tests have no assert")
                    # The sandbox gets the setup the calls need, and no more: the rest may hold expected values.
                    needed = set()
                    for s in steps:
                        if s["kind"] != "setup": needed |= _loads(ast.parse(s["source"]))
                    keep = [True] * len(steps)
                    for i in range(len(steps) - 1, -1, -1):
                        s = steps[i]
                        if s["kind"] == "setup":
                            # What defines a name the calls use, or changes one in place (xs.append(4)); not
                            # `expected = sorted(xs)`, which binds a name no call uses.
                            keep[i] = bool(s["bound"] & needed) or (not s["bound"] and bool(s["uses"] & needed))
                            if keep[i]: needed |= s["uses"]
                    index = {}
                    kept = []
                    for i, s in enumerate(steps):
                        if keep[i]:
                            index[i] = len(kept)
                            kept.append({k: v for k, v in s.items() if k not in ("bound", "uses")})
                    for c in checks:
                        if c["mode"] == "in_process": c["step"] = index[c["step"]]
                    return {"steps": kept, "checks": checks, "verify": verify}
                return _plan

            def _main():
                request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
                try:
                    answer = _planner()(request["tests"], request.get("entry_point"))
                except _TestsError as e:
                    answer = {"error": str(e)}
                with open(3, "wb", closefd=False) as channel:
                    channel.write(json.dumps(answer).encode("utf-8"))
            _main()
            """#

    /// Evaluates computed checks on a run's values; answers "<check> T|F|!<exception>" lines and
    /// "end" on fd 3 ("error <why>" first when the tests' own setup fails). Never given candidate code.
    static let verifier =
        strict + "\n" + reader + "\n" + #"""
            def _grpo_decode(text, _int=int, _float=float, _complex=complex, _fromhex=bytes.fromhex, _range=range):
                pos = [0]
                def field(term):
                    j = text.index(term, pos[0])
                    s = text[pos[0]:j]
                    pos[0] = j + 1
                    return s
                def value():
                    tag = text[pos[0]]
                    pos[0] += 1
                    if tag == "N": return None
                    if tag == "T": return True
                    if tag == "F": return False
                    if tag == "i": return _int(field(";"), 16)
                    if tag == "f": return _float(field(";"))
                    if tag == "c": return _complex(_float(field(",")), _float(field(";")))
                    if tag == "s": return _fromhex(field(";")).decode("utf-8", "surrogatepass")
                    if tag == "b": return _fromhex(field(";"))
                    if tag == "?":
                        field(";")
                        return object()  # equal to nothing
                    n = _int(field(":"))
                    if tag == "d": return {value(): value() for _ in _range(n)}
                    items = [value() for _ in _range(n)]
                    return {"l": list, "t": tuple, "S": set, "z": frozenset}[tag](items)
                v = value()
                if pos[0] != len(text): raise ValueError("trailing data")
                return v

            def _grpo_verify():
                env = {"__name__": "__grpo_tests__", "__builtins__": __builtins__,
                       "_grpo_strict": _grpo_strict_equality()}
                out = []
                for kind, text in _grpo_read():
                    if kind == b"V":
                        key, _, wire = text.partition("=")
                        try:
                            env["_grpo_v" + key] = _grpo_decode(wire)
                        except Exception:
                            pass  # left unbound: the checks that use it fail with NameError
                    elif kind == b"E":
                        try:
                            exec(compile(text, "<tests>", "exec"), env)
                        except BaseException as e:
                            out = ["error the tests fail without the solution: " + type(e).__name__]
                            break
                    else:
                        index, _, expression = text.partition(":")
                        try:
                            verdict = "T" if eval(compile(expression, "<tests>", "eval"), env) else "F"
                        except BaseException as e:
                            verdict = "!" + type(e).__name__
                        out.append(index + " " + verdict)
                out.append("end\n")
                with open(3, "wb", closefd=False) as channel:
                    channel.write("\n".join(out).encode("utf-8", "replace"))
            _grpo_verify()
            """#
}
