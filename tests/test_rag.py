"""ctxlab.rag: splitters on edge cases, the index on disk and its embedding cache, the CLI's
bad-input handling, and `rag eval`/`rag ask` end to end on a few real questions."""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.rag.embedder import Embedder, default_model_dir
from ctxlab.rag.index import Chunk, RagIndex, build_index
from ctxlab.rag.pipeline import answer
from ctxlab.rag.records import load_qa_records, question_pool
from ctxlab.rag.splitters import METHODS, SplitterConfig, split_text, windows
from ctxlab.recipes.rag_eval import RagEvalConfig, rag_eval

# Short passages of distinct topics, made up here: enough to make retrieval non-trivial.
TOPICS = [
    (
        "Harbor of Velmora",
        "Velmora's harbor freezes every winter, so its fishing fleet moves south.",
    ),
    ("Quill beetle", "The quill beetle eats only the bark of young birch trees."),
    ("Ostrava tram", "The first electric tram in Ostrava ran in 1901 along the river."),
    ("Saffron farming", "Saffron is picked by hand from crocus flowers in autumn."),
    (
        "Glass harmonica",
        "A glass harmonica makes music from spinning glass bowls touched by wet fingers.",
    ),
    ("Lake Tumen", "Lake Tumen is fed by three glaciers and drains into the Kora river."),
    (
        "Copper roofs",
        "Copper roofs turn green because the metal slowly forms a patina of carbonates.",
    ),
    ("Chess clocks", "A chess clock has two faces so that only one player's time runs at once."),
    ("Bread starter", "A sourdough starter is a culture of wild yeast and lactic acid bacteria."),
    ("Tidal mills", "Tidal mills store sea water at high tide and grind grain as it flows out."),
    ("Moss walls", "Moss walls cool buildings by holding water that evaporates in summer heat."),
    ("Paper cranes", "Folding a paper crane takes about twenty folds from a square sheet."),
]


def _passages() -> list[Chunk]:
    return [Chunk(text, title, "topics") for title, text in TOPICS]


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


# --- splitters --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_empty_text_gives_no_chunks(method):
    config = SplitterConfig(method, pattern=r"\n" if method == "regex" else None)
    assert split_text("", config) == []
    assert split_text("  \n\n \t ", config) == []


@pytest.mark.parametrize("method", ["sentence", "paragraph", "semantic"])
def test_one_huge_sentence_is_cut_by_max_length(method, embedder):
    words = [f"w{i}" for i in range(900)]
    text = " ".join(words)  # ~4.5K characters, no sentence end
    chunks = split_text(text, SplitterConfig(method, max_length=300), embedder.encode)
    assert len(chunks) >= len(text) // 300
    assert all(len(c) <= 300 for c in chunks)
    assert " ".join(chunks).split() == words  # cut at word boundaries, nothing lost


def test_a_word_longer_than_max_length_is_cut_hard():
    assert split_text("x" * 650, SplitterConfig("sentence", max_length=300)) == [
        "x" * 300,
        "x" * 300,
        "x" * 50,
    ]


@pytest.mark.parametrize("overlap", [100, 150])
def test_overlap_not_below_size_is_refused(overlap):
    with pytest.raises(CtxlabError, match="--overlap"):
        split_text("some text", SplitterConfig("chunk", chunk_size=100, overlap=overlap))


