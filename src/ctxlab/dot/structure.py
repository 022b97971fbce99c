"""What a DOT graph says, from Graphviz's own parse, and how close one graph is to another.

Valid DOT can be the wrong graph, so validity alone tells right from wrong poorly. A graph is
reduced to what its reader sees: nodes keyed by their normalized display label (the id when the
label is the default or is shared by several nodes; HTML markup and escapes dropped), anonymous
markers (point, invisible or empty-label nodes, like an FSM's start dot) keyed by what they
connect to, edges between those keys (unordered in an undirected graph) with their labels, and
the semantic attributes `shape` and `style`. Ids, quoting, layout (`pos`, `bb`, ...), colours,
fonts and how edges are written (`a -> b -> c` or two statements, in a cluster or not) do not
count.

Scores (percent, as every ctxlab metric): `graph_f1` = 2(|N∩N'|+|E∩E'|)/(|N|+|N'|+|E|+|E'|), the
headline; `node_f1`, `edge_f1` (direction counts), `labelled_edge_f1` (edge and label, e.g. FSM
events), `exact` (same directedness, nodes and labelled edges), `directed` (same directedness),
`attr_agreement` (share of the reference's shape/style settings the prediction matches), and
`valid` (Graphviz accepted it). An invalid or missing graph scores 0 on all of them.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

SEMANTIC_ATTRS = ("shape", "style")
DEFAULT_ATTRS = {"shape": "ellipse", "style": ""}
METRICS = (
    "graph_f1",
    "valid",
    "node_f1",
    "edge_f1",
    "labelled_edge_f1",
    "exact",
    "directed",
    "attr_agreement",
)
_TAG = re.compile(r"<[^<>]*>")
_ESCAPE = re.compile(r"\\[nlrNGETHL]")
_SPACE = re.compile(r"\s+")


def normalize(label: str) -> str:
    """A label as a reader compares it: no markup, escapes or quotes; lowercase; single spaces."""
    text = html.unescape(_TAG.sub(" ", label))
    text = _ESCAPE.sub(" ", text).replace('\\"', '"')
    return _SPACE.sub(" ", text).strip().strip("\"'").strip().lower()


@dataclass(frozen=True)
class Structure:
    """A graph as compared: node keys with their semantic attributes, and edges."""

    directed: bool
    nodes: dict[str, dict[str, str]]
    edges: Counter  # (tail key, head key, label) -> count
    edge_attrs: dict[tuple[str, str, str], dict[str, str]]

    def edge_counts(self, ordered: bool, labelled: bool) -> Counter:
        """The edges as compared: (tail, head) in order or as an unordered pair, with the label
        or without."""
        out: Counter = Counter()
        for (tail, head, label), count in self.edges.items():
            ends = (tail, head) if ordered else tuple(sorted((tail, head)))
            out[(*ends, label) if labelled else ends] += count
        return out


def _is_marker(node: dict[str, Any]) -> bool:
    return (
        node.get("shape") == "point"
        or "invis" in str(node.get("style", ""))
        or node.get("label", "\\N") == ""
    )


def _display(node: dict[str, Any]) -> str:
    label = str(node.get("label", "\\N"))
    return node["name"] if label == "\\N" else label.replace("\\N", node["name"])


def structure(graph: dict[str, Any]) -> Structure:
    """The comparable structure of Graphviz's json0 parse of a graph."""
    objects = graph.get("objects") or []
    first_node = int(graph.get("_subgraph_cnt", 0))
    nodes = {i: o for i, o in enumerate(objects) if i >= first_node}
    labels = {i: normalize(_display(o)) for i, o in nodes.items() if not _is_marker(o)}
    shared = {k for k, n in Counter(labels.values()).items() if n > 1}
    keys = {
        i: (f"id:{normalize(nodes[i]['name'])}" if k in shared else k) for i, k in labels.items()
    }
    raw_edges = [
        (int(e["tail"]), int(e["head"]), normalize(str(e.get("label", ""))), e)
        for e in graph.get("edges") or []
    ]
    for i in (i for i in nodes if i not in keys):  # a marker is known by what it connects to
        around = sorted(
            ("out:" if t == i else "in:") + keys.get(h if t == i else t, "marker")
            for t, h, _, _ in raw_edges
            if i in (t, h)
        )
        keys[i] = "marker(" + ",".join(around) + ")"
    attrs = {
        keys[i]: {a: str(o[a]) for a in SEMANTIC_ATTRS if a in o and i in labels}
        for i, o in nodes.items()
    }
    edges: Counter = Counter()
    edge_attrs: dict[tuple[str, str, str], dict[str, str]] = {}
    for tail, head, label, raw in raw_edges:
        edge = (keys[tail], keys[head], label)
        edges[edge] += 1
        edge_attrs[edge] = {a: str(raw[a]) for a in SEMANTIC_ATTRS if a in raw}
    return Structure(bool(graph.get("directed", True)), attrs, edges, edge_attrs)


def f1(reference: Counter, predicted: Counter) -> float:
    """Multiset F1; two empty sets agree fully."""
    total = sum(reference.values()) + sum(predicted.values())
    if total == 0:
        return 1.0
    return 2 * sum((reference & predicted).values()) / total


def _attr_agreement(ref: Structure, pred: Structure) -> float:
    settings = [
        (ref.nodes, pred.nodes, key, a, v) for key, s in ref.nodes.items() for a, v in s.items()
    ]
    settings += [
        (ref.edge_attrs, pred.edge_attrs, key, a, v)
        for key, s in ref.edge_attrs.items()
        for a, v in s.items()
    ]
    if not settings:
        return 1.0
    agree = sum(
        key in theirs and theirs[key].get(a, DEFAULT_ATTRS[a]) == v
        for _, theirs, key, a, v in settings
    )
    return agree / len(settings)


def compare(reference: Structure, predicted: Structure | None) -> dict[str, float]:
    """Every metric of a prediction against its reference, in percent (`METRICS`)."""
    if predicted is None:
        return dict.fromkeys(METRICS, 0.0)
    ordered = reference.directed and predicted.directed
    ref_nodes, pred_nodes = Counter(reference.nodes.keys()), Counter(predicted.nodes.keys())
    ref_edges, pred_edges = (s.edge_counts(ordered, False) for s in (reference, predicted))
    ref_labelled, pred_labelled = (s.edge_counts(ordered, True) for s in (reference, predicted))
    size = sum(ref_nodes.values()) + sum(pred_nodes.values())
    size += sum(ref_edges.values()) + sum(pred_edges.values())
    common = sum((ref_nodes & pred_nodes).values()) + sum((ref_edges & pred_edges).values())
    same_direction = reference.directed == predicted.directed
    exact = same_direction and ref_nodes == pred_nodes and ref_labelled == pred_labelled
    scores = {
        "graph_f1": 2 * common / size if size else 1.0,
        "valid": 1.0,
        "node_f1": f1(ref_nodes, pred_nodes),
        "edge_f1": f1(ref_edges, pred_edges),
        "labelled_edge_f1": f1(ref_labelled, pred_labelled),
        "exact": float(exact),
        "directed": float(same_direction),
        "attr_agreement": _attr_agreement(reference, predicted),
    }
    return {k: round(100 * v, 4) for k, v in scores.items()}


def canonical_key(s: Structure) -> str:
    """One string per graph structure (directedness, nodes, labelled edges): two inputs that
    describe the same graph share it, which is how splits are kept disjoint by structure."""
    edges = sorted(s.edge_counts(s.directed, True).elements())
    return repr((s.directed, sorted(s.nodes), edges))
