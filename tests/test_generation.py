"""The generation engine against `model.generate`: same greedy tokens, stop strings, budgets and
input order; with prompt lookup, the same tokens in fewer forward passes."""

import pytest
import torch

from ctxlab.generation import LOOKUP, GenerationRequest, Sampling, _eos_ids, generate
from ctxlab.lookup import DraftIndex, PromptLookup, accepted
from ctxlab.models import load_model
from ctxlab.prompts import count_prompt_tokens, encode_prompt, render_prompt

PROMPTS = [
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Please list three primary colors, separated by commas, and nothing else at all.",
]
K = 10


def messages(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def fp32():
    return load_model(dtype="float32")


@pytest.fixture(scope="module")
def reference(fp32):
    """`model.generate` greedy output for each prompt alone (no padding), cut at end of turn."""
    model, tok = fp32.model, fp32.tokenizer
    eos = _eos_ids(model, tok)
    out = {}
    for text in PROMPTS:
        ids = encode_prompt(tok, render_prompt(tok, messages(text)))
        with torch.inference_mode():
            generated = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=K,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )
        new = generated[0, len(ids) :].tolist()
        cut = next((i for i, t in enumerate(new) if t in eos), len(new))
        out[text] = (tok.decode(new[:cut], skip_special_tokens=True), cut, cut < len(new))
    return out


def test_prompts_differ_in_length(fp32):
    lengths = [count_prompt_tokens(fp32.tokenizer, messages(p)) for p in PROMPTS]
    assert len(set(lengths)) == 3


def test_matches_model_generate_at_batch_3(fp32, reference):
    requests = [GenerationRequest(messages(p), max_new_tokens=K) for p in PROMPTS]
    outputs = generate(fp32.model, fp32.tokenizer, requests, batch_size=3, progress=False)
    assert len(outputs) == 3
    for prompt, output in zip(PROMPTS, outputs):
        text, n, ended = reference[prompt]
        assert output.text == text, prompt
        assert output.generated_tokens == n
        assert output.stopped_by == ("eos" if ended else "length")
    # the capital question ends its turn within the budget; the poem does not
    assert outputs[0].stopped_by == "eos" and "Paris" in outputs[0].text
    assert outputs[1].stopped_by == "length"


def test_input_order_kept_despite_length_sorting(fp32, reference):
    order = [PROMPTS[1], PROMPTS[2], PROMPTS[0]]  # neither sorted nor reverse-sorted by length
    requests = [GenerationRequest(messages(p), max_new_tokens=K) for p in order]
    outputs = generate(fp32.model, fp32.tokenizer, requests, batch_size=2, progress=False)
    for prompt, output in zip(order, outputs):
        assert output.prompt_tokens == count_prompt_tokens(fp32.tokenizer, messages(prompt))
        assert output.text == reference[prompt][0], prompt


def test_stop_strings_cut_the_text(fp32, reference):
    requests = [
        GenerationRequest(messages(PROMPTS[0]), stop=["."], max_new_tokens=K),
        GenerationRequest(messages(PROMPTS[0]), stop=["France", "."], max_new_tokens=K),
    ]
    dot, france = generate(fp32.model, fp32.tokenizer, requests, batch_size=2, progress=False)
    full = reference[PROMPTS[0]][0]
    assert "." in full  # the unstopped answer has a period
    assert dot.stopped_by == "stop"
    assert "." not in dot.text
    assert dot.text == full[: full.index(".")]
    assert france.stopped_by == "stop"
    assert france.text == full[: full.index("France")]  # the earliest stop string wins
    assert france.generated_tokens <= dot.generated_tokens


def test_max_new_tokens_respected_per_request(fp32, reference):
    budgets = [2, 5, 3]
    requests = [GenerationRequest(messages(PROMPTS[1]), max_new_tokens=k) for k in budgets]
    outputs = generate(fp32.model, fp32.tokenizer, requests, batch_size=3, progress=False)
    full = reference[PROMPTS[1]][0]
    for k, output in zip(budgets, outputs):
        assert output.generated_tokens <= k
        assert output.generated_tokens == k  # the poem runs past every budget here
        assert output.stopped_by == "length"
        assert full.startswith(output.text)


def test_attention_implementation_restored(fp32):
    before = fp32.model.config._attn_implementation
    generate(
        fp32.model,
        fp32.tokenizer,
        [GenerationRequest(messages("Hi"), max_new_tokens=1)],
        progress=False,
    )
    assert fp32.model.config._attn_implementation == before


def test_no_requests():
    assert generate(None, None, [], progress=False) == []


# Prompt lookup: greedy drafts copied from the context and checked in one pass change no token.


def plain_and_lookup(model, tokenizer, requests, batch_size):
    plain = generate(model, tokenizer, requests, batch_size=batch_size, progress=False, lookup=None)
    drafted = generate(
        model, tokenizer, requests, batch_size=batch_size, progress=False, lookup=LOOKUP
    )  # forced: the default ("auto") leaves fp32 on a CPU without lookup
    for a, b in zip(plain, drafted):
        assert (b.text, b.generated_tokens, b.stopped_by) == (
            a.text,
            a.generated_tokens,
            a.stopped_by,
        )
    return plain, drafted


