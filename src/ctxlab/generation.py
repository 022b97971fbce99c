"""The generation engine: batched, length-sorted, left-padded decoding with stop strings; greedy by
default, or seeded temperature/top-p sampling of N completions per prompt (`Sampling`).

The only place in ctxlab that generates text. Why not plain `model.generate` on CPU: after a 2K
prompt it spends ~60 ms per decoded token on the built-in model, more than the prompt's own
per-token cost. A profile shows two culprits: `DynamicCache` concatenates every layer's keys and
values at each step (43% of the time), and PyTorch's CPU flash-attention kernel is slow for a
single query row (31%). The engine therefore preallocates a `StaticCache` and, on CPU, routes
single-query attention through a grouped-query matmul (prefill still uses SDPA); measured
~2x faster per step at batch 1 and ~5x at batch 8 (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import AttentionInterface, DynamicCache, StaticCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from ctxlab.errors import CtxlabError
from ctxlab.prompts import GenerationRequest, encode_prompt, render_prompt

ATTENTION = "ctxlab_decode"


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
    """SDPA for prefill; for one query row, grouped matmuls with no key/value repetition."""
    if query.shape[2] > 1:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    q = query.view(batch, kv_heads, heads // kv_heads, dim)
    scores = torch.matmul(q, key.transpose(2, 3)) * (scaling if scaling is not None else dim**-0.5)
    if attention_mask is not None:
        mask = attention_mask[:, :, -1:, : key.shape[2]]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    probs = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    out = torch.matmul(probs, value).view(batch, heads, 1, dim)
    return out.transpose(1, 2).contiguous(), None


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


@torch.inference_mode()
def _generate_batch(
    model,
    tokenizer,
    prompts: list[list[int]],
    requests: list[GenerationRequest],
    eos: set[int],
    sampling: Sampling | None = None,
    seeds: list[int] | None = None,
) -> list[Generation]:
    device = model.device
    longest = max(len(p) for p in prompts)
    budget = max(r.max_new_tokens for r in requests)
    attention = torch.zeros((len(prompts), longest + budget), dtype=torch.long, device=device)
    for row, ids in enumerate(prompts):
        attention[row, longest - len(ids) : longest] = 1
    cache_name = _cache_name(model)
    cache, logits = _prefill(model, prompts, budget, cache_name)
    next_positions = torch.tensor([[len(p)] for p in prompts], device=device)
    new_tokens: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    stopped_by = ["length"] * len(prompts)
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds or []]
    for step in range(budget):
        next_ids = logits.argmax(-1) if sampling is None else _pick(logits, sampling, generators)
        for row, tid in enumerate(next_ids.tolist()):
            if done[row]:
                continue
            if tid in eos:
                done[row], stopped_by[row] = True, "eos"
                continue
            new_tokens[row].append(tid)
            req = requests[row]
            if req.stop:
                text = tokenizer.decode(new_tokens[row], skip_special_tokens=True)
                if cut_at_stop(text, req.stop)[1] is not None:
                    done[row], stopped_by[row] = True, "stop"
            if len(new_tokens[row]) >= req.max_new_tokens:
                done[row] = True
        if all(done) or step == budget - 1:
            break
        attention[:, longest + step] = 1
        logits = model(
            input_ids=next_ids[:, None],
            attention_mask=attention[:, : longest + step + 1],
            position_ids=next_positions,
            **{cache_name: cache},
            use_cache=True,
            cache_position=torch.tensor([longest + step], device=device),
        ).logits[:, -1]
        next_positions = next_positions + 1
    results = []
    for row, req in enumerate(requests):
        text = tokenizer.decode(new_tokens[row], skip_special_tokens=True)
        text, hit = cut_at_stop(text, req.stop)
        results.append(
            Generation(
                text=text,
                prompt_tokens=len(prompts[row]),
                generated_tokens=len(new_tokens[row]),
                stopped_by="stop" if hit else stopped_by[row],
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
) -> list[Generation]:
    """Greedy generation for many prompts, in input order; with `sampling`, `num_samples`
    sampled completions per request instead (request i's are items i*n .. i*n+n-1).

    Prompts are sorted by token length so each batch pads little; every row stops at end of turn,
    at its own stop strings (cut from the text) or after its own `max_new_tokens`. `on_batch`
    hears each finished batch (its item indices and completions), so a caller can keep them as
    they come. Batches run in a fixed order, longest first: the requests left after some
    batches form the same later batches again, which is what makes a resumed run exact.
    """
    if not requests:
        return []
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
