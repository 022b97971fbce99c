"""Tests of the text/code -> DOT pair generator.

The central test rebuilds each graph from its input text alone, with parsers written here
independently of the generator's templates (regexes for prose and lists, `ast` for Python), and
compares the result with the GraphSpec; a mutated input is shown to make it fail. Targets are
checked by the real Graphviz binary, which must read back the same nodes, shapes and edges.
"""

import ast
import json
import random
import re
import subprocess

import pytest

from ctxlab.dot.families import (
    FAMILIES,
    Edge,
    GraphSpec,
    Node,
    make_graph,
    make_pair,
    phrasings,
)

# What a family fixes beyond its text: directed or not, graph attributes, the default shape.
LOOK = {
    "fsm": (True, {"rankdir": "LR"}, "circle"),
    "flowchart": (True, {}, "box"),
    "dependency": (True, {"rankdir": "LR"}, "box"),
    "tree": (True, {}, "box"),
    "network": (False, {}, None),
    "architecture": (True, {}, "box"),
}
SPLIT = re.compile(r", | and ")


def pair_in(family: str, phrasing: str, i: int, seed: int = 1):
    """Example i of a family, phrased as asked (searching variants, which keep the graph)."""
    for variant in range(200):
        pair = make_pair(seed, family, i, variant=variant, code_share=0.5)
        if pair.phrasing == phrasing:
            return pair
    raise AssertionError(f"no variant of {family} #{i} is phrased {phrasing!r}")


def all_pairs(per_phrasing: int, seed: int = 1):
    return [
        pair_in(f, p, i, seed) for f in FAMILIES for p in phrasings(f) for i in range(per_phrasing)
    ]


# --- the oracle: facts a graph holds, from the GraphSpec or from the text -------------------------


def spec_facts(g: GraphSpec) -> dict:
    """The GraphSpec reduced to comparable facts (effective node attrs, edges in order)."""
    return {
        "name": g.name,
        "directed": g.directed,
        "graph_attrs": g.graph_attrs,
        "nodes": {n.label: {**g.node_defaults, **dict(n.attrs)} for n in g.nodes},
        "edges": [(e.tail, e.head, e.label, dict(e.attrs)) for e in g.edges],
        "start": g.start,
        "clusters": [(label, list(m)) for label, m in g.clusters],
    }


def facts(family, name, nodes, edges, start=None, clusters=()) -> dict:
    """Facts rebuilt from a text: `nodes` maps label -> shape, or None where the text is silent."""
    directed, graph_attrs, default = LOOK[family]
    mentioned = dict(nodes)
    for tail, head, *_ in edges:
        mentioned.setdefault(tail, default)
        mentioned.setdefault(head, default)
    return {
        "name": name,
        "directed": directed,
        "graph_attrs": graph_attrs,
        "nodes": {n: ({"shape": s} if s else {}) for n, s in mentioned.items()},
        "edges": [
            (t, h, label, {"style": "dashed"} if dashed else {}) for t, h, label, dashed in edges
        ],
        "start": start,
        "clusters": list(clusters),
    }


def lines(text: str, patterns: dict[str, str]) -> list[tuple[str, tuple[str, ...]]]:
    """(pattern name, groups) for each line; a line no pattern fits fails the test."""
    out = []
    for line in text.splitlines():
        for key, pattern in patterns.items():
            if m := re.fullmatch(pattern, line):
                out.append((key, m.groups()))
                break
        else:
            raise AssertionError(f"no template fits line {line!r}")
    return out


def every(rows, key) -> list[tuple[str, ...]]:
    return [groups for k, groups in rows if k == key]


def one(rows, key) -> tuple[str, ...]:
    found = every(rows, key)
    assert len(found) == 1, f"expected one {key!r} line, found {len(found)}"
    return found[0]


def items(text: str) -> list[str]:
    return [] if text == "none" else SPLIT.split(text)


# --- parsers, one per (family, phrasing) ---------------------------------------------------------


