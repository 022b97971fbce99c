"""Prompt lookup: draft tokens for greedy decoding by copying from the row's own context.

Long-context answers are mostly copies of context spans (a needle's value, a key, a phrase of the
question). So the engine looks up the last n generated tokens (n from `max_ngram` down to
`min_ngram`) at their most recent earlier occurrence in the prompt or the text generated so far,
and proposes the tokens that followed it. One forward pass then scores the current token and the
draft together; greedy decoding keeps the longest prefix of the draft that matches its own argmax,
plus the model's next token, so the output is the greedy output, only reached in fewer passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctxlab.errors import CtxlabError


@dataclass(frozen=True)
class PromptLookup:
    """How drafts are found: n-grams of `min_ngram`..`max_ngram` tokens (longest match first),
    up to `num_draft` proposed tokens per pass."""

    max_ngram: int = 3
    min_ngram: int = 1
    num_draft: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min_ngram <= self.max_ngram:
            raise CtxlabError(
                f"prompt lookup n-grams need 1 <= min_ngram <= max_ngram, got "
                f"{self.min_ngram}..{self.max_ngram}"
            )
        if self.num_draft < 1:
            raise CtxlabError(f"prompt lookup num_draft must be at least 1, got {self.num_draft}")

    def slack(self, budget: int) -> int:
        """Cache columns kept beyond the budget for rejected drafts: rows of a batch accept
        different numbers of tokens, and the columns one row rejects stay masked holes."""
        return min(budget, 8 * (self.num_draft + 1))


class DraftIndex:
    """One row's tokens and, for each n-gram in them, where it last ended: a dictionary kept up
    to date as tokens arrive, so a lookup costs O(max_ngram), not a scan of the context."""

    def __init__(self, tokens: list[int], lookup: PromptLookup) -> None:
        self.tokens = list(tokens)
        self.lookup = lookup
        self.ends: dict[tuple[int, ...], int] = {}
        self.indexed = 0  # n-grams ending at positions < indexed are in `ends`

    def extend(self, tokens: list[int]) -> None:
        self.tokens.extend(tokens)

    def propose(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the latest earlier match of the longest suffix
        that has one; [] when none does. The suffix itself is never its own match."""
        t, lo, hi = self.tokens, self.lookup.min_ngram, self.lookup.max_ngram
        if limit < 1:
            return []
        for end in range(max(self.indexed, 1), len(t)):
            for n in range(lo, min(hi, end) + 1):
                self.ends[tuple(t[end - n : end])] = end
        self.indexed = max(self.indexed, len(t))
        for n in range(min(hi, len(t)), lo - 1, -1):
            end = self.ends.get(tuple(t[-n:]))
            if end is not None:
                return t[end : end + limit]
        return []


def accepted(draft: list[int], greedy: list[int]) -> int:
    """How many draft tokens the model agrees with: `greedy[j]` is its argmax after the current
    token and draft[:j], so the draft holds while draft[j] == greedy[j]."""
    m = 0
    while m < len(draft) and draft[m] == greedy[m]:
        m += 1
    return m
