"""Check optionized PrOntoQA proofs step by step, as a solver would.

A proof is one step per line, `Thought: <derived fact>. Action: <RULE> [<refs>]`, where a ref is
a premise number (1-based, as the prompt numbers them) or an earlier step `s<k>`; it ends with a
line `Conclusion: TRUE|FALSE|UNKNOWN`. SOKRATES's XML form `<Option type="RULE" args="[..]" />`
and a `CONCLUDE [0|1|2]` action are read too. Each step is judged on its own: it is valid when
its thought follows from the cited premises/steps by the named rule. A failed step says why:
`unparseable`, `unknown_rule`, `wrong_rule`, `wrong_premise` or `skipped_hop` (the cited rule
and fact do lead to the thought, but only through intermediate facts the proof never states).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctxlab.solvers.statements import (
    Fact,
    Rule,
    Statement,
    closure,
    modus_ponens,
    modus_tollens,
    parse_statement,
)

LABELS = ("TRUE", "FALSE", "UNKNOWN")
RULES: dict[str, Callable[[Rule, Fact], Fact | None]] = {
    "MODUS_PONENS": modus_ponens,
    "MODUS_TOLLENS": modus_tollens,
}
STEP_FORMAT = "Thought: {thought} Action: {rule} [{refs}]"
CONCLUSION_FORMAT = "Conclusion: {label}"

_STEP = re.compile(r"^\s*(?:(?:step\s*)?s?\d+\s*[:.)]\s*)?thought\s*:\s*(.*?)\s*$", re.I)
_ACTION = re.compile(r"\baction\s*:\s*(.*)$", re.I)
_OPTION = re.compile(r"<\s*option\s+type\s*=\s*\"([^\"]*)\"\s+args\s*=\s*\"([^\"]*)\"", re.I)
_PLAIN = re.compile(r"^([A-Za-z_]+)\s*(?:\[([^\]]*)\]|\(([^)]*)\))?", re.I)
_CONCLUSION = re.compile(r"\bconclusion\s*:\s*\**\s*(true|false|unknown|uncertain)\b", re.I)
_LABEL_WORD = re.compile(r"\b(true|false|unknown|uncertain)\b", re.I)


@dataclass
class StepCheck:
    """One step's verdict: `kind` is "ok" or why it failed; `reason` says it in words."""

    index: int
    text: str
    rule: str | None
    refs: list[str]
    statement: str
    valid: bool
    kind: str
    reason: str


@dataclass
class ProofCheck:
    """A whole proof's verdict. `step_validity` is the percentage (0-100) of valid steps;
    `trace_valid` means at least one step, every step valid, the query's predicate derived for
    its subject, and the final label right."""

    steps: list[StepCheck]
    step_validity: float
    trace_valid: bool
    label: str | None
    gold: str
    label_correct: bool
    reached_query: bool
    errors: list[str] = field(default_factory=list)

    @property
    def first_error(self) -> str | None:
        return self.errors[0] if self.errors else None

    def scores(self) -> dict[str, float]:
        """The task's three metrics for this proof, in percent."""
        return {
            "accuracy": 100.0 if self.label_correct else 0.0,
            "step_validity": self.step_validity,
            "trace_validity": 100.0 if self.trace_valid else 0.0,
        }


def format_step(thought: str, rule: str, refs: list[str]) -> str:
    return STEP_FORMAT.format(thought=thought, rule=rule, refs=", ".join(refs))


def normalize_label(text: str | None) -> str | None:
    """TRUE/FALSE/UNKNOWN from any casing; FOLIO's Uncertain/Unknown both become UNKNOWN."""
    if text is None:
        return None
    word = text.strip().upper()
    return "UNKNOWN" if word in ("UNCERTAIN", "UNKNOWN") else (word if word in LABELS else None)


def parse_label(text: str) -> str | None:
    """The label a prediction commits to: its `Conclusion:` line, a `CONCLUDE [k]` action, or
    else the last TRUE/FALSE/UNKNOWN word in it."""
    if found := _CONCLUSION.findall(text):
        return normalize_label(found[-1])
    conclude = re.findall(r"\bCONCLUDE\b\"?\s*(?:args\s*=\s*\")?\s*\[\s*([012])\s*\]", text)
    if conclude:
        return LABELS[int(conclude[-1])]
    words = _LABEL_WORD.findall(text)
    return normalize_label(words[-1]) if words else None


