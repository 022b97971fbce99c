"""First-order logic in FOLIO syntax, parsed onto z3, and labels by entailment.

Syntax: `∀x`, `∃x`, `¬`, `∧`, `∨`, `⊕` (exclusive or), `→`, `↔` (also `⟷`), parentheses,
predicates `Name(t1, ..., tn)` (a bare `Name` is a proposition) and terms that are bound
variables or constants (`bonnie`, `kO`, `l-2021`, `c++`: letters, digits and `_ - . ' ’ +`).
Binding, tightest first: `¬`, `∧`, `∨`, `⊕`, `→` (right-associative), `↔`; a quantifier's scope
runs as far right as it can, the usual convention. There is no unique-names assumption: two
constants may denote one individual unless the premises say otherwise, as in FOLIO's own prover.

Label: TRUE if the premises entail the conclusion, FALSE if they entail its negation, otherwise
UNKNOWN; a check that z3 cannot settle within the timeout also gives UNKNOWN, marked `timeout`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import z3

from ctxlab.errors import CtxlabError

_IDENT = re.compile(r"\w(?:[\w’'+]|[.\-](?=\w))*")
_SYMBOLS = {
    "¬": "not",
    "~": "not",
    "∧": "and",
    "^": "and",
    "&": "and",
    "∨": "or",
    "|": "or",
    "⊕": "xor",
    "→": "implies",
    "⇒": "implies",
    "->": "implies",
    "↔": "iff",
    "⟷": "iff",
    "⇔": "iff",
    "<->": "iff",
    "∀": "forall",
    "∃": "exists",
    "(": "(",
    ")": ")",
    ",": ",",
}


class FolParseError(CtxlabError):
    """A formula outside the FOLIO syntax; the message names the formula and position."""

    def __init__(self, formula: str, position: int, problem: str):
        self.formula, self.position, self.problem = formula, position, problem
        near = formula[position : position + 12] or "end of formula"
        super().__init__(
            f"cannot parse FOL formula {formula!r} at position {position} (near {near!r}): "
            f"{problem}; fix the formula (FOLIO syntax: ∀x ∃x ¬ ∧ ∨ ⊕ → ↔, Pred(const))"
        )


@dataclass
class Token:
    kind: str
    text: str
    pos: int


def tokenize(formula: str) -> list[Token]:
    tokens: list[Token] = []
    text = formula.rstrip()
    if text.endswith("."):
        text = text[:-1]
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        for symbol in ("<->", "->"):
            if text.startswith(symbol, i):
                tokens.append(Token(_SYMBOLS[symbol], symbol, i))
                i += len(symbol)
                break
        else:
            if text[i] in _SYMBOLS:
                tokens.append(Token(_SYMBOLS[text[i]], text[i], i))
                i += 1
            elif m := _IDENT.match(text, i):
                tokens.append(Token("ident", m.group(0), i))
                i = m.end()
            else:
                raise FolParseError(formula, i, f"unexpected character {text[i]!r}")
    tokens.append(Token("end", "", len(text)))
    _check_parentheses(formula, tokens)
    return tokens


def _check_parentheses(formula: str, tokens: list[Token]) -> None:
    open_at: list[int] = []
    for token in tokens:
        if token.kind == "(":
            open_at.append(token.pos)
        elif token.kind == ")":
            if not open_at:
                raise FolParseError(formula, token.pos, "unbalanced parentheses: ')' never opened")
            open_at.pop()
    if open_at:
        raise FolParseError(formula, open_at[-1], "unbalanced parentheses: '(' never closed")


# AST: ("atom", name, terms) | ("not", f) | (op, f, g) | ("forall"/"exists", var, f)
Node = tuple


class _Parser:
    def __init__(self, formula: str):
        self.formula = formula
        self.tokens = tokenize(formula)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            shown = token.text or "the end"
            raise FolParseError(self.formula, token.pos, f"expected {kind!r}, found {shown!r}")
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.iff()
        if self.peek().kind != "end":
            token = self.peek()
            raise FolParseError(self.formula, token.pos, f"unexpected {token.text!r}")
        return node

    def _binary(self, op: str, sub) -> Node:
        node = sub()
        while self.peek().kind == op:
            self.i += 1
            node = (op, node, sub())
        return node

    def iff(self) -> Node:
        return self._binary("iff", self.implies)

    def implies(self) -> Node:
        left = self.xor()
        if self.peek().kind == "implies":
            self.i += 1
            return ("implies", left, self.implies())
        return left

    def xor(self) -> Node:
        return self._binary("xor", self.disj)

    def disj(self) -> Node:
        return self._binary("or", self.conj)

    def conj(self) -> Node:
        return self._binary("and", self.unary)

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "not":
            self.i += 1
            return ("not", self.unary())
        if token.kind in ("forall", "exists"):
            self.i += 1
            var = self.take("ident").text
            return (token.kind, var, self.iff())
        if token.kind == "(":
            self.i += 1
            node = self.iff()
            self.take(")")
            return node
        if token.kind == "ident":
            self.i += 1
            if self.peek().kind != "(":
                return ("atom", token.text, ())
            self.i += 1
            terms = [self.take("ident").text]
            while self.peek().kind == ",":
                self.i += 1
                terms.append(self.take("ident").text)
            self.take(")")
            return ("atom", token.text, tuple(terms))
        shown = token.text or "the end"
        raise FolParseError(self.formula, token.pos, f"expected a formula, found {shown!r}")


def parse_formula(formula: str) -> Node:
    """The formula's syntax tree; raises FolParseError naming the formula and position."""
    if not formula or not formula.strip():
        raise FolParseError(formula or "", 0, "the formula is empty")
    return _Parser(formula).parse()


