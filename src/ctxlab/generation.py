"""The generation engine: batched, length-sorted, left-padded decoding with stop strings; greedy by
default, or seeded temperature/top-p sampling of N completions per prompt (`Sampling`).

The only place in ctxlab that generates text. Why not plain `model.generate` on CPU: after a 2K
prompt it spends ~60 ms per decoded token on the built-in model, more than the prompt's own
per-token cost. A profile shows two culprits: `DynamicCache` concatenates every layer's keys and
values at each step (43% of the time), and PyTorch's CPU flash-attention kernel is slow for a
single query row (31%). The engine therefore preallocates a `StaticCache` and, on CPU, routes
single-query attention through a grouped-query matmul (prefill still uses SDPA); measured
~2x faster per step at batch 1 and ~5x at batch 8 (benchmarks/RESULTS.md).

Greedy decoding also copies from the context (`ctxlab.lookup`, on by default where it pays:
bf16/fp16 or a GPU; `lookup=None` turns it off): each row drafts the tokens that followed the
latest earlier match of its last few tokens, one pass reads the current token plus every row's
draft (the grouped matmul takes those few query rows under the causal mask), and each row keeps
the draft prefix its own argmax agrees with plus the next argmax, so the tokens are plain
greedy's (exact in fp32; in bf16 a near-tie can resolve differently, as a change of batch size
can). Rows keep their own positions while the cache column advances by the most any row kept;
a row's rejected columns stay masked holes, and the cache has `PromptLookup.slack` spare columns
for them. Sampling decodes one token per pass, as before. The
logic is device-agnostic: on a GPU the model's own attention reads the drafted rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import AttentionInterface, DynamicCache, StaticCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from ctxlab.errors import CtxlabError
from ctxlab.lookup import DraftIndex, PromptLookup, accepted
from ctxlab.prompts import GenerationRequest, encode_prompt, render_prompt

ATTENTION = "ctxlab_decode"
MAX_DECODE_ROWS = 64  # query rows a decode step may have; more is a prefill
LOOKUP = PromptLookup()  # the engine's default drafting, for greedy decoding where it pays


def lookup_where_it_pays(model, lookup: PromptLookup | None = LOOKUP) -> PromptLookup | None:
    """`lookup`, except None for an fp32 model on a CPU: there a pass over a batch's drafts is
    compute-bound and took twice as long as the one-token passes it saved (RESULTS.md, 0.49x);
    in bf16/fp16 or on a GPU it pays. A backend's model (None) keeps `lookup`; it is unused."""
    if model is not None and model.dtype == torch.float32 and model.device.type == "cpu":
        return None
    return lookup


def _decode_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
):
    """SDPA for prefill; for a decode step (one query row, or the few rows of a prompt-lookup
    draft, always under a mask over the static cache), grouped matmuls with no key/value
    repetition."""
    batch, heads, rows, dim = query.shape
    if attention_mask is None or rows > MAX_DECODE_ROWS:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    q = query.reshape(batch, kv_heads, groups * rows, dim)
    scores = torch.matmul(q, key.transpose(2, 3)) * (scaling if scaling is not None else dim**-0.5)
    scores = scores.view(batch, kv_heads, groups, rows, -1)
    mask = attention_mask[:, :, None, -rows:, : key.shape[2]]
    if mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    else:
        scores = scores + mask
    probs = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    out = torch.matmul(probs.view(batch, kv_heads, groups * rows, -1), value)
    return out.view(batch, heads, rows, dim).transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, _decode_attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)