def _split_steps(text: str) -> list[str]:
    """Step lines, with a `Thought:` line and a following `Action:` line joined into one."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if _STEP.match(line):
            lines.append(line)
        elif line.lower().startswith("action") and lines and not _ACTION.search(lines[-1]):
            if not re.search(r"\bconclude\b", line, re.I):
                lines[-1] += " " + line
    return lines


def _thought_statement(thought: str) -> str:
    """The derived fact of a thought: its last sentence, after any "so"/"therefore"."""
    sentences = [s for s in re.split(r"(?<=[.!])\s+", thought.strip()) if s.strip()]
    last = sentences[-1] if sentences else thought
    parts = re.split(r"\b(?:so|therefore|thus|hence)\b,?", last, flags=re.I)
    return parts[-1].strip()


def _parse_action(action: str) -> tuple[str | None, list[str] | None]:
    if m := _OPTION.search(action):
        rule, args = m.group(1), m.group(2)
    elif m := _PLAIN.match(action.strip()):
        rule, args = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
    else:
        return None, None
    if args is None:
        return rule.upper(), None
    refs = [a.strip().lower() for a in args.strip().strip("[]").split(",") if a.strip()]
    return rule.upper(), refs


def _meta(example: Any) -> tuple[dict, list[str]]:
    if isinstance(example, dict):
        return example.get("meta", {}), example.get("answers", [])
    return example.meta, example.answers


class _Checker:
    def __init__(self, premises: list[str]):
        self.premises = premises
        self.parsed: list[Statement | None] = [parse_statement(p) for p in premises]
        self.true_facts = closure(self.parsed)
        self.rules = [s for s in self.parsed if isinstance(s, Rule)]
        self.step_facts: list[Fact | None] = []

    def resolve(self, ref: str, index: int) -> tuple[Statement | None, str | None]:
        """The statement a ref names, or why it names none."""
        if re.fullmatch(r"\d+", ref):
            k = int(ref)
            if not 1 <= k <= len(self.premises):
                return (
                    None,
                    f"cites premise {k}, but the premises are numbered 1-{len(self.premises)}",
                )
            if self.parsed[k - 1] is None:
                return None, f"premise {k} is not a fact or rule the checker reads"
            return self.parsed[k - 1], None
        if m := re.fullmatch(r"(?:s|step\s*)(\d+)", ref):
            k = int(m.group(1))
            if not 1 <= k < index:
                return None, f"cites step s{k}, which is not an earlier step of s{index}"
            fact = self.step_facts[k - 1]
            if fact is None:
                return None, f"cites step s{k}, whose thought is unparseable"
            return fact, None
        return None, f"cites {ref!r}, which is neither a premise number nor a step s<k>"

    def check(self, index: int, line: str) -> StepCheck:
        m = _STEP.match(line)
        body = m.group(1) if m else line
        action_m = _ACTION.search(body)
        thought = body[: action_m.start()].strip() if action_m else body.strip()
        statement = _thought_statement(thought)
        fact = parse_statement(statement)
        derived = fact if isinstance(fact, Fact) else None
        self.step_facts.append(derived)
        rule, refs = _parse_action(action_m.group(1)) if action_m else (None, None)

        def verdict(kind: str, reason: str) -> StepCheck:
            valid = kind == "ok"
            return StepCheck(index, line, rule, refs or [], statement, valid, kind, reason)

        if derived is None:
            return verdict(
                "unparseable", f"thought {statement!r} is not a fact like 'X is (not) Y'"
            )
        if action_m is None or rule is None or refs is None:
            return verdict("unparseable", "no 'Action: RULE [refs]' on the step")
        if rule not in RULES:
            return verdict("unknown_rule", f"unknown rule {rule}: use one of {', '.join(RULES)}")
        cited = []
        for ref in refs:
            statement_or_none, problem = self.resolve(ref, index)
            if problem:
                return verdict("wrong_premise", problem)
            cited.append(statement_or_none)
        rules = [c for c in cited if isinstance(c, Rule)]
        facts = [c for c in cited if isinstance(c, Fact)]
        if len(cited) != 2 or len(rules) != 1 or len(facts) != 1:
            return verdict("wrong_premise", f"{rule} needs one rule and one fact, got {refs}")
        result = RULES[rule](rules[0], facts[0])
        if result is not None and result.same(derived):
            return verdict("ok", "follows")
        others = [
            name
            for name, apply in RULES.items()
            if (r := apply(rules[0], facts[0])) and r.same(derived)
        ]
        if others:
            return verdict("wrong_rule", f"the cited refs give this by {others[0]}, not {rule}")
        if self._skips(rules[0], facts[0], derived):
            return verdict(
                "skipped_hop",
                f"{statement!r} follows from {refs} only through facts no step states",
            )
        return verdict("wrong_premise", f"{statement!r} does not follow from {refs} by {rule}")

    def _skips(self, rule: Rule, fact: Fact, derived: Fact) -> bool:
        """True when the cited rule and fact do lead to the thought, but through intermediate
        facts the proof leaves out: the fact reaches the rule's antecedent only via other rules,
        or the rule's conclusion reaches the thought only via other rules."""
        if derived.key() not in self.true_facts or fact.entity.lower() != derived.entity.lower():
            return False
        if rule.cons == derived.pred and rule.neg == derived.neg:
            return (fact.entity.lower(), rule.ante, False) in closure([fact, *self.rules])
        step = modus_ponens(rule, fact)
        return step is not None and derived.key() in closure([step, *self.rules])


def check_proof(prediction: str, example: Any) -> ProofCheck:
    """Verify every step of an optionized proof against the example's premises and query.

    `example` is an `Example` (or its dict) whose `meta` has `premises` (list of sentences),
    `query` (the sentence to evaluate) and `label`.
    """
    meta, answers = _meta(example)
    premises = list(meta.get("premises") or [])
    gold = normalize_label(meta.get("label") or (answers[0] if answers else None)) or ""
    checker = _Checker(premises)
    steps = [checker.check(i, line) for i, line in enumerate(_split_steps(prediction), 1)]
    valid = sum(s.valid for s in steps)
    query = parse_statement(str(meta.get("query", "")))
    reached = isinstance(query, Fact) and any(
        f is not None and f.entity.lower() == query.entity.lower() and f.pred == query.pred
        for f, s in zip(checker.step_facts, steps)
        if s.valid
    )
    label = parse_label(prediction)
    label_correct = label is not None and label == gold
    errors = [f"s{s.index}: {s.kind}: {s.reason}" for s in steps if not s.valid]
    if not steps:
        errors.append("no proof steps")
    elif not reached:
        errors.append("no valid step derives the queried fact or its negation")
    if not label_correct:
        errors.append(f"label {label or 'missing'}, gold {gold}")
    return ProofCheck(
        steps=steps,
        step_validity=100.0 * valid / len(steps) if steps else 0.0,
        trace_valid=bool(steps) and valid == len(steps) and reached and label_correct,
        label=label,
        gold=gold,
        label_correct=label_correct,
        reached_query=reached,
        errors=errors,
    )
