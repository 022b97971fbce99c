"""PrOntoQA-style sentences as logic: facts ("Sally is not red.") and rules ("Every jompus is a
wumpus.", "Jompuses are not red."), rendered and parsed by the same grammar.

One grammar serves both the generator (which writes premises and proofs) and the proof checker
(which reads them back, and reads real PrOntoQA files), so a gold proof always parses. Category
and property words are both "predicates": the article in "is a jompus" carries no logic, and
plural nouns are reduced to their singular so "Jompuses are wumpuses" matches "Sally is a wumpus".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = r"[A-Za-z][A-Za-z'-]*"
_FACT = re.compile(rf"^({_WORD}) is (not )?(?:an? )?({_WORD})$", re.IGNORECASE)
_EVERY = re.compile(rf"^(?:every|each) ({_WORD}) is (not )?(?:an? )?({_WORD})$", re.IGNORECASE)
_PLURAL = re.compile(rf"^({_WORD}) are (not )?({_WORD})$", re.IGNORECASE)
_NO = re.compile(rf"^no ({_WORD}) (?:is|are) (?:an? )?({_WORD})$", re.IGNORECASE)
_QUERY_PREFIX = re.compile(r"^\s*(?:true or false|prove|is it true that)\s*[:,]?\s*", re.I)


def singular(word: str) -> str:
    """ "jompuses" -> "jompus", "dors" -> "dor"; words ending in -us/-ss/-is stay as they are."""
    w = word.lower()
    if w.endswith(("uses", "ixes", "sses", "xes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("us", "ss", "is")):
        return w[:-1]
    return w


def plural(word: str) -> str:
    return word + "es" if word.endswith(("s", "x")) else word + "s"


@dataclass(frozen=True)
class Fact:
    """`entity` is (not) `pred`; `entity` keeps its spelling, `pred` is a lowercase singular."""

    entity: str
    pred: str
    neg: bool = False

    def key(self) -> tuple[str, str, bool]:
        return (self.entity.lower(), self.pred, self.neg)

    def same(self, other: Fact) -> bool:
        return self.key() == other.key()


@dataclass(frozen=True)
class Rule:
    """Every `ante` is (not) `cons`."""

    ante: str
    cons: str
    neg: bool = False


Statement = Fact | Rule


def parse_statement(text: str) -> Statement | None:
    """A sentence as a Fact or Rule, or None when it is not in the grammar."""
    s = _QUERY_PREFIX.sub("", text.strip()).strip().rstrip(".!").strip()
    s = re.sub(r"\s+", " ", s)
    if m := _EVERY.match(s):
        return Rule(singular(m.group(1)), singular(m.group(3)), bool(m.group(2)))
    if m := _NO.match(s):
        return Rule(singular(m.group(1)), singular(m.group(2)), True)
    if m := _FACT.match(s):
        if m.group(1).lower() in ("every", "each", "no"):
            return None
        return Fact(m.group(1), singular(m.group(3)), bool(m.group(2)))
    if m := _PLURAL.match(s):
        return Rule(singular(m.group(1)), singular(m.group(3)), bool(m.group(2)))
    return None


def render_fact(fact: Fact, nouns: set[str]) -> str:
    """ "Sally is a jompus." for a category (in `nouns`), "Sally is not red." for a property."""
    article = "a " if fact.pred in nouns else ""
    return f"{fact.entity} is {'not ' if fact.neg else ''}{article}{fact.pred}."


def render_rule(rule: Rule, nouns: set[str], style: int = 0) -> str:
    """Three surface forms, as PrOntoQA varies them: "Every A is B", "Each A is B", "As are B"."""
    cons_is_noun = rule.cons in nouns
    neg = "not " if rule.neg else ""
    if style == 2:
        cons = plural(rule.cons) if cons_is_noun else rule.cons
        return f"{plural(rule.ante).capitalize()} are {neg}{cons}."
    lead = "Every" if style == 0 else "Each"
    article = "a " if cons_is_noun else ""
    return f"{lead} {rule.ante} is {neg}{article}{rule.cons}."


def negate(fact: Fact) -> Fact:
    return Fact(fact.entity, fact.pred, not fact.neg)


def modus_ponens(rule: Rule, fact: Fact) -> Fact | None:
    """From "Every A is B" and "X is A": "X is B" (None when the fact is not an A)."""
    if fact.neg or fact.pred != rule.ante:
        return None
    return Fact(fact.entity, rule.cons, rule.neg)


def modus_tollens(rule: Rule, fact: Fact) -> Fact | None:
    """From "Every A is B" and "X is not B": "X is not A" (and the mirror for negated rules)."""
    if fact.pred != rule.cons or fact.neg == rule.neg:
        return None
    return Fact(fact.entity, rule.ante, True)


def closure(statements: list[Statement | None]) -> set[tuple[str, str, bool]]:
    """Keys of every fact that follows from the statements by repeated modus ponens."""
    rules = [s for s in statements if isinstance(s, Rule)]
    known = {s.key(): s for s in statements if isinstance(s, Fact)}
    frontier = list(known.values())
    while frontier:
        fact = frontier.pop()
        for rule in rules:
            new = modus_ponens(rule, fact)
            if new is not None and new.key() not in known:
                known[new.key()] = new
                frontier.append(new)
    return set(known)