def fsm_facts(name, states, start, accepting, transitions):
    shape = {s: "doublecircle" if s in accepting else "circle" for s in [*states, *accepting]}
    edges = [(tail, head, event, False) for tail, event, head in transitions]
    return facts("fsm", name, shape, edges, start=start)


def parse_fsm_sentences(text):
    rows = lines(
        text,
        {
            "head": r"The state machine (\w+) has the states (.+)\.",
            "start": r"It starts in (.+)\.",
            "accept": r"The accepting states? (?:is|are) (.+)\.",
            "edge": r"On ([a-z]+), (.+) goes to (.+)\.",
        },
    )
    name, states = one(rows, "head")
    moves = [(t, ev, h) for ev, t, h in every(rows, "edge")]
    accepting = items(one(rows, "accept")[0])
    return fsm_facts(name, items(states), one(rows, "start")[0], accepting, moves)


def parse_fsm_list(text):
    rows = lines(
        text,
        {
            "head": r"machine: (\w+)",
            "states": r"states: (.+)",
            "start": r"start: (.+)",
            "accept": r"accepting: (.+)",
            "edge": r"(.+) --([a-z]+)--> (.+)",
        },
    )
    moves = every(rows, "edge")
    states, accepting = items(one(rows, "states")[0]), items(one(rows, "accept")[0])
    return fsm_facts(one(rows, "head")[0], states, one(rows, "start")[0], accepting, moves)


def parse_fsm_python(text):
    (cls,) = ast.parse(text).body
    assert isinstance(cls, ast.ClassDef)
    values = {stmt.targets[0].id: ast.literal_eval(stmt.value) for stmt in cls.body}
    assert set(values) == {"states", "initial", "accepting", "transitions"}
    assert isinstance(values["accepting"], set)
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.name).lower()
    return fsm_facts(
        name, values["states"], values["initial"], values["accepting"], values["transitions"]
    )


def flowchart_facts(name, terminals, steps, decisions, edges):
    assert terminals == ["Start", "End"]
    shape = {x: "ellipse" for x in terminals}
    shape |= {x: "box" for x in steps} | {x: "diamond" for x in decisions}
    for tail, head, *_ in edges:  # a node the text never declares gets no shape: a mismatch
        shape.setdefault(tail, "undeclared")
        shape.setdefault(head, "undeclared")
    return facts("flowchart", name, shape, edges)


def parse_flowchart_sentences(text):
    rows = lines(
        text,
        {
            "head": r"The flowchart (\w+) starts at (Start) and ends at (End)\.",
            "kind": r"The (step|decision)s? (?:is|are) (.+?)\.?",
            "branch": r"If the answer to (.+\?) is (yes|no), go to (.+?)\.?",
            "edge": r"(.+?) leads to (.+?)\.?",
        },
    )
    name, *terminals = one(rows, "head")
    kinds = {kind: items(labels) for kind, labels in every(rows, "kind")}
    edges = []
    for k, groups in rows:
        if k == "edge":
            edges.append((*groups, None, False))
        elif k == "branch":
            edges.append((groups[0], groups[2], groups[1], False))
    return flowchart_facts(name, terminals, kinds.get("step", []), kinds.get("decision", []), edges)


def parse_flowchart_list(text):
    rows = lines(
        text,
        {
            "head": r"flowchart: (\w+)",
            "terminals": r"terminals: (.+)",
            "steps": r"steps: (.+)",
            "decisions": r"decisions: (.+)",
            "edge": r"(.+?) -> (.+?)(?: \[(yes|no)\])?",
        },
    )
    edges = [(t, h, label, False) for t, h, label in every(rows, "edge")]
    terminals, steps, decisions = (
        items(one(rows, k)[0]) for k in ("terminals", "steps", "decisions")
    )
    return flowchart_facts(one(rows, "head")[0], terminals, steps, decisions, edges)


def dependency_facts(name, deps: list[tuple[str, list[str]]]):
    nodes = {target: "box" for target, _ in deps}
    return facts("dependency", name, nodes, [(t, d, None, False) for t, ds in deps for d in ds])


