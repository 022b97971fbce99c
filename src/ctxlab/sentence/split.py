"""An NIAH or QA prompt as sentences: instruction, context (haystack with the needles in place),
question; plus the answer sentence the sentence LM learns to predict.

The needles are found first (by RULER's needle pattern) and cut out whole, so a needle is always
one sentence even when its value would fool a sentence splitter (a uuid, a decimal); the rest of
the text is split after `.`, `!` or `?` followed by whitespace and at line breaks. Pure text
functions, deterministic and offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctxlab.errors import CtxlabError
from ctxlab.tasks.base import Example
from ctxlab.tasks.qa import TEMPLATE as QA_TEMPLATE

NEEDLE_PATTERN = re.compile(r"One of the special magic \w+ for \S+ is: \S+?\.(?=\s|$)")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\s*\n\s*")
QUERY_PATTERN = re.compile(r" for (.+?) mentioned in the provided text\?$")
EOS_SENTENCE = "End of sequence."


@dataclass(frozen=True)
class SplitPrompt:
    """A prompt's sentences in order; `needles` index the needle sentences within `context`."""

    instruction: list[str]
    context: list[str]
    question: list[str]
    needles: tuple[int, ...] = ()

    @property
    def sentences(self) -> list[str]:
        return [*self.instruction, *self.context, *self.question]

    @property
    def haystack(self) -> list[str]:
        return [s for i, s in enumerate(self.context) if i not in self.needles]

    @property
    def needle_sentences(self) -> list[str]:
        return [self.context[i] for i in self.needles]


def sentences(text: str) -> list[str]:
    """Plain sentence splitting: after `.`, `!`, `?` before whitespace, and at line breaks."""
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def split_context(text: str) -> tuple[list[str], tuple[int, ...]]:
    """(context sentences, indices of the needle sentences): needles cut out whole first."""
    out: list[str] = []
    needles: list[int] = []
    start = 0
    for match in NEEDLE_PATTERN.finditer(text):
        out.extend(sentences(text[start : match.start()]))
        needles.append(len(out))
        out.append(match.group(0))
        start = match.end()
    out.extend(sentences(text[start:]))
    return out, tuple(needles)


def split_niah(text: str) -> SplitPrompt:
    """RULER's NIAH template: the instruction line, the context lines, the question line."""
    lines = text.split("\n")
    if len(lines) < 3:
        raise CtxlabError(
            "an NIAH prompt needs an instruction line, a context and a question line: "
            "generate the data with ctxlab's niah task"
        )
    context, needles = split_context("\n".join(lines[1:-1]))
    return SplitPrompt(sentences(lines[0]), context, sentences(lines[-1]), needles)


def split_qa(text: str) -> SplitPrompt:
    """RULER's QA template: its head, the documents (each `Document i:` a sentence), its tail."""
    head, tail = QA_TEMPLATE.split("{context}")
    question_at = tail.index("{query}")
    if not text.startswith(head) or tail[:question_at] not in text:
        raise CtxlabError(
            "the prompt does not follow RULER's QA template: generate the data with ctxlab's "
            "qa task"
        )
    before_query = tail[:question_at]
    body, _, query = text[len(head) :].rpartition(before_query)
    lead, label = before_query.rsplit("\n", 1)
    question = [*sentences(lead), f"{label}{query.strip()}"]
    return SplitPrompt(sentences(head), sentences(body), question)


SPLITTERS = {"niah": split_niah, "qa": split_qa}


def split_example(example: Example) -> SplitPrompt:
    if example.task not in SPLITTERS:
        raise CtxlabError(
            f"example {example.id} is a {example.task!r} example: the sentence LM reads "
            f"{' or '.join(SPLITTERS)} examples"
        )
    return SPLITTERS[example.task](example.input)


def answer_sentence(example: Example) -> str:
    """The sentence the model must predict after the prompt: the seed's "The value for {key} is:
    {value}." for NIAH (values joined for several), "The answer is: {answer}." for QA."""
    if example.task == "qa":
        return f"The answer is: {example.answers[0]}."
    question = example.input.rsplit("\n", 1)[-1]
    found = QUERY_PATTERN.search(question)
    key = found.group(1) if found else "the key"
    if len(example.answers) == 1:
        return f"The value for {key} is: {example.answers[0]}."
    return f"The values for {key} are: {', '.join(example.answers)}."