class Signature:
    """z3 symbols shared by every formula of one problem: one sort, predicates by name and
    arity, constants by name."""

    def __init__(self):
        self.sort = z3.DeclareSort("Obj")
        self.predicates: dict[tuple[str, int], z3.FuncDeclRef] = {}
        self.constants: dict[str, z3.ExprRef] = {}

    def predicate(self, name: str, arity: int):
        key = (name, arity)
        if key not in self.predicates:
            if arity == 0:
                self.predicates[key] = z3.Bool(f"{name}/0")
            else:
                domain = [self.sort] * arity
                self.predicates[key] = z3.Function(f"{name}/{arity}", *domain, z3.BoolSort())
        return self.predicates[key]

    def term(self, name: str, bound: dict[str, z3.ExprRef]) -> z3.ExprRef:
        if name in bound:
            return bound[name]
        if name not in self.constants:
            self.constants[name] = z3.Const(f"c:{name}", self.sort)
        return self.constants[name]

    def to_z3(self, node: Node, bound: dict[str, z3.ExprRef] | None = None) -> z3.BoolRef:
        bound = bound or {}
        kind = node[0]
        if kind == "atom":
            _, name, terms = node
            pred = self.predicate(name, len(terms))
            return pred if not terms else pred(*[self.term(t, bound) for t in terms])
        if kind == "not":
            return z3.Not(self.to_z3(node[1], bound))
        if kind in ("forall", "exists"):
            _, var, body = node
            x = z3.Const(f"v:{var}:{len(bound)}", self.sort)
            inner = self.to_z3(body, {**bound, var: x})
            return z3.ForAll([x], inner) if kind == "forall" else z3.Exists([x], inner)
        left, right = self.to_z3(node[1], bound), self.to_z3(node[2], bound)
        if kind == "and":
            return z3.And(left, right)
        if kind == "or":
            return z3.Or(left, right)
        if kind == "xor":
            return z3.Xor(left, right)
        if kind == "implies":
            return z3.Implies(left, right)
        return left == right


@dataclass
class FolVerdict:
    """`label` TRUE/FALSE/UNKNOWN, or None when a formula did not parse (`error` says which)."""

    label: str | None
    status: str  # "ok", "timeout" or "parse_error"
    error: str | None = None


def fol_label(premises: list[str], conclusion: str, timeout_ms: int = 5000) -> FolVerdict:
    """Label a conclusion by entailment from the premises with z3."""
    try:
        trees = [parse_formula(p) for p in premises]
        goal = parse_formula(conclusion)
    except FolParseError as err:
        return FolVerdict(None, "parse_error", str(err))
    sig = Signature()
    solver = z3.Solver()
    solver.set("timeout", int(timeout_ms))
    for tree in trees:
        solver.add(sig.to_z3(tree))
    claim = sig.to_z3(goal)
    timed_out = False
    for label, negated in (("TRUE", z3.Not(claim)), ("FALSE", claim)):
        solver.push()
        solver.add(negated)
        result = solver.check()
        solver.pop()
        if result == z3.unsat:
            return FolVerdict(label, "ok")
        timed_out |= result == z3.unknown
    return FolVerdict("UNKNOWN", "timeout" if timed_out else "ok")