def parse_dependency_sentences(text):
    rows = lines(
        text,
        {
            "head": r"In the dependency graph (\w+), an edge goes from each target to each of its "
            r"dependencies\.",
            "deps": r"(\S+) depends on (.+)\.",
            "none": r"(\S+) has no dependencies\.",
        },
    )
    deps = [(g[0], items(g[1]) if k == "deps" else []) for k, g in rows if k != "head"]
    return dependency_facts(one(rows, "head")[0], deps)


def parse_dependency_python(text):
    comment, code = text.split("\n", 1)
    m = re.fullmatch(
        r"# dependency graph (\w+): an edge goes from each target to each of its dependencies",
        comment,
    )
    (assign,) = ast.parse(code).body
    assert isinstance(assign, ast.Assign) and assign.targets[0].id == "deps"
    return dependency_facts(m.group(1), list(ast.literal_eval(assign.value).items()))


def parse_dependency_makefile(text):
    rows = lines(
        text,
        {
            "head": r"# dependency graph (\w+): an edge goes from each target to each of its "
            r"prerequisites",
            "rule": r"(\S+):(.*)",
        },
    )
    deps = [(target, prereqs.split()) for target, prereqs in every(rows, "rule")]
    return dependency_facts(one(rows, "head")[0], deps)


TREE_HEAD = r"The org chart (\w+) has an arrow from each manager to each direct report\."


def tree_facts(name, edges, top=None):
    heads = {h for _, h in edges}
    roots = [t for t, _ in edges if t not in heads]
    assert top is None or set(roots) == {top}, "the stated top has a manager"
    nodes = {x: "box" for pair in edges for x in pair}
    return facts("tree", name, nodes, [(t, h, None, False) for t, h in edges])


def parse_tree_manages(text):
    rows = lines(text, {"head": TREE_HEAD, "manages": r"(.+?) manages (.+)\."})
    edges = [(boss, r) for boss, reports in every(rows, "manages") for r in items(reports)]
    return tree_facts(one(rows, "head")[0], edges)


def parse_tree_reports(text):
    rows = lines(
        text,
        {"head": TREE_HEAD, "top": r"(.+) is at the top\.", "reports": r"(.+) reports to (.+)\."},
    )
    edges = [(boss, person) for person, boss in every(rows, "reports")]
    return tree_facts(one(rows, "head")[0], edges, top=one(rows, "top")[0])


def network_facts(name, devices, links):
    nodes = dict.fromkeys(devices)
    return facts("network", name, nodes, [(a, b, None, False) for a, b in links])


def parse_network_sentences(text):
    rows = lines(
        text,
        {
            "head": r"The network (\w+) is undirected: every link is two-way\.",
            "devices": r"Its devices are (.+)\.",
            "link": r"(.+) is linked to (.+)\.",
        },
    )
    links = every(rows, "link")
    return network_facts(one(rows, "head")[0], items(one(rows, "devices")[0]), links)


def parse_network_list(text):
    rows = lines(
        text,
        {
            "head": r"network: (\w+) \(undirected: links are two-way\)",
            "devices": r"devices: (.+)",
            "link": r"(.+) -- (.+)",
        },
    )
    links = every(rows, "link")
    return network_facts(one(rows, "head")[0], items(one(rows, "devices")[0]), links)


def architecture_facts(name, layers, edges):
    nodes = {c: "box" for _, members in layers for c in members}
    return facts("architecture", name, nodes, edges, clusters=layers)


def parse_architecture_sentences(text):
    rows = lines(
        text,
        {
            "head": r"The architecture diagram (\w+) groups its components into layers\.",
            "layer": r"The (\w+) layer contains (.+)\.",
            "async": r"(.+) sends events to (.+) asynchronously\.",
            "calls": r"(.+) calls (.+)\.",
        },
    )
    layers = [(layer, items(m)) for layer, m in every(rows, "layer")]
    edges = [(g[0], g[1], None, k == "async") for k, g in rows if k in ("async", "calls")]
    return architecture_facts(one(rows, "head")[0], layers, edges)


