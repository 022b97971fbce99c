"""The generation engine against `model.generate`: same greedy tokens, stop strings, budgets and
input order."""

import pytest
import torch

from ctxlab.generation import GenerationRequest, _eos_ids, generate
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
