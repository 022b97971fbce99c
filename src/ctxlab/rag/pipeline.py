"""Retrieve, then generate: the retrieved chunks become the lost-in-the-middle prompt's numbered
documents (best first), so an answer can cite them as [1], [2], ... and is scored as the paper
scores it (`best_subspan_em`). The request (prompt, stop strings, budget) comes from
`ctxlab.tasks.multidoc`, shared with the `multidoc` task, so a model trained there reads retrieved
documents in the format it learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ctxlab.backends import generate_with
from ctxlab.generation import Generation
from ctxlab.prompts import GenerationRequest
from ctxlab.rag.index import Hit
from ctxlab.tasks.multidoc import generation_defaults, question_request

# The multidoc task's: stop at the end of the first line, the line the paper scores.
STOP, MAX_NEW_TOKENS = generation_defaults()


@dataclass
class Answer:
    question: str
    text: str
    hits: list[Hit]
    generation: Generation

    def sources(self) -> list[str]:
        """One line per retrieved chunk, numbered as in the prompt."""
        lines = []
        for n, hit in enumerate(self.hits, 1):
            title = hit.chunk.title or "(untitled)"
            where = hit.chunk.source + (
                f" part {hit.chunk.meta['part'] + 1}/{hit.chunk.meta['parts']}"
                if hit.chunk.meta.get("parts", 1) > 1
                else ""
            )
            lines.append(f"[{n}] {title} — {where} (score {hit.score:.3f})")
        return lines


def request(
    question: str,
    hits: Sequence[Hit],
    template: str = "qa",
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
    scratchpad: bool = False,
) -> GenerationRequest:
    """The multidoc request over the retrieved chunks; stop strings and budget default to the
    task's (for a scratchpad model with `scratchpad`)."""
    documents = [(h.chunk.title, h.chunk.text) for h in hits]
    return question_request(question, documents, template, scratchpad, max_new_tokens, stop)


def answer(
    loaded,
    questions: Sequence[str],
    hits: Sequence[Sequence[Hit]],
    template: str = "qa",
    max_new_tokens: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    description: str = "answering",
    stop: Sequence[str] | None = None,
    scratchpad: bool = False,
) -> list[Answer]:
    """Each question answered by `loaded` (a `LoadedModel`) from its retrieved chunks."""
    requests = [
        request(q, h, template, max_new_tokens, stop, scratchpad) for q, h in zip(questions, hits)
    ]
    outputs = generate_with(loaded, requests, batch_size, progress, description)
    return [
        Answer(q, out.text.strip(), list(h), out) for q, h, out in zip(questions, hits, outputs)
    ]