def parse_architecture_list(text):
    rows = lines(
        text,
        {
            "head": r"architecture: (\w+)",
            "layer": r"layer (\w+): (.+)",
            "edge": r"(.+?) -> (.+?)( \(async\))?",
        },
    )
    layers = [(layer, items(m)) for layer, m in every(rows, "layer")]
    edges = [(t, h, None, bool(a)) for t, h, a in every(rows, "edge")]
    return architecture_facts(one(rows, "head")[0], layers, edges)


PARSERS = {
    ("fsm", "sentences"): parse_fsm_sentences,
    ("fsm", "list"): parse_fsm_list,
    ("fsm", "python"): parse_fsm_python,
    ("flowchart", "sentences"): parse_flowchart_sentences,
    ("flowchart", "list"): parse_flowchart_list,
    ("dependency", "sentences"): parse_dependency_sentences,
    ("dependency", "python"): parse_dependency_python,
    ("dependency", "makefile"): parse_dependency_makefile,
    ("tree", "manages"): parse_tree_manages,
    ("tree", "reports"): parse_tree_reports,
    ("network", "sentences"): parse_network_sentences,
    ("network", "list"): parse_network_list,
    ("architecture", "sentences"): parse_architecture_sentences,
    ("architecture", "list"): parse_architecture_list,
}


# --- tests ---------------------------------------------------------------------------------------


def test_parsers_cover_every_phrasing():
    assert set(PARSERS) == {(f, p) for f in FAMILIES for p in phrasings(f)}


@pytest.mark.parametrize("family, phrasing", sorted(PARSERS))
def test_input_determines_graph(family, phrasing):
    for i in range(60):
        pair = pair_in(family, phrasing, i)
        kind = "code" if phrasing in ("python", "makefile") else "spec"
        assert (pair.family, pair.input_kind) == (family, kind)
        assert PARSERS[family, phrasing](pair.input) == spec_facts(pair.graph), pair.input


def _drop_last_transition(text: str) -> str:
    kept = text.splitlines()
    del kept[max(j for j, line in enumerate(kept) if line.startswith("On "))]
    return "\n".join(kept)


def _flip_first_yes(text: str) -> str:
    return text.replace("is yes,", "is no,", 1)


def _make_first_call_async(text: str) -> str:
    out = text.splitlines()
    j = next(j for j, line in enumerate(out) if " -> " in line and not line.endswith("(async)"))
    out[j] += " (async)"
    return "\n".join(out)


@pytest.mark.parametrize(
    "family, phrasing, mutate",
    [
        ("fsm", "sentences", _drop_last_transition),
        ("flowchart", "sentences", _flip_first_yes),
        ("architecture", "list", _make_first_call_async),
    ],
)
def test_mutated_input_no_longer_matches(family, phrasing, mutate):
    """The determination test can fail: one changed fact in the text changes the rebuilt graph."""
    pairs = (pair_in(family, phrasing, i) for i in range(50))
    pair = next(p for p in pairs if mutate(p.input) != p.input)  # e.g. a flowchart with a decision
    assert PARSERS[family, phrasing](pair.input) == spec_facts(pair.graph)
    assert PARSERS[family, phrasing](mutate(pair.input)) != spec_facts(pair.graph)


def test_deterministic():
    for family in FAMILIES:
        for i in range(20):
            a, b = make_pair(1, family, i), make_pair(1, family, i)
            assert (a.input, a.graph.to_dot()) == (b.input, b.graph.to_dot())
        first = [make_pair(1, family, i).graph.to_dot() for i in range(20)]
        other = [make_pair(2, family, i).graph.to_dot() for i in range(20)]
        assert first != other


