"""Retrieve, then generate: the retrieved chunks become the lost-in-the-middle prompt's numbered
documents (best first), so an answer can cite them as [1], [2], ... and is scored as the paper
scores it (`best_subspan_em`). The prompt comes from `ctxlab.tasks.multidoc`, shared with the
`multidoc` task, so a model trained there reads retrieved documents in the format it learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ctxlab.generation import Generation, GenerationRequest, generate
from ctxlab.rag.index import Hit
from ctxlab.tasks.multidoc import render_prompt

# The paper scores the first line of an answer, so generation stops there.
STOP = ("\n",)
MAX_NEW_TOKENS = 100  # as the multidoc task; the stop at a newline ends most answers early


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
    max_new_tokens: int = MAX_NEW_TOKENS,
    stop: Sequence[str] = STOP,
) -> GenerationRequest:
    documents = [(h.chunk.title, h.chunk.text) for h in hits]
    prompt = render_prompt(question, documents, template)
    return GenerationRequest([{"role": "user", "content": prompt}], "", stop, max_new_tokens)


def answer(
    loaded,
    questions: Sequence[str],
    hits: Sequence[Sequence[Hit]],
    template: str = "qa",
    max_new_tokens: int = MAX_NEW_TOKENS,
    batch_size: int = 8,
    progress: bool = True,
    description: str = "answering",
    stop: Sequence[str] = STOP,
) -> list[Answer]:
    """Each question answered by `loaded` (a `LoadedModel`) from its retrieved chunks."""
    requests = [request(q, h, template, max_new_tokens, stop) for q, h in zip(questions, hits)]
    outputs = generate(loaded.model, loaded.tokenizer, requests, batch_size, progress, description)
    return [
        Answer(q, out.text.strip(), list(h), out) for q, h, out in zip(questions, hits, outputs)
    ]
