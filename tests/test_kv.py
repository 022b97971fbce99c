"""kv: the paper's key-value retrieval prompt, loader, generator and accuracy."""

import gzip
import json
from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.tasks.kv import kv_accuracy, render_prompt


@pytest.fixture(scope="session")
def kv_file(shared_data) -> Path:
    path = shared_data / "lost_in_the_middle/kv-retrieval-75_keys.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing (shared lost-in-the-middle data)")
    return path


def _task(**options):
    return make_task(build_config(task="kv", **options))


def test_prompts_are_the_papers():
    """The strings of the paper's tests/test_prompting.py."""
    data = [
        ("test key1", "test value1"),
        ("test key2", "test value2"),
        ("test key3", "test value3"),
    ]
    records = [
        '{"test key1": "test value1",',
        ' "test key2": "test value2",',
        ' "test key3": "test value3"}',
    ]
    head = "Extract the value corresponding to the specified key in the JSON object below."
    tail = ["", 'Key: "test key2"', "Corresponding value:"]
    assert render_prompt(data, "test key2") == "\n".join([head, "", "JSON data:", *records, *tail])
    assert render_prompt(data, "test key2", "kv_with_query_aware_contextualization") == "\n".join(
        [head, "", 'Key: "test key2"', "", "JSON data:", *records, *tail]
    )


def test_accuracy_is_case_insensitive_containment():
    assert kv_accuracy("The value is ABC-123.", "abc-123") == 100.0
    assert kv_accuracy("abc-12", "abc-123") == 0.0


def test_generator_places_the_key_where_asked():
    examples = _task(num_keys="8", gold_positions="0,3,7", num_samples=4, seed=5).generate()
    assert len(examples) == 12
    for e in examples:
        key = e.input.rsplit('Key: "', 1)[1].split('"')[0]
        lines = e.input.split("JSON data:\n", 1)[1].split("\n\nKey:")[0].split("\n")
        assert len(lines) == 8 == e.meta["num_keys"]
        assert lines[e.meta["gold_position"]].lstrip("{ ").startswith(f'"{key}": "{e.answers[0]}"')
        assert len({ln.split('"')[1] for ln in lines}) == 8  # distinct keys
    # only the queried pair moves between positions; a sample depends on (seed, i) alone
    same = [e for e in examples if e.id.endswith("00001")]
    pairs = [frozenset(ln.strip("{}, ") for ln in e.input.split("\n")[3:11]) for e in same]
    assert len(pairs) == 3 and len(set(pairs)) == 1
    again = _task(num_keys="8", gold_positions="0", num_samples=2, seed=5).generate()
    assert again[1].input == examples[3].input  # sample 1 at position 0
    assert _task(num_keys="8", gold_positions="0", seed=6).generate()[0].input != again[0].input


def test_bad_settings_fail_clearly(tmp_path):
    with pytest.raises(CtxlabError, match="does not fit in 8 keys"):
        _task(num_keys="8", gold_positions="8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"key": "k", "value": "v"}) + "\n", encoding="utf-8")
    with pytest.raises(CtxlabError, match="bad.jsonl:1 is not a kv record"):
        _task(source=str(bad), gold_positions="0").generate()


def test_loader_moves_the_gold_pair(kv_file):
    with gzip.open(kv_file, "rt", encoding="utf-8") as f:
        first = json.loads(next(f))
    examples = _task(source=str(kv_file), gold_positions="0,74", num_samples=1).generate()
    assert [e.meta["gold_position"] for e in examples] == [0, 74]
    pair = f'"{first["key"]}": "{first["value"]}"'
    for e in examples:
        lines = e.input.split("JSON data:\n", 1)[1].split("\n\nKey:")[0].split("\n")
        assert len(lines) == 75 and pair in lines[e.meta["gold_position"]]
        assert e.answers == [first["value"]]
        others = [p for p in first["ordered_kv_records"] if p[0] != first["key"]]
        rest = [ln for k, ln in enumerate(lines) if k != e.meta["gold_position"]]
        assert [ln.split('"')[1] for ln in rest] == [p[0] for p in others]  # order kept