def test_variant_changes_the_phrasing_only():
    for family in FAMILIES:
        seen = set()
        for i in range(10):
            pairs = [make_pair(1, family, i, variant=v, code_share=0.5) for v in range(8)]
            assert len({p.graph.to_dot() for p in pairs}) == 1
            seen |= {p.phrasing for p in pairs}
        assert seen == set(phrasings(family))


def test_code_share_picks_the_input_kind():
    assert {make_pair(1, "fsm", i, code_share=0.0).input_kind for i in range(30)} == {"spec"}
    assert {make_pair(1, "fsm", i, code_share=1.0).input_kind for i in range(30)} == {"code"}
    assert {make_pair(1, "tree", i, code_share=1.0).input_kind for i in range(30)} == {"spec"}


def test_unknown_family_names_the_families():
    with pytest.raises(ValueError, match="fsm, flowchart, dependency, tree, network, architecture"):
        make_pair(0, "nope", 0)


def test_to_dot_canonical_layout():
    door = GraphSpec(
        "fsm",
        "door_lock",
        True,
        [Node("Locked"), Node("Unlocked", (("shape", "doublecircle"),))],
        [Edge("Locked", "Unlocked", "coin"), Edge("Unlocked", "Locked", "push")],
        graph_attrs={"rankdir": "LR"},
        node_defaults={"shape": "circle"},
        start="Locked",
    )
    assert door.to_dot() == (
        "digraph door_lock {\n"
        "  rankdir=LR;\n"
        "  node [shape=circle];\n"
        "  __start [shape=point];\n"
        '  "Unlocked" [shape=doublecircle];\n'
        '  __start -> "Locked";\n'
        '  "Locked" -> "Unlocked" [label="coin"];\n'
        '  "Unlocked" -> "Locked" [label="push"];\n'
        "}"
    )
    lan = GraphSpec(
        "network",
        "lan",
        False,
        [Node('Say "hi"'), Node("B\\C"), Node("Alone")],
        [Edge('Say "hi"', "B\\C", attrs=(("style", "dashed"),))],
        clusters=[("Core Layer", ['Say "hi"'])],
    )
    assert lan.to_dot() == (  # linked "B\\C" needs no line; isolated "Alone" does
        "graph lan {\n"
        '  "Alone";\n'
        "  subgraph cluster_core_layer {\n"
        '    label="Core Layer";\n'
        '    "Say \\"hi\\"";\n'
        "  }\n"
        '  "Say \\"hi\\"" -- "B\\\\C" [style=dashed];\n'
        "}"
    )


@pytest.mark.parametrize("max_nodes", [3, 7, 12])
def test_graphs_are_well_formed(max_nodes):
    for family in FAMILIES:
        for i in range(40):
            g = make_graph(family, random.Random(f"t:{family}:{i}"), max_nodes)
            labels = [n.label for n in g.nodes]
            assert 3 <= len(labels) <= max_nodes and len(set(labels)) == len(labels)
            assert all(", " not in x and " and " not in x and '"' not in x for x in labels)
            assert {x for e in g.edges for x in (e.tail, e.head)} <= set(labels)
            assert re.fullmatch(r"[a-z][a-z_]*", g.name)
            assert len({(e.tail, e.head, e.label) for e in g.edges}) == len(g.edges)
            _check_family_shape(g)
    with pytest.raises(ValueError, match="max_nodes"):
        make_graph("fsm", random.Random(0), 2)


