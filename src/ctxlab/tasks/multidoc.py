"""Multi-document QA as in "Lost in the Middle": a question over k documents, one of them gold.

This module holds the paper's prompts and their rendering, shared by the `multidoc` task and by
retrieval-augmented generation (`ctxlab.rag`), so both ask and score the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctxlab.errors import CtxlabError

_INSTRUCTION = (
    "Write a high-quality answer for the given question using only the provided search results "
    "(some of which might be irrelevant)."
)
# The paper's prompt files (qa.prompt, qa_with_query_aware_contextualization.prompt,
# closedbook_qa.prompt), keyed by ctxlab's template names.
TEMPLATES: dict[str, str] = {
    "qa": _INSTRUCTION + "\n\n{search_results}\n\nQuestion: {question}\nAnswer:",
    "qa_with_query_aware_contextualization": _INSTRUCTION
    + "\n\nQuestion: {question}\n\n{search_results}\n\nQuestion: {question}\nAnswer:",
    "closedbook": "Question: {question}\nAnswer:",
}


def format_document(index: int, title: str, text: str) -> str:
    """One search result as the paper writes it; `index` counts from 1."""
    return f"Document [{index}](Title: {title}) {text}"


def render_prompt(question: str, documents: Sequence[tuple[str, str]], template: str = "qa") -> str:
    """The paper's prompt for a question over (title, text) documents, numbered from 1 and joined
    by newlines; `closedbook` ignores the documents."""
    if template not in TEMPLATES:
        raise CtxlabError(
            f"unknown multidoc template {template!r}: choose one of {', '.join(TEMPLATES)}"
        )
    if not question:
        raise CtxlabError("the question is empty: every multidoc record needs a question")
    if template == "closedbook":
        return TEMPLATES[template].format(question=question)
    if not documents:
        raise CtxlabError(
            "no documents to answer from: pass at least one document, or use the "
            "closedbook template"
        )
    results = "\n".join(
        format_document(i, title, text) for i, (title, text) in enumerate(documents, 1)
    )
    return TEMPLATES[template].format(question=question, search_results=results)
