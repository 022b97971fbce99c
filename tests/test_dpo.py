"""OaK-DPO: seeded sampling, solver-scored preference pairs, one real DPO round on LoRA, the
report, and refusals of bad input."""

import copy
import json
import math
from functools import partial

import pytest
from safetensors.torch import load_file

from ctxlab.errors import CtxlabError
from ctxlab.generation import GenerationRequest, Sampling, generate, sample
from ctxlab.prompts import render_prompt
from ctxlab.tasks.base import get_task_class
from ctxlab.training.dpo import DPOSettings, completion_lm_head, dpo_train, pair_records
from ctxlab.training.pairs import Candidate, Pair, build_pairs, step_pairs, trace_score

PROMPTS = ["Name a color.", "Tell me one fact about cats."]


def requests(budget: int = 8) -> list[GenerationRequest]:
    return [
        GenerationRequest([{"role": "user", "content": p}], max_new_tokens=budget) for p in PROMPTS
    ]


def texts(groups) -> list[list[str]]:
    return [[g.text for g in group] for group in groups]


@pytest.mark.integration
def test_sampling_is_seeded_and_greedy_unchanged(builtin):
    model, tok = builtin.model, builtin.tokenizer
    hot = Sampling(temperature=1.0, top_p=0.95, seed=7, num_samples=2)
    first = texts(sample(model, tok, requests(), hot, batch_size=4, progress=False))
    again = texts(sample(model, tok, requests(), hot, batch_size=1, progress=False))
    assert first == again  # same seed: same samples, whatever the batching
    other = texts(sample(model, tok, requests(), Sampling(1.0, 0.95, 8, 2), 4, progress=False))
    assert other != first
    assert all(len(set(group)) == 2 for group in first)  # a request's samples differ
    fp32 = copy.deepcopy(model).float()  # bf16 logits tie exactly at times; fp32's do not
    plain = generate(fp32, tok, requests(), progress=False, lookup=None)  # one token a pass
    greedy = [g.text for g in plain]
    cold = sample(fp32, tok, requests(), Sampling(temperature=1e-4), 4, progress=False)
    assert [group[0].text for group in cold] == greedy  # near-zero temperature is greedy


def test_sampling_settings_are_checked():
    for bad in ({"temperature": 0}, {"top_p": 0}, {"top_p": 1.5}, {"num_samples": 0}):
        with pytest.raises(CtxlabError):
            Sampling(**bad)


@pytest.fixture(scope="module")
def prontoqa():
    task_class = get_task_class("prontoqa")
    task = task_class(task_class.config_class(hops=[3], num_samples=1, seed=5))
    return task, task.generate()[0]


def mutated(target: str) -> str:
    """The gold proof with its middle step deleted: right label, a skipped hop."""
    lines = target.splitlines()
    return "\n".join(lines[:1] + lines[2:])


def test_trace_scores_use_the_solver_or_only_the_label(prontoqa):
    task, example = prontoqa
    gold = task.score(example.target, example)
    skipped = task.score(mutated(example.target), example)
    assert gold == {"accuracy": 100.0, "step_validity": 100.0, "trace_validity": 100.0}
    assert skipped["accuracy"] == 100.0 and skipped["trace_validity"] == 0.0
    assert trace_score(gold, solver=True) == 1.0
    assert trace_score(skipped, solver=True) == pytest.approx(
        (skipped["step_validity"] + 100 + 0) / 300
    )
    assert trace_score(skipped, solver=False) == 1.0  # the label alone cannot tell them apart
    with pytest.raises(CtxlabError, match="step_validity"):
        trace_score({"accuracy": 100.0}, solver=True)