def _check_family_shape(g: GraphSpec) -> None:
    labels = [n.label for n in g.nodes]
    if g.family == "fsm":
        accepting = [n for n in g.nodes if n.attrs == (("shape", "doublecircle"),)]
        assert g.start in labels and 1 <= len(accepting) <= 2
        outs = [(e.tail, e.label) for e in g.edges]
        assert len(set(outs)) == len(outs)  # deterministic: one move per (state, event)
        assert _reachable(g, g.start) == set(labels)
    elif g.family == "flowchart":
        for n in g.nodes:
            out = sorted(e.label or "" for e in g.edges if e.tail == n.label)
            if n.label.endswith("?"):
                assert out == ["no", "yes"] and n.attrs == (("shape", "diamond"),)
            elif n.label != "End":
                assert out == [""]
        assert _reachable(g, "Start") == set(labels)
    elif g.family == "dependency":
        order = {x: j for j, x in enumerate(labels)}
        assert all(order[e.tail] < order[e.head] for e in g.edges)  # acyclic
    elif g.family == "tree":
        assert sorted(e.head for e in g.edges) == sorted(labels[1:])
        assert _reachable(g, labels[0]) == set(labels)
    elif g.family == "network":
        pairs = [frozenset((e.tail, e.head)) for e in g.edges]
        assert len(set(pairs)) == len(pairs) and all(len(p) == 2 for p in pairs)
        assert _reachable(g, labels[0], undirected=True) == set(labels)
    else:
        assert 2 <= len(g.clusters) <= 3
        assert sorted(m for _, ms in g.clusters for m in ms) == sorted(labels)


def _reachable(g: GraphSpec, root: str, undirected: bool = False) -> set[str]:
    seen, todo = {root}, [root]
    while todo:
        x = todo.pop()
        for e in g.edges:
            for a, b in [(e.tail, e.head)] + ([(e.head, e.tail)] if undirected else []):
                if a == x and b not in seen:
                    seen.add(b)
                    todo.append(b)
    return seen


def test_targets_pass_graphviz(graphviz):
    """`dot -Tjson0` reads every target without a warning and finds the GraphSpec's graph."""
    pairs = all_pairs(per_phrasing=15, seed=5)
    assert len(pairs) >= 200
    targets = [p.graph.to_dot() for p in pairs]

    def dot(text: str) -> subprocess.CompletedProcess:
        cmd = ["dot", "-Tjson0"]
        return subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120)

    run = dot("\n".join(targets))
    if run.returncode or run.stderr:
        bad = next(t for t in targets if (r := dot(t)).returncode or r.stderr)
        pytest.fail(f"dot rejects a target ({dot(bad).stderr.strip()}):\n{bad}")
    decoder, pos, drawn = json.JSONDecoder(), 0, []
    while pos < len(run.stdout.rstrip()):
        graph, pos = decoder.raw_decode(run.stdout, pos)
        drawn.append(graph)
        pos += len(run.stdout[pos:]) - len(run.stdout[pos:].lstrip())
    assert len(drawn) == len(pairs)
    for pair, graph in zip(pairs, drawn):
        assert _as_drawn(pair.graph) == _read_back(graph), pair.graph.to_dot()


def _as_drawn(g: GraphSpec) -> dict:
    nodes = {
        n.label: dict(n.attrs).get("shape", g.node_defaults.get("shape", "ellipse"))
        for n in g.nodes
    }
    edges = [(e.tail, e.head, e.label, dict(e.attrs).get("style")) for e in g.edges]
    if g.start is not None:
        nodes["__start"] = "point"
        edges.insert(0, ("__start", g.start, None, None))
    clusters = {label: set(m) for label, m in g.clusters}
    return {
        "name": g.name,
        "directed": g.directed,
        "nodes": nodes,
        "edges": sorted(edges, key=repr),  # Graphviz groups edges by tail
        "clusters": clusters,
    }


def _read_back(graph: dict) -> dict:
    objects = graph.get("objects", [])
    names = {o["_gvid"]: o["name"] for o in objects}
    nodes = {o["name"]: o.get("shape", "ellipse") for o in objects if "nodes" not in o}
    clusters = {o["label"]: {names[j] for j in o["nodes"]} for o in objects if "nodes" in o}
    edges = [
        (names[e["tail"]], names[e["head"]], e.get("label") or None, e.get("style"))
        for e in graph.get("edges", [])
    ]
    return {
        "name": graph["name"],
        "directed": graph["directed"],
        "nodes": nodes,
        "edges": sorted(edges, key=repr),  # Graphviz groups edges by tail
        "clusters": clusters,
    }