@dataclass(frozen=True)
class Sampling:
    """Temperature/top-p sampling of `num_samples` completions per request. Each completion draws
    from its own generator seeded by (seed, request index, sample index), so a completion does
    not depend on which others share its batch or on the batch size's row order."""

    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    num_samples: int = 1

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise CtxlabError(f"sampling temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise CtxlabError(f"sampling top_p must be in (0, 1], got {self.top_p}")
        if self.num_samples < 1:
            raise CtxlabError(f"num_samples must be at least 1, got {self.num_samples}")

    def row_seed(self, request: int, sample: int) -> int:
        return ((self.seed * 1_000_003 + request) * 10_007 + sample) % (2**63 - 1)


def _pick(logits: torch.Tensor, sampling: Sampling, generators: list[torch.Generator]):
    """One token per row: temperature, then the smallest top-p nucleus, then a seeded draw."""
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > sampling.top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.cat([torch.multinomial(row, 1, generator=g) for row, g in zip(probs, generators)])


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    generated_tokens: int
    stopped_by: str = field(default="length")
    decode_steps: int = 0  # forward passes after the prompt's; fewer than tokens with lookup


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return {i for i in ids if i is not None}


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    hits = [(text.find(s), s) for s in stop if s and s in text]
    if not hits:
        return text, None
    pos, s = min(hits)
    return text[:pos], s


def _cache_name(model) -> str:
    """The name the model's forward takes its KV cache by: `cache` in recent transformers
    (which warns about `past_key_values`), `past_key_values` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


@torch.inference_mode()
def _prefill(
    model, prompts: list[list[int]], budget: int, cache_name: str
) -> tuple[StaticCache, torch.Tensor]:
    """Read each prompt alone (no padding, so SDPA takes its causal fast path: a padding mask
    made batched prefill ~35% slower per token here), then place the rows' keys and values
    right-aligned in one static cache for batched decoding. Returns the cache and the logits
    of each prompt's last position."""
    longest = max(len(p) for p in prompts)
    rows, logits = [], []
    for ids in prompts:
        cache = DynamicCache(config=model.config)
        out = model(
            input_ids=torch.tensor([ids], device=model.device),
            **{cache_name: cache},
            use_cache=True,
            logits_to_keep=1,
        )
        rows.append([(layer.keys, layer.values) for layer in cache.layers])
        logits.append(out.logits[:, -1])
    static = StaticCache(config=model.config, max_cache_len=longest + budget)
    positions = torch.arange(longest, device=model.device)
    for layer_idx in range(len(rows[0])):
        keys, values = [], []
        for row, ids in zip(rows, prompts):
            k, v = row[layer_idx]
            pad = longest - len(ids)
            keys.append(torch.nn.functional.pad(k, (0, 0, pad, 0)))
            values.append(torch.nn.functional.pad(v, (0, 0, pad, 0)))
        static.update(torch.cat(keys), torch.cat(values), layer_idx, {"cache_position": positions})
    return static, torch.cat(logits)


class _Row:
    """One completion as it grows: its tokens, whether and why it ended."""

    def __init__(self, request: GenerationRequest) -> None:
        self.request = request
        self.tokens: list[int] = []
        self.done = False
        self.stopped_by = "length"
        self.steps = 0

    def emit(self, tokens: list[int], tokenizer, eos: set[int]) -> None:
        """Take tokens in order until end of turn, a stop string or the budget ends the row."""
        for tid in tokens:
            if self.done:
                return
            if tid in eos:
                self.done, self.stopped_by = True, "eos"
                return
            self.tokens.append(tid)
            if self.request.stop:
                text = tokenizer.decode(self.tokens, skip_special_tokens=True)
                if cut_at_stop(text, self.request.stop)[1] is not None:
                    self.done, self.stopped_by = True, "stop"
            if len(self.tokens) >= self.request.max_new_tokens:
                self.done = True


@torch.inference_mode()
def _generate_batch(
    model,
    tokenizer,
    prompts: list[list[int]],
    requests: list[GenerationRequest],
    eos: set[int],
    sampling: Sampling | None = None,
    seeds: list[int] | None = None,
    lookup: PromptLookup | None = None,
) -> list[Generation]:
    """Decode one batch. Cache column `col` is the next one written, the same for every row;
    each row keeps its own position. With prompt lookup (greedy only) a pass reads the current
    token plus each row's draft, and the columns of a row's rejected drafts are masked out."""
    device = model.device
    longest = max(len(p) for p in prompts)
    budget = max(r.max_new_tokens for r in requests)
    lookup = lookup if sampling is None else None
    width = longest + budget + (lookup.slack(budget) if lookup else 0)
    attention = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for i, ids in enumerate(prompts):
        attention[i, longest - len(ids) : longest] = 1
    cache_name = _cache_name(model)
    cache, logits = _prefill(model, prompts, width - longest, cache_name)
    positions = torch.tensor([[len(p)] for p in prompts], device=device)
    rows = [_Row(r) for r in requests]
    index = [DraftIndex(p, lookup) for p in prompts] if lookup else None
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds or []]
    current = logits.argmax(-1) if sampling is None else _pick(logits, sampling, generators)
    for row, tid in zip(rows, current.tolist()):
        row.emit([tid], tokenizer, eos)
    col = longest
    while not all(row.done for row in rows):
        drafts: list[list[int]] = [[] for _ in rows]
        if index is not None:
            need = max(r.request.max_new_tokens - len(r.tokens) for r in rows if not r.done)
            room = min(lookup.num_draft, width - col - need)  # later passes need `need` columns
            for i, row in enumerate(rows):
                if not row.done:
                    index[i].extend(row.tokens[len(index[i].tokens) - len(prompts[i]) :])
                    left = row.request.max_new_tokens - len(row.tokens) - 1
                    drafts[i] = index[i].propose(min(room, left))
        k = max(len(d) for d in drafts)
        ids = torch.tensor(
            [[t, *d, *[t] * (k - len(d))] for t, d in zip(current.tolist(), drafts)],
            device=device,
        )
        attention[:, col : col + k + 1] = 1
        logits = model(
            input_ids=ids,
            attention_mask=attention[:, : col + k + 1],
            position_ids=positions + torch.arange(k + 1, device=device),
            **{cache_name: cache},
            use_cache=True,
            cache_position=torch.arange(col, col + k + 1, device=device),
        ).logits
        if sampling is not None:
            current = _pick(logits[:, -1], sampling, generators)
            kept = [0] * len(rows)
            for row, tid in zip(rows, current.tolist()):
                row.steps += not row.done
                row.emit([tid], tokenizer, eos)
        else:
            greedy = logits.argmax(-1).tolist()
            kept = [accepted(d, g) for d, g in zip(drafts, greedy)]
            for row, g, m in zip(rows, greedy, kept):
                row.steps += not row.done
                row.emit(g[: m + 1], tokenizer, eos)
            current = torch.tensor([g[m] for g, m in zip(greedy, kept)], device=device)
        for i, m in enumerate(kept):
            attention[i, col + m + 1 : col + k + 1] = 0
        advance = max((m for m, row in zip(kept, rows) if not row.done), default=0)
        positions = positions + torch.tensor([[m + 1] for m in kept], device=device)
        if k > advance:  # the static cache writes where it last stopped: step it back
            cache.crop(advance - k)
        col += advance + 1
    results = []
    for prompt, row in zip(prompts, rows):
        text = tokenizer.decode(row.tokens, skip_special_tokens=True)
        text, hit = cut_at_stop(text, row.request.stop)
        results.append(
            Generation(
                text=text,
                prompt_tokens=len(prompt),
                generated_tokens=len(row.tokens),
                stopped_by="stop" if hit else row.stopped_by,
                decode_steps=row.steps,
            )
        )
    return results


