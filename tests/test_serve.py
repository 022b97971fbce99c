"""`ctxlab serve` and the openai backend against it: a real server on the loopback address, the
official client, the same predictions as the in-process engine; the vllm backend's guard and its
request mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import free_port, niah_file, run_cli, serving

from ctxlab.backends.openai import OpenAIBackend, request_body
from ctxlab.backends.vllm import prompts_and_settings, sampling_settings
from ctxlab.generation import Sampling
from ctxlab.prompts import GenerationRequest, render_prompt


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    from ctxlab.models import load_model

    with serving(load_model(str(tiny_model_dir), "float32"), "tiny") as found:
        yield found


@pytest.fixture(scope="module")
def niah_data(tmp_path_factory) -> Path:
    return niah_file(tmp_path_factory.mktemp("serve") / "niah.jsonl", 16)


def predictions(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    return {r["id"]: r["raw_prediction"] for r in map(json.loads, lines)}


def test_openai_backend_against_serve_matches_the_in_process_eval(
    server, niah_data, tiny_model_dir, tmp_path
):
    url, app = server
    common = [
        "eval",
        "--task",
        "niah",
        "--data",
        str(niah_data),
        "--max-new-tokens",
        "12",
        "--runs-dir",
        str(tmp_path),
    ]
    code, _, err = run_cli(
        [*common, "--model", str(tiny_model_dir), "--dtype", "float32", "--name", "local"]
    )
    assert code == 0, err
    code, _, err = run_cli(
        [
            *common,
            "--model",
            "openai:tiny",
            "--base-url",
            url,
            "--tokenizer",
            str(tiny_model_dir),
            "--concurrency",
            "6",
            "--name",
            "remote",
        ]
    )
    assert code == 0, err
    local, remote = predictions(tmp_path / "local/latest"), predictions(tmp_path / "remote/latest")
    assert len(local) == 16 and remote == local
    summary = json.loads((tmp_path / "remote/latest/summary.json").read_text())
    assert summary["model"]["device"] == f"openai {url}"
    assert max(app.state.batcher.batches) > 1  # concurrent requests were decoded together


@pytest.mark.integration
def test_serve_of_the_builtin_model_gives_the_in_process_predictions(builtin, niah_data, tmp_path):
    """The acceptance check: 16 NIAH examples, the built-in model in its default dtype."""
    with serving(builtin, "smollm2-135m") as (url, _):
        common = ["eval", "--data", str(niah_data), "--runs-dir", str(tmp_path)]
        assert run_cli([*common, "--name", "local"])[0] == 0
        argv = [
            *common,
            "--model",
            "openai:smollm2-135m",
            "--base-url",
            url,
            "--tokenizer",
            "smollm2-135m",
            "--name",
            "remote",
        ]
        assert run_cli(argv)[0] == 0
    local, remote = predictions(tmp_path / "local/latest"), predictions(tmp_path / "remote/latest")
    assert len(local) == 16 and remote == local
    assert len(set(local.values())) > 8  # real answers, not one degenerate string
    scores = [
        json.loads((tmp_path / f"{side}/latest/results.json").read_text())["metrics"]
        for side in ("local", "remote")
    ]
    assert scores[0] == scores[1]


def test_the_official_client_talks_to_serve(server):
    from openai import NotFoundError, OpenAI

    url, _ = server
    client = OpenAI(base_url=url, api_key="x")
    assert [m.id for m in client.models.list()] == ["tiny"]
    reply = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=5,
        temperature=0,
    )
    assert reply.usage.completion_tokens <= 5 and reply.choices[0].finish_reason in {
        "stop",
        "length",
    }
    with pytest.raises(NotFoundError, match="not served here"):
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "x"}])
    sampled = [
        client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "Go."}],
            max_tokens=6,
            temperature=1.0,
            seed=7,
        )
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1]  # a seeded sample is reproducible


def test_a_too_long_prompt_is_one_examples_error_not_the_runs(server, tiny_model_dir):
    url, _ = server
    backend = OpenAIBackend("tiny", url)
    long = GenerationRequest([{"role": "user", "content": "word " * 5000}], "", (), 8)
    short = GenerationRequest([{"role": "user", "content": "hi"}], "", (), 4)
    first, second = backend.generate([long, short], progress=False)
    assert first.text == "" and first.stopped_by.startswith("error: ")
    assert "maximum context length" in first.stopped_by
    assert second.generated_tokens > 0


def test_no_server_or_no_tokenizer_is_one_line(tmp_path, niah_data, server):
    url, _ = server
    dead = f"http://127.0.0.1:{free_port()}/v1"
    code, _, err = run_cli(
        [
            "eval",
            "--model",
            "openai:tiny",
            "--base-url",
            dead,
            "--data",
            str(niah_data),
            "--runs-dir",
            str(tmp_path),
        ]
    )
    assert code == 2 and "no OpenAI-compatible server answers at" in err
    code, _, err = run_cli(
        ["eval", "--model", "openai:tiny", "--base-url", url, "--runs-dir", str(tmp_path)]
    )
    assert code == 2 and "comes without a tokenizer: pass --tokenizer" in err
    code, _, err = run_cli(["eval", "--model", "openai:tiny", "--data", str(niah_data)])
    assert code == 2 and "needs the server's address: pass --base-url" in err
    code, _, err = run_cli(
        [
            "eval",
            "--model",
            "openai:big",
            "--base-url",
            url,
            "--data",
            str(niah_data),
            "--runs-dir",
            str(tmp_path),
        ]
    )
    assert code == 2 and "serves tiny, not 'big'" in err
    assert not any(tmp_path.rglob("config.yaml"))


def test_vllm_on_a_machine_without_cuda_is_one_line(tmp_path, niah_data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the guard does not apply")
    code, _, err = run_cli(
        ["eval", "--backend", "vllm", "--data", str(niah_data), "--runs-dir", str(tmp_path)]
    )
    assert code == 2 and "--backend vllm needs a CUDA GPU" in err
    assert len(err.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


def test_request_mapping_of_both_backends(tokenizer):
    tok, _ = tokenizer
    request = GenerationRequest(
        [{"role": "user", "content": "Q?"}], "The answer is", ("\n\n", "Q:"), 16
    )
    greedy = sampling_settings(request, None, None)
    assert greedy == {"max_tokens": 16, "stop": ["\n\n", "Q:"], "temperature": 0.0}
    sampling = Sampling(temperature=0.7, top_p=0.9, seed=3, num_samples=2)
    planned = prompts_and_settings(tok, [request, request], sampling)
    assert len(planned) == 4
    assert planned[0][0] == render_prompt(tok, request.messages, "The answer is")
    assert [s["seed"] for _, s in planned] == [
        sampling.row_seed(i, j) for i in (0, 1) for j in (0, 1)
    ]
    body = request_body("m", request, None, None)
    assert body["messages"][-1] == {"role": "assistant", "content": "The answer is"}
    assert body["extra_body"] == {"continue_final_message": True, "add_generation_prompt": False}
    assert body["temperature"] == 0.0 and body["stop"] == ["\n\n", "Q:"]
    many = GenerationRequest([{"role": "user", "content": "x"}], "", tuple("abcdef"), 4)
    assert request_body("m", many, sampling, 5)["stop"] == list("abcd")  # the API's limit
