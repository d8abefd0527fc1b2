"""The mutants of one module's source, found with the `ast` module (tests/mutate.py runs them).

A mutant is one change of the source bytes; see tests/mutate.py for the kinds and what is left
alone.
"""
import ast
import re


COMPARE = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="),
           ast.GtE: (">=", ">"), ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="),
           ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
           ast.In: ("in", "not in"), ast.NotIn: ("not in", "in")}
BINARY = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"),
          ast.Div: ("/", "*"), ast.FloorDiv: ("//", "/"), ast.Mod: ("%", "*"),
          ast.Pow: ("**", "*")}
QUIET_CALLS = re.compile(r"^(log|logging|logger|warnings|tqdm)\.|^print$")


class Mutant:
    """One change of the source bytes [start, end) to `new`, and its name."""

    def __init__(self, path, line, col, kind, start, end, new):
        self.path, self.line, self.col, self.kind = path, line, col, kind
        self.start, self.end, self.new = start, end, new

    @property
    def name(self):
        return f"{self.path}:{self.line}:{self.col}:{self.kind}"

    def apply(self, source: bytes) -> bytes:
        return source[:self.start] + self.new + source[self.end:]

    def snippet(self, source: bytes) -> str:
        old = source[self.start:self.end].decode()
        return f"{' '.join(old.split())[:70]!r} -> {' '.join(self.new.decode().split())[:70]!r}"