@pytest.fixture(scope="module")
def niah_requests(fp32):
    """Multi-key and multi-value needles at 384-448 tokens: answers copy UUIDs and numbers."""
    from ctxlab.api import build_config
    from ctxlab.evaluation import budget, make_task

    requests = []
    for variant, length in [("niah_multikey_3", 384), ("niah_multivalue", 448)]:
        config = build_config(variants=variant, lengths=length, num_samples=2, progress=False)
        task = make_task(config)
        examples = task.generate(fp32.tokenizer, fp32.max_length)
        requests += task.requests(examples, budget(config, task))
    return requests


COPY = (
    "Copy this sentence exactly, word for word: the seventh lighthouse keeper of Port Ellery "
    "wrote every storm into a green ledger beside the lamp."
)


def test_lookup_is_token_identical_on_niah_rows_of_different_lengths(fp32, niah_requests):
    lengths = {
        len(
            encode_prompt(
                fp32.tokenizer, render_prompt(fp32.tokenizer, r.messages, r.assistant_prefix)
            )
        )
        for r in niah_requests
    }
    assert len(lengths) > 1  # one left-padded batch of rows of different lengths
    plain, drafted = plain_and_lookup(fp32.model, fp32.tokenizer, niah_requests, batch_size=4)
    assert all(p.decode_steps == p.generated_tokens - 1 for p in plain if p.stopped_by == "length")
    assert sum(d.decode_steps for d in drafted) < sum(p.decode_steps for p in plain)
    steps = {d.decode_steps for d in drafted}
    assert len(steps) > 1  # rows accepted different numbers of drafts


def test_lookup_accepts_drafts_on_a_copy(fp32):
    requests = [GenerationRequest(messages(COPY), max_new_tokens=24)]
    plain, drafted = plain_and_lookup(fp32.model, fp32.tokenizer, requests, batch_size=1)
    assert "lighthouse keeper" in plain[0].text
    assert drafted[0].decode_steps < plain[0].decode_steps / 2


def test_lookup_keeps_budgets_and_stop_strings(fp32):
    budgets = [1, 2, 3, 7, 13]
    requests = [GenerationRequest(messages(COPY), max_new_tokens=k) for k in budgets]
    requests += [
        GenerationRequest(messages(COPY), stop=["keeper"], max_new_tokens=24),
        GenerationRequest(messages(COPY), stop=["ledger", "storm"], max_new_tokens=24),
    ]
    plain, drafted = plain_and_lookup(fp32.model, fp32.tokenizer, requests, batch_size=7)
    for k, out in zip(budgets, drafted):
        assert out.generated_tokens == k and out.stopped_by == "length"
    assert [d.stopped_by for d in drafted[-2:]] == ["stop", "stop"]
    assert "keeper" not in drafted[-2].text and "storm" not in drafted[-1].text


def test_sampling_ignores_lookup(fp32):
    request = [GenerationRequest(messages(COPY), max_new_tokens=6)]
    sampling = Sampling(temperature=0.8, seed=3)
    runs = [
        generate(fp32.model, fp32.tokenizer, request, progress=False, sampling=sampling, lookup=lk)
        for lk in (None, PromptLookup())
    ]
    assert runs[0][0].text == runs[1][0].text
    assert runs[1][0].decode_steps == runs[1][0].generated_tokens - 1


def test_draft_index_proposes_what_followed_the_latest_match():
    index = DraftIndex([5, 1, 2, 3, 9, 1, 2, 3, 7, 8], PromptLookup(max_ngram=3, num_draft=4))
    index.extend([1, 2, 3])
    assert index.propose(4) == [7, 8, 1, 2]  # the later "1 2 3", not the first
    assert index.propose(1) == [7]
    index.extend([4])  # "3 4" and "4" never occurred before: no draft
    assert index.propose(4) == []
    assert DraftIndex([1, 2], PromptLookup()).propose(3) == []
    assert accepted([4, 5, 6], [4, 5, 9, 1]) == 2 and accepted([], [3]) == 0


def test_lookup_settings_are_checked():
    from ctxlab.config import EvalConfig
    from ctxlab.errors import CtxlabError

    with pytest.raises(CtxlabError, match="min_ngram <= max_ngram"):
        PromptLookup(max_ngram=2, min_ngram=3)
    assert EvalConfig(prompt_lookup=False).lookup() is None
    assert EvalConfig(lookup_draft=4).lookup() == PromptLookup(num_draft=4)
    with pytest.raises(ValueError, match="at most lookup_ngram"):
        EvalConfig(lookup_ngram=2, lookup_min_ngram=3)


def test_lookup_is_used_where_it_pays(tiny_model_dir):
    """On: bf16 on a CPU (1.03-1.08x measured); fp32 on a CPU decodes a token a pass (0.49x)."""
    import torch
    from transformers import AutoModelForCausalLM

    from ctxlab.config import EvalConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert EvalConfig().lookup(model) is None
    assert EvalConfig().lookup(model.to(torch.bfloat16)) == PromptLookup()
    assert EvalConfig(prompt_lookup=False).lookup(model) is None
