"""The DOT structure metric and the extraction of DOT from answers, on the real Graphviz."""

from __future__ import annotations

import pytest

from ctxlab.dot.extract import extract_dot
from ctxlab.dot.graphviz import parse
from ctxlab.dot.structure import METRICS, compare, structure

pytestmark = pytest.mark.usefixtures("graphviz")

FSM = """digraph door_lock {
  rankdir=LR;
  node [shape=circle];
  __start [shape=point];
  "Unlocked" [shape=doublecircle];
  __start -> "Locked";
  "Locked" -> "Unlocked" [label="coin"];
  "Unlocked" -> "Broken" [label="kick"];
}"""

CHAIN = """digraph arch {
  node [shape=box];
  subgraph cluster_backend { label="Backend"; "API"; "Worker"; "Store"; }
  "API" -> "Worker";
  "Worker" -> "Store" [style=dashed];
}"""


def scores(reference: str, prediction: str) -> dict[str, float]:
    ref = parse(reference)
    assert ref.valid, ref.error
    pred = parse(prediction)
    return compare(structure(ref.graph), structure(pred.graph) if pred.valid else None)


def test_a_graph_scored_against_itself_is_exact():
    for dot in (FSM, CHAIN):
        assert scores(dot, dot) == dict.fromkeys(METRICS, 100.0)


def test_relabelled_requoted_restyled_copy_scores_one():
    copy = """digraph G { rankdir=TB; node [shape=circle, color=red, fontname=Courier];
      s0 [label="Locked"]; s1 [label=<<b>Unlocked</b>>, shape=doublecircle]; s2 [label="broken"];
      dot [shape=point, width=0.2];
      dot -> s0; s0 -> s1 [label=coin, color=blue]; s1 -> s2 [label="kick"] }"""
    assert scores(FSM, copy) == dict.fromkeys(METRICS, 100.0)


def test_chain_rewrite_inside_a_cluster_or_not_scores_one():
    in_cluster = """digraph x { node [shape=box];
      subgraph cluster_b { label="Backend"; API -> Worker; Store; }
      Worker -> Store [style=dashed]; }"""
    chained = """digraph x { node [shape=box];
      subgraph cluster_b { label="Backend"; API; Worker; Store; }
      API -> Worker -> Store; }"""
    assert scores(CHAIN, in_cluster)["graph_f1"] == 100.0
    assert scores(CHAIN, in_cluster)["exact"] == 100.0
    chained_scores = scores(CHAIN, chained)
    assert chained_scores["graph_f1"] == 100.0 and chained_scores["exact"] == 100.0
    # ... but Worker -> Store lost its dashed style: attribute agreement sees it (three node
    # shapes kept, the one edge style lost: 3 of 4 settings).
    assert chained_scores["attr_agreement"] == pytest.approx(75.0)


def test_reversed_edges_keep_nodes_and_lose_edges():
    reversed_ = """digraph x { node [shape=box]; subgraph cluster_b { label="Backend";
      "Worker" -> "API"; "Store" -> "Worker" [style=dashed]; } }"""
    got = scores(CHAIN, reversed_)
    assert got["node_f1"] == 100.0 and got["edge_f1"] == 0.0
    assert got["graph_f1"] == pytest.approx(100 * 2 * 3 / (3 + 3 + 2 + 2))
    assert got["exact"] == 0.0


def test_an_undirected_copy_of_a_digraph_is_not_exact():
    undirected = FSM.replace("digraph", "graph").replace("->", "--")
    got = scores(FSM, undirected)
    assert got["directed"] == 0.0 and got["exact"] == 0.0
    assert got["node_f1"] == 100.0


def test_wrong_events_lower_only_the_labelled_edge_score():
    wrong = FSM.replace('label="kick"', 'label="push"')
    got = scores(FSM, wrong)
    assert got["edge_f1"] == 100.0 and got["graph_f1"] == 100.0
    assert got["labelled_edge_f1"] == pytest.approx(100 * 2 / 3 * 2 / 2)
    assert got["exact"] == 0.0


def test_a_missing_node_and_edge_counts_in_graph_f1():
    fewer = FSM.replace('  "Unlocked" -> "Broken" [label="kick"];\n', "")
    got = scores(FSM, fewer)
    # nodes 4 vs 3 (Broken gone), edges 3 vs 2: 2 * (3 + 2) / (4 + 3 + 3 + 2)
    assert got["graph_f1"] == pytest.approx(100 * 10 / 12)
    assert got["node_f1"] == pytest.approx(100 * 6 / 7)


def test_invalid_or_missing_graphs_score_zero_everywhere():
    for bad in ("digraph { a -> ; }", "graph { a -> b }", ""):
        assert scores(FSM, bad) == dict.fromkeys(METRICS, 0.0)
    assert not parse("graph { a -> b }").valid  # an undirected graph has no arrows


def test_graphviz_rejects_what_a_lenient_reader_might_take():
    mermaid = "graph TD\n  A[Start] --> B{Is it?}\n  B -->|Yes| C[OK]"
    result = parse(mermaid)
    assert not result.valid and "syntax error" in result.error


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("digraph { a -> b }", "digraph { a -> b }"),
        (
            "Here you go:\n```dot\ndigraph g {\n  a -> b;\n}\n```\nDone.",
            "digraph g {\n  a -> b;\n}",
        ),
        (
            'Sure. strict digraph "x y" { a [label="}"]; a -> b } and more }',
            'strict digraph "x y" { a [label="}"]; a -> b }',
        ),
        (
            "graph { a -- b // } not the end\n c -- d }",
            "graph { a -- b // } not the end\n c -- d }",
        ),
        (
            "digraph { a [label=<<b>{</b>>]; /* } */ a -> b } tail",
            "digraph { a [label=<<b>{</b>>]; /* } */ a -> b }",
        ),
        ("DiGraph G { a -> b }", "DiGraph G { a -> b }"),
        ("digraph { a -> b; subgraph s { c }", "digraph { a -> b; subgraph s { c }"),
        ("I cannot draw that.", ""),
        ("a subgraph { x } alone", ""),
    ],
)
def test_extract_dot_from_answers(answer: str, expected: str):
    assert extract_dot(answer) == expected


def test_extraction_prefers_the_fenced_block():
    answer = "The digraph {A} notation aside,\n```\ndigraph real { x -> y }\n```"
    assert extract_dot(answer) == "digraph real { x -> y }"