class Finder(ast.NodeVisitor):
    """Collects the mutants of one module's source (bytes: AST columns are UTF-8 offsets)."""

    def __init__(self, path, source: bytes, functions=None):
        self.path, self.source, self.functions = path, source, functions
        self.starts = [0]
        for line in source.split(b"\n"):
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.mutants, self.depth = [], 0 if functions else 1

    def offset(self, line, col):
        return self.starts[line - 1] + col

    def span(self, node):
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno, node.end_col_offset))

    def add(self, node, kind, start, end, new: str):
        self.mutants.append(Mutant(self.path, node.lineno, node.col_offset, kind, start, end,
                                   new.encode()))

    def _op_token(self, left, right, token):
        """Absolute offset of `token` in the source between the end of node `left` and the
        start of node `right` (only parentheses, blanks and comments can be there too)."""
        gap_start = self.offset(left.end_lineno, left.end_col_offset)
        gap = self.source[gap_start:self.offset(right.lineno, right.col_offset)].decode()
        gap = re.sub(r"#[^\n]*", lambda m: " " * len(m.group().encode()), gap)
        pattern = re.escape(token).replace(r"\ ", r"\s+")
        if token.isalpha() or " " in token:
            pattern = rf"(?<![\w.]){pattern}(?!\w)"
        else:  # '*' must not match inside '**', '/' inside '//'
            pattern = rf"(?<![*/=<>!]){pattern}(?![*/=])"
        match = re.search(pattern, gap)
        if match is None:
            raise ValueError(f"{self.path}:{left.lineno}: no {token!r} in {gap!r}")
        return gap_start + len(gap[:match.start()].encode()), len(match.group().encode())

    def _wrapped(self, node, replacements):
        """The node's source in parentheses with (offset, length, text) replacements made:
        parentheses keep a swapped operator's precedence that of the original."""
        start, end = self.span(node)
        text, cursor = b"(", start
        for offset, length, new in sorted(replacements):
            text += self.source[cursor:offset] + new.encode()
            cursor = offset + length
        return start, end, (text + self.source[cursor:end] + b")").decode()

    # --- what is not mutated --------------------------------------------------------------
    def visit_FunctionDef(self, node):
        inside = self.functions is None or node.name in self.functions
        self.depth += inside
        self._body(node)
        self.depth -= inside

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._body(node)

    def _body(self, node):
        for child in ast.iter_child_nodes(node):
            if node.body and child is node.body[0] and _is_docstring(child):
                continue
            self.visit(child)

    def visit_Module(self, node):
        self._body(node)

    def visit_Raise(self, node):
        pass

    def visit_JoinedStr(self, node):
        pass

    def visit_Call(self, node):
        name = _dotted(node.func)
        if QUIET_CALLS.match(name):
            return
        if name == "tqdm":  # its keywords are progress-bar display; the iterable counts
            self.visit(node.func)
            for arg in node.args:
                self.visit(arg)
            return
        self.generic_visit(node)

    def visit_If(self, node):
        test = node.test  # `if __name__ == "__main__":` runs nothing a test imports
        if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id == "__name__"):
            return
        self.generic_visit(node)

    # --- mutations ------------------------------------------------------------------------
    def visit_Compare(self, node):
        if self.depth:
            for left, op, right in zip([node.left, *node.comparators], node.ops,
                                       node.comparators):
                find, new = COMPARE[type(op)]
                offset, length = self._op_token(left, right, find)
                self.add(node, f"{find.replace(' ', '_')}->{new.replace(' ', '_')}",
                         *self._wrapped(node, [(offset, length, new)]))
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if self.depth and type(node.op) in BINARY and not _stringy(node):
            find, new = BINARY[type(node.op)]
            offset, length = self._op_token(node.left, node.right, find)
            self.add(node, f"{find}->{new}", *self._wrapped(node, [(offset, length, new)]))
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        if self.depth and type(node.op) in BINARY and not _stringy(node):
            find, new = BINARY[type(node.op)]
            offset, length = self._op_token(node.target, node.value, find + "=")
            start, end = self.offset(node.lineno, node.col_offset), offset + length
            before = self.source[start:offset].decode()
            self.add(node, f"{find}=->{new}=", start, end, before + new + "=")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        if self.depth:
            find, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            edits = [(*self._op_token(a, b, find), new) for a, b in zip(node.values,
                                                                         node.values[1:])]
            self.add(node, f"{find}->{new}", *self._wrapped(node, edits))
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if self.depth and isinstance(node.op, (ast.Not, ast.USub)):
            start, end = self.span(node)
            operand = self.source[slice(*self.span(node.operand))].decode()
            self.add(node, "not-removed" if isinstance(node.op, ast.Not) else "minus-removed",
                     start, end, f"({operand})")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if not self.depth or isinstance(node.value, (str, bytes)) or node.value is None:
            return
        start, end = self.span(node)
        if isinstance(node.value, bool):
            self.add(node, f"{node.value}->{not node.value}", start, end, str(not node.value))
        elif isinstance(node.value, (int, float)):
            new = 1 if node.value == 0 else 0 if node.value == 1 else node.value + 1
            new = type(node.value)(new)
            self.add(node, f"{node.value!r}->{new!r}", start, end, repr(new))

    def visit_Return(self, node):
        if self.depth and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            start, end = self.span(node)
            self.add(node, "return->None", start, end, "return None")
        self.generic_visit(node)

    def visit_Slice(self, node):
        for bound in (node.lower, node.upper):
            if bound is None or not self.depth:
                continue
            start, end = self.span(bound)
            text = self.source[start:end].decode()
            for sign in "+-":
                self.add(bound, f"slice{sign}1", start, end, f"({text}) {sign} 1")
            if not isinstance(bound, ast.Constant):  # the constant rule would repeat slice+1
                self.visit(bound)
        if node.step is not None:
            self.visit(node.step)


def _is_docstring(node):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _dotted(func):
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def _stringy(node):
    """A BinOp / AugAssign building text (a string or f-string operand): message text."""
    sides = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.value]
    return any(isinstance(s, ast.JoinedStr) or (isinstance(s, ast.Constant)
               and isinstance(s.value, str)) or (isinstance(s, ast.BinOp) and _stringy(s))
               for s in sides)


def find_mutants(path, source: bytes, functions=None):
    finder = Finder(path, source, functions)
    finder.visit(ast.parse(source))
    ordered = sorted(finder.mutants, key=lambda m: (m.line, m.col, m.start, m.kind, m.new))
    unique, seen = [], set()
    for mutant in ordered:
        key = (mutant.start, mutant.end, mutant.new)
        if key not in seen:
            seen.add(key)
            unique.append(mutant)
    for mutant in unique:  # every mutant must still be Python, else the script is wrong
        compile(mutant.apply(source), mutant.path, "exec")
    return unique


def evenly_spaced(items, n):
    """n items at positions j * len // n (all of them when n is None or large enough)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[j * len(items) // n] for j in range(n)]