def test_chunk_windows_overlap_and_cover_the_text():
    words = [f"word{i:03d}" for i in range(200)]
    chunks = windows(" ".join(words), 60, 20)
    assert all(len(c) <= 60 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        shared = set(a.split()) & set(b.split())
        assert shared and len(" ".join(sorted(shared))) <= 20  # overlap present and bounded
    seen = [w for c in chunks for w in c.split()]
    assert list(dict.fromkeys(seen)) == words


def test_min_length_merges_short_pieces_within_max_length():
    long = ("A longer paragraph that stands alone. " * 3).strip()  # 113 characters
    text = f"Tiny.\n\nAlso tiny.\n\n{long}\n\nEnd."
    merged = split_text(text, SplitterConfig("paragraph", min_length=20, max_length=200))
    assert merged == [text]
    bounded = split_text(text, SplitterConfig("paragraph", min_length=20, max_length=130))
    assert bounded == ["Tiny.\n\nAlso tiny.", f"{long}\n\nEnd."]


def test_regex_splitter_and_bad_pattern():
    text = "# One\nfirst part\n# Two\nsecond part"
    config = SplitterConfig("regex", pattern=r"(?m)^(?=# )")
    assert split_text(text, config) == ["# One\nfirst part", "# Two\nsecond part"]
    with pytest.raises(CtxlabError, match="not a valid regex"):
        split_text(text, SplitterConfig("regex", pattern="(unclosed"))


def test_semantic_splitter_breaks_at_the_topic_change(embedder):
    cats = [
        "Cats are small furry pets.",
        "A cat purrs when it is content.",
        "Kittens drink milk from their mother.",
    ]
    volcanoes = [
        "Volcanoes erupt molten lava.",
        "Magma rises through cracks in the crust of the earth.",
        "Ash from an eruption can cover whole towns.",
    ]
    config = SplitterConfig("semantic", percentile=75, max_length=500)
    chunks = split_text(" ".join(cats + volcanoes), config, embedder.encode)
    assert chunks == [" ".join(cats), " ".join(volcanoes)]


# --- index and cache --------------------------------------------------------------------------


def test_index_saved_and_reloaded_returns_identical_neighbours(tmp_path, embedder):
    index, stats = build_index(_passages(), embedder, tmp_path / "idx", progress=False)
    assert stats.encoded == len(TOPICS)
    queries = embedder.encode(["which beetle eats birch bark", "why does copper go green", "tram"])
    scores, ids = index.search(queries, 5)
    assert ids[0][0] == 1 and ids[1][0] == 6
    loaded = RagIndex.load(tmp_path / "idx", embedder)
    scores2, ids2 = loaded.search(queries, 5)
    assert np.array_equal(ids, ids2) and np.array_equal(scores, scores2)
    assert [c.text for c in loaded.chunks] == [t for _, t in TOPICS]
    assert sorted(p.name for p in (tmp_path).iterdir()) == ["idx"]  # no temporary left over


def test_embedding_cache_is_reused(tmp_path, embedder):
    build_index(_passages()[:10], embedder, tmp_path / "idx", progress=False)
    fresh = Embedder()
    _, stats = build_index(_passages()[:10], fresh, tmp_path / "idx", progress=False)
    assert (stats.encoded, stats.cached) == (0, 10)
    assert "model" not in fresh.__dict__  # all cached: the model was never even loaded
    _, stats = build_index(_passages(), embedder, tmp_path / "idx", progress=False)
    assert (stats.encoded, stats.cached) == (2, 10)
    assert len(RagIndex.load(tmp_path / "idx")) == len(TOPICS)


def test_loading_with_another_embedder_is_refused(tmp_path, embedder):
    build_index(_passages()[:3], embedder, tmp_path / "idx", progress=False)
    other = Embedder(str(default_model_dir()))  # same weights, but named by path
    with pytest.raises(CtxlabError, match="built with embedder 'all-MiniLM-L6-v2'"):
        RagIndex.load(tmp_path / "idx", other)


# --- CLI: bad input ---------------------------------------------------------------------------


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ctxlab: error: ")
    return err[0]


def test_empty_document_set_is_refused(tmp_path, capsys):
    (tmp_path / "empty.md").write_text("\n\n  \n", encoding="utf-8")
    out = tmp_path / "idx"
    assert main(["rag", "index", str(tmp_path / "empty.md"), "-o", str(out)]) == 2
    assert "no text to index" in _one_error_line(capsys)
    assert main(["rag", "index", "-o", str(out)]) == 2
    assert "no documents given" in _one_error_line(capsys)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty.md"]


def test_chunk_overlap_refused_on_the_command_line(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("Some text.", encoding="utf-8")
    argv = ["rag", "index", str(tmp_path / "a.txt"), "-o", str(tmp_path / "idx")]
    assert main(argv + ["--splitter", "chunk", "--chunk-size", "50", "--overlap", "50"]) == 2
    assert "--overlap 50" in _one_error_line(capsys)
    assert not (tmp_path / "idx").exists()


def _write_records(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _topic_records() -> list[dict]:
    return [
        {"question": f"What about {title}?", "answers": [text.split()[1]], "title": title}
        | {"text": text}
        for title, text in TOPICS
    ]


def test_top_k_larger_than_the_pool_is_refused(tmp_path, capsys):
    data = _write_records(tmp_path / "qa.jsonl", _topic_records())
    runs = tmp_path / "runs"
    argv = ["rag", "eval", "--data", str(data), "--top-k", "1,13", "--runs-dir", str(runs)]
    assert main(argv) == 2
    assert "--top-k 13 is larger than the pool of 12 passages" in _one_error_line(capsys)
    assert not runs.exists()


def test_records_without_answers_are_refused(tmp_path, capsys):
    records = _topic_records()
    del records[3]["answers"]
    data = _write_records(tmp_path / "qa.jsonl", records)
    runs = tmp_path / "runs"
    assert main(["rag", "eval", "--data", str(data), "--runs-dir", str(runs)]) == 2
    assert f"{data}:4 is not a QA record (missing or bad 'answers')" in _one_error_line(capsys)
    assert not runs.exists()


# --- end to end -------------------------------------------------------------------------------


def test_rag_eval_recall_and_answer_curve(tmp_path, embedder, builtin, capsys, oracle):
    with gzip.open(oracle, "rt", encoding="utf-8") as f:
        lines = list(islice(f, 40))
    data = tmp_path / "nq40.jsonl"
    data.write_text("".join(lines), encoding="utf-8")
    runs = tmp_path / "runs"
    settings = RagEvalConfig(
        data=str(data),
        top_k=[1, 3],
        num_questions=30,
        models=["zero-shot=smollm2-135m"],
        answer_questions=2,
        max_new_tokens=10,
        run={"runs_dir": str(runs)},
        progress=False,
    )
    run, results = rag_eval(settings, {"zero-shot": builtin}, embedder)
    records = [json.loads(line) for line in lines]
    pool = list(dict.fromkeys(f"{r['ctxs'][0]['title']}\n{r['ctxs'][0]['text']}" for r in records))
    assert results["pool_size"] == len(pool) and results["num_questions"] == 30

    # recall@k recomputed independently: brute-force cosine over the same pool
    sims = embedder.encode([r["question"] for r in records[:30]]) @ embedder.encode(pool).T
    gold = [pool.index(f"{r['ctxs'][0]['title']}\n{r['ctxs'][0]['text']}") for r in records[:30]]
    ranks = [int((row > row[g]).sum()) for g, row in zip(gold, sims)]
    for k in (1, 3):
        assert results["metrics"][f"recall@{k}"] == pytest.approx(
            sum(r < k for r in ranks) / 30, abs=1 / 30
        )
    assert results["metrics"]["recall@3"] >= results["metrics"]["recall@1"] >= 0.7

    rows = results["answer_accuracy"]
    assert [(r["model"], r["k"], r["n"]) for r in rows] == [
        ("zero-shot", 1, 2),
        ("zero-shot", 3, 2),
    ]
    predictions = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 4
    for row in rows:
        mine = [p for p in predictions if p["k"] == row["k"]]
        assert row["best_subspan_em"] == pytest.approx(sum(p["best_subspan_em"] for p in mine) / 2)
        assert results["metrics"][f"zero-shot/best_subspan_em@{row['k']}"] == row["best_subspan_em"]
    assert {"report.md", "recall.png", "accuracy.png"} <= {p.name for p in run.iterdir()}

    # the command line reuses the cached index: nothing encoded, nothing rebuilt
    argv = ["rag", "eval", "--data", str(data), "--top-k", "1,3", "--runs-dir", str(runs)]
    assert main(argv + ["--num-questions", "30", "--no-progress"]) == 0
    assert "recall@1 " in capsys.readouterr().out
    again = runs / "rag-eval" / "latest"
    summary = json.loads((again / "summary.json").read_text())
    assert summary["timing"]["index"]["reused_index"] is True
    metrics_again = json.loads((again / "results.json").read_text())["metrics"]
    assert metrics_again["recall@3"] == results["metrics"]["recall@3"]

    # curves of several runs: only runs with answers, on the same questions
    assert main(["rag", "curves", str(run), "-o", str(tmp_path / "curves")]) == 0
    table = (tmp_path / "curves" / "curves.md").read_text()
    assert "| zero-shot |" in table and (tmp_path / "curves" / "accuracy.png").is_file()
    assert main(["rag", "curves", str(run), str(again), "-o", str(tmp_path / "c2")]) == 2
    assert "not a rag eval run with answers" in _one_error_line(capsys)


def test_ask_retrieves_answers_and_cites_sources(tmp_path, embedder, builtin, capsys):
    docs = tmp_path / "docs.jsonl"
    _write_records(docs, [{"title": t, "text": x} for t, x in TOPICS])
    assert main(["rag", "index", str(docs), "-o", str(tmp_path / "idx"), "--no-progress"]) == 0
    capsys.readouterr()
    question = "What does the quill beetle eat?"
    argv = ["rag", "ask", str(tmp_path / "idx"), question, "--top-k", "2", "--retrieve-only"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[1] Quill beetle (score") and out[1].strip() == TOPICS[1][1]
    assert main(argv[:-3] + ["--top-k", "13"]) == 2
    assert "--top-k 13 is larger than the index's 12 chunks" in _one_error_line(capsys)

    index = RagIndex.load(tmp_path / "idx")
    hits = index.retrieve(embedder, [question], 2)
    result = answer(builtin, [question], hits, max_new_tokens=16, progress=False)[0]
    assert "bark" in result.text.lower()
    sources = result.sources()
    assert len(sources) == 2 and sources[0].startswith(f"[1] Quill beetle — {docs}")


def test_question_pools_follow_the_multidoc_partition(tmp_path):
    records = [
        {"question": f"Question number {i}?", "answers": [f"a{i}"], "title": f"t{i}"}
        | {"text": f"Passage {i} says a{i}."}
        for i in range(40)
    ]
    data = _write_records(tmp_path / "qa.jsonl", records)
    loaded, pool = load_qa_records(data)
    assert len(pool) == 40 and loaded[7].gold == [("t7", "Passage 7 says a7.")]
    test = {r.question for r in question_pool(loaded, "test", 0)}
    train = {r.question for r in question_pool(loaded, "train", 0)}
    assert len(test) == 12 and not test & train  # 30% test, disjoint from training questions
    assert len(question_pool(loaded, "all", 0)) == 40
    with pytest.raises(CtxlabError, match="unknown --pool"):
        question_pool(loaded, "dev", 0)


def test_index_types_from_faiss_factory_strings(tmp_path, embedder, capsys):
    """Approximate indexes: IVF probing every list is exact; HNSW finds the true neighbours of
    points of the set; a string FAISS does not know, or more lists than vectors, is refused."""
    import numpy as np

    from ctxlab.rag.index import make_faiss_index, set_search_parameters

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2000, 64)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:50] + 0.01 * rng.standard_normal((50, 64)).astype("float32")
    exact = make_faiss_index(vectors, "Flat", 1000).search(queries, 5)[1]
    ivf = make_faiss_index(vectors, "IVF16,Flat", 1000)
    set_search_parameters(ivf, nprobe=16, ef_search=None)
    assert (ivf.search(queries, 5)[1] == exact).all()
    hnsw = make_faiss_index(vectors, "HNSW16", 1000)
    set_search_parameters(hnsw, nprobe=None, ef_search=64)
    assert (hnsw.search(queries, 1)[1][:, 0] == exact[:, 0]).mean() >= 0.95
    for bad, why in (("Bogus12", "not a FAISS index factory string"), ("IVF4096,Flat", "lists")):
        with pytest.raises(CtxlabError, match=why):
            make_faiss_index(vectors, bad, 1000)

    docs = tmp_path / "docs.jsonl"
    _write_records(docs, [{"title": t, "text": x} for t, x in TOPICS])
    argv = ["rag", "index", str(docs), "-o", str(tmp_path / "idx"), "--no-progress"]
    assert main([*argv, "--index-type", "IVF64,Flat"]) == 2
    assert "64 lists for 12 vectors" in _one_error_line(capsys)
    assert not (tmp_path / "idx").exists()
    assert main([*argv, "--index-type", "HNSW8", "--ef-search", "32"]) == 0
    capsys.readouterr()
    index = RagIndex.load(tmp_path / "idx")
    assert index.info["index_type"] == "HNSW8" and index.info["ef_search"] == 32
    hits = index.retrieve(embedder, ["What does the quill beetle eat?"], 1)[0]
    assert hits[0].chunk.title == "Quill beetle"


def test_a_plain_encoder_directory_embeds_by_mean_pooling(tmp_path, tokenizer, capsys):
    """An MLM directory (what `ctxlab pretrain --arch encoder` writes) is an embedder: its token
    states mean-pooled, rows of norm 1, the same text the same vector, the index built with it."""
    from transformers import BertConfig, BertForMaskedLM

    tok, _ = tokenizer
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    encoder = tmp_path / "encoder"
    BertForMaskedLM(config).save_pretrained(encoder)
    tok.save_pretrained(encoder)
    embedder = Embedder(str(encoder))
    vectors = embedder.encode(["the quill beetle eats bark", "a b c", "the quill beetle eats bark"])
    assert vectors.shape == (3, 32) and embedder.dim == 32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)  # bf16 on this CPU
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    docs = tmp_path / "docs.jsonl"
    _write_records(docs, [{"title": t, "text": x} for t, x in TOPICS])
    argv = ["rag", "index", str(docs), "-o", str(tmp_path / "idx"), "--no-progress"]
    assert main([*argv, "--embedder", str(encoder)]) == 0
    assert "UNEXPECTED" not in capsys.readouterr().err  # the unused MLM head is not reported
    assert RagIndex.load(tmp_path / "idx").embedder_name == str(encoder.resolve())