def generate(
    model,
    tokenizer,
    requests: Sequence[GenerationRequest],
    batch_size: int = 8,
    progress: bool = True,
    description: str = "generating",
    sampling: Sampling | None = None,
    on_batch: Callable[[list[int], list[Generation]], None] | None = None,
    lookup: PromptLookup | Literal["auto"] | None = "auto",
) -> list[Generation]:
    """Greedy generation for many prompts, in input order; with `sampling`, `num_samples`
    sampled completions per request instead (request i's are items i*n .. i*n+n-1).

    Prompts are sorted by token length so each batch pads little; every row stops at end of turn,
    at its own stop strings (cut from the text) or after its own `max_new_tokens`. `on_batch`
    hears each finished batch (its item indices and completions), so a caller can keep them as
    they come. Batches run in a fixed order, longest first: the requests left after some
    batches form the same later batches again, which is what makes a resumed run exact.
    `lookup` sets prompt-lookup drafting of greedy tokens (None: one token per pass; "auto":
    `LOOKUP` where it pays, `lookup_where_it_pays`).
    """
    if not requests:
        return []
    if lookup == "auto":
        lookup = lookup_where_it_pays(model)
    n = sampling.num_samples if sampling is not None else 1
    requests = [r for r in requests for _ in range(n)]
    seeds = [sampling.row_seed(i // n, i % n) for i in range(len(requests))] if sampling else None
    prompts = [
        encode_prompt(tokenizer, render_prompt(tokenizer, r.messages, r.assistant_prefix))
        for r in requests
    ]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    eos = _eos_ids(model, tokenizer)
    results: list[Generation | None] = [None] * len(requests)
    previous = model.config._attn_implementation
    if model.device.type == "cpu":
        model.set_attn_implementation(ATTENTION)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task(description, total=len(requests))
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = _generate_batch(
                    model,
                    tokenizer,
                    [prompts[i] for i in idx],
                    [requests[i] for i in idx],
                    eos,
                    sampling,
                    [seeds[i] for i in idx] if seeds else None,
                    lookup,
                )
                for i, result in zip(idx, batch):
                    results[i] = result
                if on_batch is not None:
                    on_batch(idx, batch)
                bar.advance(task, len(idx))
    finally:
        if model.config._attn_implementation != previous:
            model.set_attn_implementation(previous)
    return results  # type: ignore[return-value]


def sample(
    model,
    tokenizer,
    requests: Sequence[GenerationRequest],
    sampling: Sampling,
    batch_size: int = 8,
    progress: bool = True,
    description: str = "sampling",
) -> list[list[Generation]]:
    """`sampling.num_samples` sampled completions per request, grouped by request."""
    flat = generate(model, tokenizer, requests, batch_size, progress, description, sampling)
    n = sampling.num_samples
    return [flat[i : i + n] for i in range(0, len(flat), n)]
