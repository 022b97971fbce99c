"""Render chat messages into the exact prompt text and tokens a model sees.

Shared by data generation (to count a prompt's tokens, as RULER does) and by the generation
engine (to run it), so the two can never disagree on a prompt's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class GenerationRequest:
    """One prompt as a task asks for it: chat messages, an optional assistant-turn prefix, its
    stop strings and token budget. Backends turn requests into completions."""

    messages: list[dict]
    assistant_prefix: str = ""
    stop: Sequence[str] = ()
    max_new_tokens: int = 128


def render_prompt(tokenizer, messages: list[dict], assistant_prefix: str = "") -> str:
    """The chat template with the assistant turn opened, then the prefix the model continues.
    A tokenizer without a chat template (a base model) gets the turns joined plainly."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        text = "\n\n".join(m["content"] for m in messages) + "\n"
    return text + assistant_prefix


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Token ids of a rendered prompt; a chat template already carries its special tokens."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    return tokenizer(prompt, add_special_tokens=not has_template)["input_ids"]


def count_prompt_tokens(tokenizer, messages: list[dict], assistant_prefix: str = "") -> int:
    return len(encode_prompt(tokenizer, render_prompt(tokenizer, messages, assistant_prefix)))
