"""The SOKRATES prompt for logic tasks: numbered premises, the conclusion to evaluate, and the
TRUE/FALSE/UNKNOWN choice, asking for an optionized proof (one rule application per line).

Shared by the generator (`prontoqa`), the loaders of real files (`logic_sources`) and `folio`,
so all logic examples read alike and a model trained on one is evaluated on another unchanged.
"""

from __future__ import annotations

from ctxlab.tasks.base import Example

INSTRUCTIONS = (
    "You are a logical reasoning assistant. Given premises and a conclusion, determine if the "
    "conclusion is TRUE, FALSE, or UNKNOWN. Reason step by step using formal inference rules, "
    "one step per line:\n"
    "Thought: <the fact this step derives> Action: <RULE> [<premise numbers or earlier steps "
    "s1, s2, ...>]\n"
    "Available rules: MODUS_PONENS (from 'X is A' and 'Every A is B', derive 'X is B'), "
    "MODUS_TOLLENS (from 'X is not B' and 'Every A is B', derive 'X is not A').\n"
    "End with: Conclusion: TRUE, FALSE or UNKNOWN"
)
LABEL_ONLY = (
    "You are a logical reasoning assistant. Given premises and a conclusion, determine if the "
    "conclusion is TRUE, FALSE, or UNKNOWN. Reason step by step, then end with one line:\n"
    "Conclusion: TRUE, FALSE or UNKNOWN"
)


def logic_prompt(premises: list[str], conclusion: str, proof: bool = True) -> str:
    """The user turn; `proof=False` (FOLIO) asks for free reasoning and the label line."""
    numbered = "\n".join(f"[{i}] {p.strip()}" for i, p in enumerate(premises, 1))
    head = INSTRUCTIONS if proof else LABEL_ONLY
    return (
        f"{head}\n\nPremises:\n{numbered}\n\nConclusion to evaluate: {conclusion.strip()}"
        "\n\nReasoning:"
    )


def make_example(
    task: str,
    example_id: str,
    premises: list[str],
    query: str,
    label: str,
    target: str | None,
    meta: dict,
) -> Example:
    """An example in the prompt format of the logic tasks, from premises and a query; its `meta`
    holds all `ctxlab.solvers.proofs.check_proof` needs to check a proof."""
    return Example(
        id=example_id,
        task=task,
        input=logic_prompt(premises, query),
        answers=[label],
        target=target,
        meta={**meta, "label": label, "premises": premises, "query": query},
    )
