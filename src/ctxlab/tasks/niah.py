"""RULER's needle-in-a-haystack family: eight named variants, three haystacks, RULER's budget.

Faithful to RULER's `niah.py`: the needle sentence, template and answer prefix, the
singular/plural rewording, 7-digit numbers, uuid4 and adjective-noun word values, and the
length rule (chat-templated prompt + the 128-token generation budget fits in the length).
Unlike RULER, which re-tokenizes the whole haystack for every attempt, token counts of haystack
units are computed once and summed, so one exact tokenization per example usually suffices.
"""

from __future__ import annotations

import random
import re
import uuid
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ctxlab.cleaning import DATA_CLEANERS
from ctxlab.errors import CtxlabError
from ctxlab.metrics import string_match_all
from ctxlab.tasks.base import NAME_HELP, Example, Task, register
from ctxlab.tasks.filling import Counter, LengthSweepConfig, Units
from ctxlab.tasks.prose import prose_sentences
from ctxlab.tasks.ruler import refuse_ruler_file

NeedleType = Literal["words", "numbers", "uuids"]
HaystackType = Literal["noise", "essay", "needle"]

# (haystack, key type, value type, keys, values per key, queried keys) as in RULER's synthetic.yaml
VARIANTS: dict[str, tuple[HaystackType, NeedleType, NeedleType, int, int, int]] = {
    "niah_single_1": ("noise", "words", "numbers", 1, 1, 1),
    "niah_single_2": ("essay", "words", "numbers", 1, 1, 1),
    "niah_single_3": ("essay", "words", "uuids", 1, 1, 1),
    "niah_multikey_1": ("essay", "words", "numbers", 4, 1, 1),
    "niah_multikey_2": ("needle", "words", "numbers", 1, 1, 1),
    "niah_multikey_3": ("needle", "uuids", "uuids", 1, 1, 1),
    "niah_multivalue": ("essay", "words", "numbers", 1, 4, 1),
    "niah_multiquery": ("essay", "words", "numbers", 4, 1, 4),
}
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = "One of the special magic {type_v} for {key} is: {value}."
TEMPLATE = (
    "Some special magic {type_v} are hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the {type_v} afterwards.\n{context}\n"
    "What are all the special magic {type_v} for {query} mentioned in the provided text?"
)
ANSWER_PREFIX = " The special magic {type_v} for {query} mentioned in the provided text are"
RULER_DEPTHS = [round(100 * i / 39) for i in range(40)]


def _word_list(name: str) -> list[str]:
    text = (resources.files("wonderwords") / "assets" / name).read_text(encoding="utf-8")
    return sorted({w.strip() for w in text.splitlines() if w.strip() and " " not in w})


class NiahConfig(LengthSweepConfig):
    """NIAH settings; `num_samples` is per (variant, length), spread round-robin over depths."""

    name: Literal["niah"] = Field("niah", description=NAME_HELP)
    variants: list[str] = Field(
        ["niah_single_1"],
        description="niah_single_1..3, niah_multikey_1..3, niah_multivalue, niah_multiquery, "
        "a comma list, or all",
        json_schema_extra={"aliases": ["--variant"]},
    )
    depth_distribution: Literal["uniform", "random", "fixed"] = Field(
        "uniform",
        description="needle depths: round-robin over --depths, drawn from them, or the first",
    )
    needle_type_k: NeedleType | None = Field(None, description="key type (default: the variant's)")
    needle_type_v: NeedleType | None = Field(
        None, description="value type (default: the variant's)"
    )
    haystack: HaystackType | None = Field(None, description="haystack (default: the variant's)")
    haystack_file: str | None = Field(None, description="your own prose for the essay haystack")
    tokens_to_generate: int = Field(
        128, description="generation budget kept free within each length (RULER's 128)"
    )
    data_cleaning: Literal["ruler", "none"] = Field(
        "ruler", description="cleaning of --haystack-file text: ruler or none"
    )

    @field_validator("variants", mode="before")
    @classmethod
    def _split_variants(cls, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, value: list[str]) -> list[str]:
        if value == ["all"]:
            return list(VARIANTS)
        unknown = [v for v in value if v not in VARIANTS]
        if unknown:
            raise ValueError(
                f"unknown NIAH variant {unknown[0]!r}; choose from {', '.join(VARIANTS)} or all"
            )
        return value