def test_pairs_need_a_meaningful_gap(prontoqa):
    task, example = prontoqa
    wrong_label = example.target.rsplit("\n", 1)[0] + "\nConclusion: UNKNOWN"

    def pairs_of(texts_, solver, improve=None):
        candidates = []
        for text in texts_:
            scores = task.score(text, example)
            candidates.append(Candidate(text, scores, trace_score(scores, solver)))
        return build_pairs(example.id, "PROMPT", candidates, 0.25, 3, improve)

    # Only the solver prefers the gold proof over one that skips a hop to the right label.
    (pair,) = pairs_of([mutated(example.target), example.target], solver=True)
    assert (pair.chosen, pair.rejected) == (example.target, mutated(example.target))
    assert pair.chosen_score - pair.rejected_score >= 0.25
    assert pairs_of([mutated(example.target), example.target], solver=False) == []
    # A wrong label is rejected either way; duplicates of a text count once.
    for solver in (True, False):
        (pair,) = pairs_of([example.target, wrong_label, example.target], solver)
        assert (pair.chosen, pair.rejected) == (example.target, wrong_label)
    # Requiring a step gain drops the label-only pair and keeps the one with more valid steps.
    texts = [example.target, wrong_label, mutated(example.target)]
    assert pairs_of(texts[:2], True, "step_validity") == []
    (pair,) = pairs_of(texts, True, "step_validity")
    assert (pair.chosen, pair.rejected) == (example.target, mutated(example.target))
    values = [Candidate(str(v), {}, v) for v in (1.0, 0.9, 0.3, 0.0)]
    assert [(p.chosen, p.rejected) for p in build_pairs("x", "P", values, 0.5, 5)] == [
        ("1.0", "0.0"),
        ("0.9", "0.3"),
    ]
    assert len(build_pairs("x", "P", values, 0.95, 5)) == 1
    with pytest.raises(CtxlabError, match="min_gap"):
        build_pairs("x", "P", values, 0.0)


def test_step_pairs_part_at_the_first_step_the_solver_tells_apart(prontoqa):
    task, example = prontoqa
    gold = example.target.splitlines()
    wrong_cite = gold[0].replace("[", "[9, ")  # three references, one to a missing premise
    late = "\n".join([gold[0], gold[1].replace("s1", "1"), *gold[2:]])  # step 2 cites a premise
    proofs = [(t, task.step_verdicts(t, example)) for t in (example.target, late)]
    proofs.append(("\n".join([wrong_cite, *gold[1:]]), task.step_verdicts(wrong_cite, example)))
    assert [v for _, v in proofs[1][1]][:2] == [True, False]
    pairs = step_pairs(example.id, "PROMPT", proofs, 5)
    assert [(p.chosen, p.rejected) for p in pairs] == [
        (f"{gold[0]}\n{gold[1]}", f"{gold[0]}\n{gold[1].replace('s1', '1')}"),
        (gold[0], wrong_cite),
    ]
    assert all(not p.complete and p.chosen_score == 1.0 for p in pairs)
    assert len(step_pairs(example.id, "PROMPT", proofs + proofs, 1)) == 1
    # A proof whose steps are not one per line is left out rather than cut mid-step.
    split = "\n".join([wrong_cite.replace(" Action", "\nAction"), *gold[1:]])
    assert (
        step_pairs(example.id, "P", [proofs[0], (split, task.step_verdicts(split, example))], 5)
        == []
    )


def tiny_pairs(tokenizer) -> list[Pair]:
    prompt = render_prompt(tokenizer, [{"role": "user", "content": "Is Rex a wumpus? Say."}])
    return [
        Pair("a", prompt, "Rex is a wumpus.\nConclusion: TRUE", "Conclusion: FALSE", 1.0, 0.0),
        Pair("b", prompt, "Every wumpus is red.\nConclusion: TRUE", "Red.", 0.8, 0.1),
    ]


