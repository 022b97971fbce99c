"""Fill a prompt to a length budget with haystack units, counting tokens incrementally.

Token counts of units (sentences, lines, documents) are computed once and summed to estimate
how many fit; an exact count of the rendered, chat-templated prompt then corrects the estimate.
RULER instead re-tokenizes the whole haystack for every attempt, which is minutes at 4K.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ctxlab.errors import CtxlabError
from ctxlab.prompts import count_prompt_tokens
from ctxlab.tasks.base import TaskConfig


class LengthSweepConfig(TaskConfig):
    """Settings of tasks that fill prompts to context lengths at needle/gold depths."""

    lengths: list[int] = Field(
        [1024],
        description="context lengths, e.g. 512,1024,2048",
        json_schema_extra={"aliases": ["--context-length"]},
    )
    depths: list[int] = Field(
        [0, 25, 50, 75, 100],
        description="needle (or gold passage) depths in percent, e.g. 0,50,100",
    )
    length_unit: Literal["tokens", "chars"] = Field(
        "tokens", description="what lengths count: the model's tokens, or characters"
    )

    @field_validator("lengths", "depths", mode="before")
    @classmethod
    def _split_commas(cls, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return [value] if isinstance(value, int) else value

    @field_validator("depths")
    @classmethod
    def _depth_range(cls, value: list[int]) -> list[int]:
        if not value or any(d < 0 or d > 100 for d in value):
            raise ValueError("depths are percentages between 0 and 100")
        return value

    def counter(self, tokenizer, max_length: int | None) -> Counter:
        """A size counter, after checking the lengths can be measured and fit the model."""
        if self.length_unit == "tokens":
            if tokenizer is None:
                raise CtxlabError(
                    "token lengths need the evaluated model's tokenizer: pass "
                    "--model, or use --length-unit chars"
                )
            too_long = [n for n in self.lengths if max_length and n > max_length]
            if too_long:
                raise CtxlabError(
                    f"context length {too_long[0]} exceeds the model's window of "
                    f"{max_length} tokens: use lengths up to {max_length}"
                )
        return Counter(tokenizer, self.length_unit)


class Units:
    """Haystack units (sentences, lines, documents): a fixed list, or drawn on demand (a repeated
    sentence, distractor needles or documents from the example's RNG)."""

    def __init__(self, fixed: list[str] | None = None, draw=None, limit: int = 10**9):
        self.items = list(fixed or [])
        self.draw = draw
        self.limit = len(self.items) if draw is None else limit

    def take(self, n: int) -> list[str]:
        """The first n units (fewer once a draw returns None: the source is used up)."""
        while len(self.items) < n and self.draw is not None:
            item = self.draw()
            if item is None:
                self.draw, self.limit = None, len(self.items)
                break
            self.items.append(item)
        return self.items[:n]


class Counter:
    """Measures prompt size (tokens with the model's chat template, or characters) and finds the
    largest haystack that fits: the prompt plus the generation budget within the length."""

    def __init__(self, tokenizer, unit: str):
        self.tokenizer, self.unit = tokenizer, unit
        self._unit_cost: dict[str, int] = {}

    def size(self, text: str, prefix: str) -> int:
        if self.unit == "chars":
            return len(text)
        return count_prompt_tokens(self.tokenizer, [{"role": "user", "content": text}], prefix)

    def _costs(self, units: Units, sep: str, n: int) -> list[int]:
        chunk = units.take(n)
        if self.unit == "chars":
            return [len(sep) + len(u) for u in chunk]
        new = [u for u in dict.fromkeys(chunk) if u not in self._unit_cost]
        if new:
            ids = self.tokenizer([sep + u for u in new], add_special_tokens=False)["input_ids"]
            self._unit_cost.update({u: len(t) for u, t in zip(new, ids)})
        return [self._unit_cost[u] for u in chunk]

    def fit(self, render, units: Units, sep: str, length: int, to_generate: int) -> tuple[int, int]:
        budget = length - (to_generate if self.unit == "tokens" else 0)
        base = self.size(*render(0))
        if base > budget:
            raise CtxlabError(
                f"length {length} is too small for the prompt and what must be in it "
                f"({base} {self.unit} before any haystack): use a larger length"
            )
        # Estimate from per-unit costs, then correct with exact measurements.
        n, used, step = 0, base, 16
        available = units.limit
        while n < available:
            costs = self._costs(units, sep, min(n + step, available))[n:]
            available, step = units.limit, min(2 * step, 1024)
            for cost in costs:
                if used + cost > budget:
                    break
                used += cost
                n += 1
            else:
                continue
            break
        size = self.size(*render(n))
        while size > budget and n > 0:
            n = max(0, n - max(1, (size - budget) // 8))
            size = self.size(*render(n))
        extra = to_generate if self.unit == "tokens" else 0
        while n < available and size + extra < 0.9 * length:
            grown = self.size(*render(n + 1))
            if grown > budget:
                break
            n, size = n + 1, grown
        total = size + extra
        if n >= available and total < 0.9 * length:
            raise CtxlabError(
                f"the haystack text is too short to fill {length} {self.unit}: "
                "pass a longer --haystack-file or a smaller length"
            )
        return n, total