@register
class NiahTask(Task):
    name = "niah"
    config_class = NiahConfig
    metrics = ("string_match_all",)
    breakdown_keys = ("variant", "length", "depth")
    max_new_tokens = 128
    config: NiahConfig

    @cached_property
    def _words(self) -> tuple[list[str], list[str]]:
        return _word_list("adjectivelist.txt"), _word_list("nounlist.txt")

    def _random(self, kind: str, rng: random.Random) -> str:
        if kind == "numbers":
            return str(rng.randint(10**6, 10**7 - 1))
        if kind == "uuids":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        adjectives, nouns = self._words
        return f"{rng.choice(adjectives)}-{rng.choice(nouns)}"

    @cached_property
    def _essay_sentences(self) -> list[str]:
        if self.config.haystack_file:
            path = Path(self.config.haystack_file)
            if not path.is_file():
                raise CtxlabError(f"haystack file {path} does not exist: pass a text file of prose")
            text = DATA_CLEANERS[self.config.data_cleaning](path.read_text(encoding="utf-8"))
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)) if s]
            if not sentences:
                raise CtxlabError(f"haystack file {path} holds no text")
            return sentences
        words = (
            max(self.config.lengths) * 2
            if self.config.length_unit == "tokens"
            else max(self.config.lengths) // 3
        )
        return prose_sentences(max(words, 1000), seed=0)

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        cfg = self.config
        counter = cfg.counter(tokenizer, max_length)
        return [
            self._example(variant, length, i, counter)
            for variant in cfg.variants
            for length in cfg.lengths
            for i in range(cfg.num_samples)
        ]

    def _depth(self, i: int, rng: random.Random) -> int:
        depths = self.config.depths
        if self.config.depth_distribution == "uniform":
            return depths[i % len(depths)]
        if self.config.depth_distribution == "fixed":
            return depths[0]
        return rng.choice(depths)

    def _example(self, variant: str, length: int, i: int, counter: Counter) -> Example:
        cfg = self.config
        haystack, type_k, type_v, num_k, num_v, num_q = VARIANTS[variant]
        haystack, type_k = cfg.haystack or haystack, cfg.needle_type_k or type_k
        type_v = cfg.needle_type_v or type_v
        rng = random.Random(f"niah:{cfg.seed}:{variant}:{length}:{i}")
        keys: list[str] = []
        while len(keys) < num_k:
            key = self._random(type_k, rng)
            if key not in keys:
                keys.append(key)
        values = [[self._random(type_v, rng) for _ in range(num_v)] for _ in keys]
        needles = [
            NEEDLE.format(type_v=type_v, key=k, value=v) for k, vs in zip(keys, values) for v in vs
        ]
        rng.shuffle(needles)
        queried = rng.sample(range(num_k), num_q)
        answers = [v for q in queried for v in values[q]]
        first = next(n for n in needles if n.endswith(f" {answers[0]}."))
        depth = self._depth(i, rng)
        needle_depths = {n: depth if n == first else rng.choice(RULER_DEPTHS) for n in needles}

        query_keys = [keys[q] for q in queried]
        query = (
            ", ".join(query_keys[:-1]) + ", and " + query_keys[-1] if num_q > 1 else query_keys[0]
        )
        template, prefix, type_word = TEMPLATE, ANSWER_PREFIX, type_v
        if num_q * num_v == 1:
            for old, new in (
                ("Some", "A"),
                ("are all", "is"),
                ("are", "is"),
                ("answers", "answer"),
            ):
                template, prefix = template.replace(old, new), prefix.replace(old, new)
            type_word = type_v[:-1]

        if haystack == "essay":
            units, sep = Units(self._essay_sentences), " "
        elif haystack == "noise":
            units, sep = Units(draw=lambda: NOISE), "\n"
        else:
            taken = set(keys)
            units, sep = Units(draw=lambda: self._distractor(type_k, type_v, taken, rng)), "\n"

        def render(n: int) -> tuple[str, str]:
            context = _insert(units.take(n), needles, needle_depths, sep)
            text = template.format(type_v=type_word, context=context, query=query)
            return text, prefix.format(type_v=type_word, query=query)

        n, size = counter.fit(render, units, sep, length, cfg.tokens_to_generate)
        text, answer_prefix = render(n)
        return Example(
            id=f"{variant}-{length}-{i:05d}",
            task=self.name,
            input=text,
            answers=answers,
            answer_prefix=answer_prefix,
            meta={
                "variant": variant,
                "length": length,
                "depth": depth,
                "haystack": haystack,
                "needle_type_k": type_k,
                "needle_type_v": type_v,
                "num_needles": len(needles),
                "length_unit": cfg.length_unit,
                "size": size,
            },
        )

    def _distractor(self, type_k: str, type_v: str, taken: set[str], rng: random.Random) -> str:
        key = self._random(type_k, rng)
        while key in taken:
            key = self._random(type_k, rng)
        return NEEDLE.format(type_v=type_v, key=key, value=self._random(type_v, rng))

    def scratchpad_target(self, example: Example) -> str:
        return niah_scratchpad(example)

    def read_data(self, path: str) -> list[Example]:
        """An examples jsonl; RULER's own prepared data is pointed at its task."""
        refuse_ruler_file(path)
        return super().read_data(path)

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        return {"string_match_all": string_match_all([prediction], [example.answers])}


def niah_scratchpad(example: Example) -> str:
    """Scratchpad target for NIAH: copy the needle sentence(s) holding the answers, then answer.

    Needles read "One of the special magic {type_v} for {key} is: {value}." (keys and values
    have no spaces) and each answer is a needle's value, so each sentence is found in
    `example.input` by its answer. The result is those sentences, one per line in answer order,
    then a line "Answer: " with the answers joined by ", " (what `--last-answer-only` reads).
    """
    sentences: list[str] = []
    for answer in example.answers:
        pattern = rf"One of the special magic \w+ for \S+ is: {re.escape(answer)}\."
        match = re.search(pattern, example.input)
        if match is None:
            raise CtxlabError(
                f"example {example.id}: no needle sentence with the answer {answer!r} in its "
                "input, so no scratchpad can be built: use --method sft for this data"
            )
        if match.group(0) not in sentences:
            sentences.append(match.group(0))
    return "\n".join(sentences) + "\nAnswer: " + ", ".join(example.answers)


def _insert(units: list[str], needles: list[str], depths: dict[str, int], sep: str) -> str:
    """Put each needle before the unit at its depth (percent of the haystack)."""
    placed = sorted(needles, key=lambda n: depths[n])
    parts, start = [], 0
    for needle in placed:
        cut = int(len(units) * depths[needle] / 100)
        parts.extend(units[start:cut])
        parts.append(needle)
        start = max(start, cut)
    parts.extend(units[start:])
    return sep.join(parts)