def test_pair_records_match_the_sft_layout(tokenizer):
    tok, _ = tokenizer
    pair = tiny_pairs(tok)[0]
    (record,) = pair_records(tok, [pair], 256)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    assert record["chosen_ids"][-1] == eot and record["rejected_ids"][-1] == eot
    assert tok.decode(record["prompt_ids"]) == pair.prompt
    assert tok.decode(record["chosen_ids"][:-1]) == pair.chosen
    step = Pair("s", pair.prompt, "Rex is", "Rex was", 1.0, 0.0, complete=False)
    (record,) = pair_records(tok, [step], 256)
    assert tok.decode(record["chosen_ids"]) == "Rex is"  # mid-proof: no end-of-turn token
    with pytest.raises(CtxlabError, match="max_length"):
        pair_records(tok, [pair], 8)


def test_completion_head_equals_trls_fused_head(tiny_model_dir):
    """The CPU head projects only completion positions; every per-token field DPOTrainer reads,
    and the gradient, match TRL's fused head (which projects all positions) on a tiny Llama."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (4, 12))
    labels = ids.clone()
    labels[:, :7] = -100  # the prompt
    labels[1, 10:] = -100  # a shorter completion (padding)
    fields = ("entropy", "mean_logits", "log_sum_sq_probs")
    outputs, grads = [], []
    trl_head = partial(add_fused_lm_head, outputs=("log_probs", "is_top1", *fields))
    for patch in (trl_head, partial(completion_lm_head, weighting=True)):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        patch(model)
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        outputs.append(out)
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad)
    trl, ours = outputs
    assert ours.log_probs.shape == trl.log_probs.shape == (4, 11)
    assert torch.equal(ours.label_mask, trl.label_mask)
    assert (ours.log_probs[~ours.label_mask] == 0).all()
    torch.testing.assert_close(ours.log_probs, trl.log_probs, atol=1e-5, rtol=1e-5)
    for name in fields:
        mask = ours.label_mask
        torch.testing.assert_close(getattr(ours, name)[mask], getattr(trl, name)[mask])
    assert torch.equal(ours.is_top1, trl.is_top1)
    torch.testing.assert_close(ours.loss, trl.loss)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-6, rtol=1e-4)
    model.train()
    with torch.no_grad():  # a training step's reference pass: log-probs only
        reference = model(input_ids=ids, labels=labels, fused_lm_head=True)
    torch.testing.assert_close(reference.log_probs, ours.log_probs.detach())
    assert reference.entropy is None and reference.is_top1 is None
    plain = model(input_ids=ids)  # without fused_lm_head: the model's own forward
    assert plain.logits.shape == (4, 12, model.config.vocab_size)


@pytest.mark.integration
def test_dpo_round_moves_the_adapter_and_lowers_the_loss(tokenizer, tmp_path):
    tok, _ = tokenizer
    pairs = tiny_pairs(tok)
    settings = DPOSettings(learning_rate=1e-3, max_steps=3, batch_size=2)
    first = dpo_train(settings, "smollm2-135m", pairs, tmp_path / "r1", peft="lora_r8_a16_qv")
    s = first.summary
    assert s["steps"] == 3 and s["pairs"] == 2
    assert s["first_loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference
    assert s["final_pair_loss"] < math.log(2) - 0.05
    weights = load_file(first.final_dir / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and all(".ref." not in name for name in weights)  # TRL's ref copy not saved
    assert max(w.abs().max().item() for w in lora_b) > 0  # LoRA B starts at zero
    info = json.loads((tmp_path / "r1" / "ctxlab_train.json").read_text())
    assert info["base_model"] == "smollm2-135m" and info["method"] == "dpo"
    # The next round's reference is this round's policy: its first loss is ln 2 again.
    one_step = settings.model_copy(update={"max_steps": 1, "measure_pair_loss": False})
    second = dpo_train(one_step, "smollm2-135m", pairs, tmp_path / "r2", init_from=first.final_dir)
    assert second.summary["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert (tmp_path / "r2" / second.summary["init_from"]).resolve() == first.final_dir.resolve()


@pytest.mark.integration
def test_dpo_with_the_chosen_nll_term(tokenizer, tmp_path):
    """["sigmoid", "sft"] (RPO): the loss starts above DPO's ln 2 by the chosen proofs' NLL."""
    tok, _ = tokenizer
    assert DPOSettings(loss_type="ipo").loss_type == ["ipo"]
    with pytest.raises(ValueError, match="one weight per type"):
        DPOSettings(loss_type=["sigmoid", "sft"], loss_weights=[1.0])
    settings = DPOSettings(
        learning_rate=1e-3, max_steps=2, batch_size=2, loss_type=["sigmoid", "sft"]
    )
    s = dpo_train(settings, "smollm2-135m", tiny_pairs(tok), tmp_path / "r", peft="lora_r8_a16_qv")
    s = s.summary
    assert s["first_loss"] > math.log(2) + 0.5  # ln 2 + the NLL of the chosen completions
    assert s["initial_pair_loss"] is None and s["final_pair_loss"] < s["first_loss"]
    assert s["final_pair_reward_accuracy"] is not None


def test_dpo_refuses_bad_input(tmp_path):
    with pytest.raises(CtxlabError, match="no preference pairs"):
        dpo_train(DPOSettings(), "smollm2-135m", [], tmp_path / "x")
    pair = Pair("a", "p", "c", "r", 1, 0)
    with pytest.raises(CtxlabError, match="LoRA"):
        dpo_train(DPOSettings(), "smollm2-135m", [pair], tmp_path / "x", peft="full")
    with pytest.raises(CtxlabError, match="adapter"):
        dpo_train(DPOSettings(), "smollm2-135m", [pair], tmp_path / "x", init_from=tmp_path)
    assert not (tmp_path / "x").exists()


def test_oak_preset_refuses_a_task_without_a_solver(tmp_path):
    from ctxlab.recipes import preset_config, run_config

    runs = tmp_path / "runs"
    config = preset_config("logic-oak", ["task={name: niah}", f"run.runs_dir={runs}"])
    with pytest.raises(CtxlabError, match="prontoqa"):
        run_config(config)
    assert not runs.exists()
    with pytest.raises(CtxlabError, match="oak.min_gapp"):
        preset_config("logic-oak", ["oak.min_gapp=0.3"])
    with pytest.raises(CtxlabError, match="iterations"):
        preset_config("logic-oak", ["oak.iterations=-1"])
    for sets, match in (
        ([f"oak.sft_from={tmp_path}", "oak.sft=false"], "--no-sft"),
        ([f"oak.sft_from={tmp_path}"], "no adapter or model found"),
    ):
        with pytest.raises(CtxlabError, match=match):
            run_config(preset_config("logic-oak", [*sets, f"run.runs_dir={runs}"]))
    assert not runs.exists()


def test_report_from_run_files(tmp_path):
    from ctxlab.reporting.oak_report import build_oak_report

    def row(i, stage, acc, step, trace, pairs=None):
        r = {
            "iteration": i,
            "stage": stage,
            "test": {"accuracy": acc, "step_validity": step, "trace_validity": trace},
            "test_breakdown": [
                {"hops": 3, "n": 4, "accuracy": acc, "step_validity": step, "trace_validity": trace}
            ],
            "seconds": 1.0,
        }
        if pairs is not None:
            r.update(pairs=pairs, mean_trace_score=0.5, dpo={"final_pair_loss": 0.61})
        return r

    rows = [row(0, "sft", 50.0, 40.0, 25.0), row(1, "dpo 1", 50.0, 55.0, 25.0, pairs=6)]
    rows[-1]["rejected"] = [
        {"id": "p1", "query": "Max is red.", "prediction": "Thought: x", "errors": ["s1: bad"]}
    ]
    summary = {
        "task": "prontoqa",
        "model": "m",
        "oak": {
            "iterations": 1,
            "sft": True,
            "solver": True,
            "test_task": {"hops": [3]},
            "dpo": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5]},
        },
        "num_train": 8,
        "num_test": 4,
        "iterations": rows,
    }
    (tmp_path / "oak.json").write_text(json.dumps(summary))
    (tmp_path / "iter_1").mkdir()
    sample_rec = {"scores": {"accuracy": 100.0, "step_validity": 50.0, "trace_validity": 0.0}}
    (tmp_path / "iter_1" / "samples.jsonl").write_text(
        json.dumps({**sample_rec, "meta": {"hops": 2}}) + "\n"
    )
    text = build_oak_report(tmp_path).read_text()
    assert "| 1 | dpo 1 | 6 | 0.500 | 50.0 | 55.0 | 25.0 | 0.610 | 1.0 |" in text
    assert "| 1 | 2 | 1 | 100.0 | 50.0 | 0.0 |" in text  # sampled proofs by hops
    assert "DPO loss 1 sigmoid + 0.5 sft." in text
    assert "s1: bad" in text and (tmp_path / "oak_curves.png").stat().st_size > 1000
    with pytest.raises(CtxlabError, match="oak.json"):
        build_oak_report(tmp_path / "iter_1")


@pytest.mark.integration
def test_logic_oak_loop_end_to_end(tmp_path, folio_dir):
    """The whole OaK loop at toy size: SFT, one sampled-verified-paired DPO round, held-out and
    FOLIO transfer evaluation each round, oak.json and the report."""
    from ctxlab.recipes import preset_config, run_config

    sets = [
        f"run.runs_dir={tmp_path}",
        "task.hops=[1]",
        "task.distractors=1",
        "splits={train: 4, val: 1, test: 2}",
        "training.max_steps=10",
        "training.batch_size=2",
        "training.learning_rate=0.003",
        "eval.max_new_tokens=48",
        "oak.iterations=1",
        "oak.samples_per_problem=4",
        "oak.problems_per_iteration=null",
        "oak.min_gap=0.05",
        "oak.step_pairs_per_problem=2",
        "oak.test_task={hops: [1]}",
        "oak.eval_task=folio",
        f"oak.transfer.data={folio_dir / 'folio-validation.jsonl'}",
        "oak.transfer.num_samples=2",
        "oak.dpo.max_steps=1",
        "oak.dpo.measure_pair_loss=false",
    ]
    done = run_config(preset_config("logic-oak", sets))
    run, rows = done.run_dir, done.artifact["iterations"]
    assert [r["stage"] for r in rows] == ["sft", "dpo 1"]
    assert rows[1]["samples"] == 4 * 4 and all(r["transfer"]["task"] == "folio" for r in rows)
    samples = [json.loads(x) for x in (run / "iter_1" / "samples.jsonl").read_text().splitlines()]
    scores = {(s["id"], s["prediction"]): s for s in samples}
    pairs = [json.loads(x) for x in (run / "iter_1" / "pairs.jsonl").read_text().splitlines()]
    assert rows[1]["pairs"] == len(pairs)
    for p in pairs:  # every pair: a real gap and more valid steps on the chosen side
        if not p["complete"]:  # a step pair: each side is the start of one of the samples
            mine = [s["prediction"] for s in samples if s["id"] == p["id"]]
            assert all(any(t.startswith(p[side]) for t in mine) for side in ("chosen", "rejected"))
            continue
        chosen, rejected = scores[(p["id"], p["chosen"])], scores[(p["id"], p["rejected"])]
        assert chosen["value"] - rejected["value"] >= 0.05
        assert chosen["scores"]["step_validity"] > rejected["scores"]["step_validity"]
    assert pairs and rows[1]["dpo"]["steps"] == 1
    for split in ("eval", "transfer"):
        assert (run / "iter_1" / split / "results.json").is_file()
    assert "| 1 | dpo 1 |" in (run / "report.md").read_text()
    # A second run starting from this run's SFT adapter scores the same SFT model.
    again = [*sets, f"oak.sft_from={run / 'sft'}", "oak.iterations=0", "oak.eval_task=null"]
    reused = run_config(preset_config("logic-oak", again))
    assert reused.artifact["iterations"][0]["test"] == rows[0]["test"]
    assert not (reused.run_dir / "sft").exists()
