"""Seeded (input, Graphviz DOT) pairs for a text/code -> DOT task, in six graph families.

Everything is ours: small word lists, templates and one canonical DOT writer, so a target is a
deterministic string a model can match exactly. Example i depends only on (seed, family, i); its
phrasing has a separate rng keyed by `variant`, so one graph can be said several ways. Every
input states every fact of its graph (nodes, edges with direction and label, start and accepting
states, node kinds, clusters, dashed edges) and lists edges in the target's order, so the input
alone determines the target. Labels never contain ", ", " and " or quotes, which keeps the
templates unambiguous.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

FAMILIES: tuple[str, ...] = ("fsm", "flowchart", "dependency", "tree", "network", "architecture")
MAX_NODES = 12  # the smallest word list below still draws this many unique labels


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(","))


_STATES = _words(
    "Idle, Locked, Unlocked, Door Open, Door Closed, Running, Paused, Waiting, Ready, Armed, "
    "Alarm, Heating, Cooling, Standby, Active, Sleeping, Error, Done, Loading, Charging"
)
_EVENTS = _words(
    "coin, push, timeout, reset, start, stop, open, close, tick, fail, retry, pause, resume, "
    "arm, disarm, press, release, ok, wake, cancel"
)
_STEPS = _words(
    "Read input, Check stock, Charge card, Send email, Ship order, Log error, Show form, "
    "Save record, Notify user, Print receipt, Load data, Compute total, Ask again, Reserve seat, "
    "Update cache"
)
_DECISIONS = _words(
    "Valid input?, Paid?, In stock?, Logged in?, Retry allowed?, Card accepted?, Form complete?, "
    "Cache hit?, Seat free?, Total positive?"
)
_PACKAGES = _words(
    "app, cli, server, libcore, utils, parser.o, lexer.o, main.o, libnet, libjson, config, "
    "logging, db, auth, api, runtime, codegen, ast.o, libmath, docs"
)
_FIRST = _words(
    "Mira, Tobin, Elsa, Joren, Pia, Caspar, Lena, Ravi, Noor, Otto, Ines, Bram, Yuki, Dara, "
    "Felix, Greta"
)
_SURNAMES = _words(
    "Varden, Ostrow, Pellam, Quist, Randle, Sorrel, Ulvey, Wexley, Yarrow, Zell, Brackett, "
    "Corran, Dunmore, Elstow, Fennick, Harrowby"
)
_DEVICES = _words(
    "Router A, Router B, Switch 1, Switch 2, Laptop 3, Laptop 4, Server 1, Server 2, Printer 1, "
    "Firewall, Modem, Access Point, Desktop 5, Phone 6, NAS 1, Camera 2"
)
_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Frontend", _words("Web App, Mobile App, Admin Panel, Desktop Client")),
    ("Gateway", _words("Load Balancer, API Gateway, CDN Edge")),
    ("Backend", _words("Auth Service, Order Service, Billing Service, Search Service")),
    ("Messaging", _words("Event Bus, Worker, Notifier, Scheduler")),
    ("Data", _words("Postgres, Redis Cache, Object Store, Search Index")),
)
_NAMES = {  # graph ids
    "fsm": _words("door_lock, turnstile, traffic_light, vending_machine, thermostat, elevator"),
    "flowchart": _words("order_flow, login_flow, checkout, signup, booking, refund"),
    "dependency": _words("build, project, workspace, toolchain, compiler, sdk"),
    "tree": _words("acme_org, research_team, sales_team, studio, support_desk, newsroom"),
    "network": _words("office_lan, home_net, lab_net, branch_office, campus, data_center"),
    "architecture": _words("shop_arch, bank_app, media_site, ride_share, ticketing, chat_app"),
}
_STYLE = {  # (directed, graph attrs, node defaults): the look of each family's targets
    "fsm": (True, {"rankdir": "LR"}, {"shape": "circle"}),
    "flowchart": (True, {}, {"shape": "box"}),
    "dependency": (True, {"rankdir": "LR"}, {"shape": "box"}),
    "tree": (True, {}, {"shape": "box"}),
    "network": (False, {}, {}),
    "architecture": (True, {}, {"shape": "box"}),
}
_DASHED = (("style", "dashed"),)
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Node:
    label: str  # display label, also the (quoted) DOT node id
    attrs: tuple[tuple[str, str], ...] = ()  # beyond the defaults, e.g. (("shape", "diamond"),)


@dataclass(frozen=True)
class Edge:
    tail: str
    head: str
    label: str | None = None  # FSM event, flowchart "yes"/"no"
    attrs: tuple[tuple[str, str], ...] = ()  # e.g. (("style", "dashed"),)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attr_list(pairs: Iterable[tuple[str, str]]) -> str:
    """`k=v, ...`, quoting labels and any value that is not a bare DOT identifier."""
    return ", ".join(f"{k}={v if k != 'label' and _BARE.fullmatch(v) else _q(v)}" for k, v in pairs)


def _node_line(label: str, attrs: tuple[tuple[str, str], ...], indent: str) -> str:
    return f"{indent}{_q(label)}{f' [{_attr_list(attrs)}]' if attrs else ''};"


@dataclass
class GraphSpec:
    family: str
    name: str  # graph id, a lowercase identifier like "door_lock"
    directed: bool
    nodes: list[Node]
    edges: list[Edge]
    clusters: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, member labels)
    graph_attrs: dict[str, str] = field(default_factory=dict)  # e.g. {"rankdir": "LR"}
    node_defaults: dict[str, str] = field(default_factory=dict)  # e.g. {"shape": "circle"}
    start: str | None = None  # FSM start state, pointed at by an anonymous point marker

    def to_dot(self) -> str:
        """The canonical target: one statement a line, ids quoted, edges in generation order."""
        arrow = "->" if self.directed else "--"
        lines = [f"{'digraph' if self.directed else 'graph'} {self.name} {{"]
        lines += [f"  {_attr_list([(k, v)])};" for k, v in self.graph_attrs.items()]
        if self.node_defaults:
            lines.append(f"  node [{_attr_list(self.node_defaults.items())}];")
        if self.start is not None:
            lines.append("  __start [shape=point];")
        clustered = {m for _, members in self.clusters for m in members}
        linked = {x for e in self.edges for x in (e.tail, e.head)}
        lines += [
            _node_line(n.label, n.attrs, "  ")
            for n in self.nodes
            if n.label not in clustered and (n.attrs or n.label not in linked)
        ]
        attrs = {n.label: n.attrs for n in self.nodes}
        for label, members in self.clusters:
            slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
            lines += [f"  subgraph cluster_{slug} {{", f"    label={_q(label)};"]
            lines += [_node_line(m, attrs[m], "    ") for m in members]
            lines.append("  }")
        if self.start is not None:
            lines.append(f"  __start {arrow} {_q(self.start)};")
        for e in self.edges:
            extra = ((("label", e.label),) if e.label is not None else ()) + e.attrs
            suffix = f" [{_attr_list(extra)}]" if extra else ""
            lines.append(f"  {_q(e.tail)} {arrow} {_q(e.head)}{suffix};")
        lines.append("}")
        return "\n".join(lines)


@dataclass
class Pair:
    family: str
    input_kind: str  # "spec" (natural language) or "code"
    phrasing: str  # template name, e.g. "sentences", "list", "python", "makefile"
    input: str
    graph: GraphSpec


# --- graphs -------------------------------------------------------------------------------------


_Parts = tuple[list[Node], list[Edge], dict]  # nodes, edges, extra GraphSpec fields


def _fsm(rng: random.Random, n: int) -> _Parts:
    states = rng.sample(_STATES, n)
    # each state is entered from an earlier one, so all are reachable from the start
    moves = [(rng.choice(states[:j]), states[j]) for j in range(1, n)]
    moves += [(rng.choice(states), rng.choice(states)) for _ in range(rng.randint(0, n // 2))]
    rng.shuffle(moves)
    used: dict[str, set[str]] = {s: set() for s in states}
    edges = []
    for tail, head in moves:  # events out of one state are distinct: the machine is deterministic
        event = rng.choice([e for e in _EVENTS if e not in used[tail]])
        used[tail].add(event)
        edges.append(Edge(tail, head, event))
    start, accepting = states[0], set(rng.sample(states, rng.randint(1, 2)))
    rng.shuffle(states)
    nodes = [Node(s, (("shape", "doublecircle"),) if s in accepting else ()) for s in states]
    return nodes, edges, {"start": start}


def _flowchart(rng: random.Random, n: int) -> _Parts:
    steps, asks = rng.sample(_STEPS, len(_STEPS)), rng.sample(_DECISIONS, len(_DECISIONS))
    # a lone decision would have nowhere but End for both branches, so n == 3 has only a step
    inner = [asks.pop() if n > 3 and rng.random() < 0.35 else steps.pop() for _ in range(n - 2)]
    after = inner + ["End"]
    edges = [Edge("Start", inner[0])]
    for j, label in enumerate(inner):
        if not label.endswith("?"):
            edges.append(Edge(label, after[j + 1]))
            continue
        other = rng.choice([x for x in after if x not in (label, after[j + 1])])
        yes, no = (after[j + 1], other) if rng.random() < 0.5 else (other, after[j + 1])
        edges += [Edge(label, yes, "yes"), Edge(label, no, "no")]
    ellipse = (("shape", "ellipse"),)
    nodes = [Node("Start", ellipse)]
    nodes += [Node(x, (("shape", "diamond"),) if x.endswith("?") else ()) for x in inner]
    nodes.append(Node("End", ellipse))
    return nodes, edges, {}


def _dependency(rng: random.Random, n: int) -> _Parts:
    names = rng.sample(_PACKAGES, n)  # a target depends only on later names: no cycles
    edges = []
    for j, target in enumerate(names[:-1]):
        below = names[j + 1 :]
        k = 0 if rng.random() < 0.15 else rng.randint(1, min(3, len(below)))
        edges += [Edge(target, d) for d in sorted(rng.sample(below, k), key=names.index)]
    return [Node(x) for x in names], edges, {}


def _tree(rng: random.Random, n: int) -> _Parts:
    people = [f"{a} {b}" for a, b in zip(rng.sample(_FIRST, n), rng.sample(_SURNAMES, n))]
    parent = {people[j]: rng.choice(people[:j]) for j in range(1, n)}
    order = [people[0]]  # breadth first, so each manager's reports are consecutive edges
    for boss in order:
        order += [p for p in people if parent.get(p) == boss]
    edges = [Edge(parent[p], p) for p in order[1:]]
    return [Node(p) for p in order], edges, {}


def _network(rng: random.Random, n: int) -> _Parts:
    devices = rng.sample(_DEVICES, n)
    pairs = [(rng.choice(devices[:j]), devices[j]) for j in range(1, n)]  # a spanning tree
    spare = [(a, b) for j, a in enumerate(devices) for b in devices[j + 1 :] if (a, b) not in pairs]
    pairs += rng.sample(spare, min(len(spare), rng.randint(0, 2)))  # extra links close cycles
    rng.shuffle(pairs)
    edges = [Edge(a, b) if rng.random() < 0.5 else Edge(b, a) for a, b in pairs]
    return [Node(d) for d in devices], edges, {}


def _architecture(rng: random.Random, n: int) -> _Parts:
    picked = sorted(rng.sample(range(len(_LAYERS)), rng.randint(2, 3)))
    pools = [rng.sample(_LAYERS[k][1], len(_LAYERS[k][1])) for k in picked]
    members = [[pool.pop()] for pool in pools]
    for _ in range(min(n, sum(map(len, pools)) + len(pools)) - len(pools)):
        k = rng.choice([k for k, pool in enumerate(pools) if pool])
        members[k].append(pools[k].pop())
    layer = {c: k for k, m in enumerate(members) for c in m}
    flat = list(layer)
    # every component below the top layer is called from a layer above it
    pairs = [(rng.choice([x for x in flat if layer[x] < layer[c]]), c) for c in flat if layer[c]]
    spare = [(a, b) for a in flat for b in flat if a != b and layer[a] <= layer[b]]
    spare = [p for p in spare if p not in pairs]
    pairs += rng.sample(spare, min(len(spare), rng.randint(0, 2)))
    rng.shuffle(pairs)
    edges = [Edge(a, b, attrs=_DASHED if rng.random() < 0.3 else ()) for a, b in pairs]
    clusters = [(_LAYERS[k][0], m) for k, m in zip(picked, members)]
    return [Node(c) for c in flat], edges, {"clusters": clusters}


# --- inputs -------------------------------------------------------------------------------------
# Each family renders its graph in all its phrasings at once, edges in the target's order.


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _strs(items: list[str]) -> str:
    """Python string literals, comma separated (labels hold no quotes or backslashes)."""
    return ", ".join(f'"{x}"' for x in items)


def _end(text: str) -> str:
    """End a sentence with a label, not doubling the question mark of a decision."""
    return text if text.endswith("?") else text + "."


def _are(noun: str, items: list[str]) -> str:
    return f"The {noun}{'s are' if len(items) > 1 else ' is'} {_join(items)}"


def _with_shape(g: GraphSpec, shape: str) -> list[str]:
    default = g.node_defaults.get("shape")
    return [n.label for n in g.nodes if dict(n.attrs).get("shape", default) == shape]


def _fsm_inputs(g: GraphSpec) -> dict[str, list[str]]:
    states, accepting = [n.label for n in g.nodes], _with_shape(g, "doublecircle")
    sentences = [f"The state machine {g.name} has the states {_join(states)}."]
    sentences += [f"It starts in {g.start}.", _are("accepting state", accepting) + "."]
    listing = [f"machine: {g.name}", f"states: {', '.join(states)}", f"start: {g.start}"]
    listing.append(f"accepting: {', '.join(accepting)}")
    python = [
        f"class {''.join(w.capitalize() for w in g.name.split('_'))}:",
        f"    states = [{_strs(states)}]",
        f'    initial = "{g.start}"',
        f"    accepting = {{{_strs(accepting)}}}",
        "    transitions = [",
    ]
    for e in g.edges:
        sentences.append(f"On {e.label}, {e.tail} goes to {e.head}.")
        listing.append(f"{e.tail} --{e.label}--> {e.head}")
        python.append(f'        ("{e.tail}", "{e.label}", "{e.head}"),')
    return {"sentences": sentences, "list": listing, "python": python + ["    ]"]}


def _flowchart_inputs(g: GraphSpec) -> dict[str, list[str]]:
    steps, asks = _with_shape(g, "box"), _with_shape(g, "diamond")
    sentences = [f"The flowchart {g.name} starts at Start and ends at End."]
    sentences += [_end(_are(kind, x)) for kind, x in (("step", steps), ("decision", asks)) if x]
    listing = [f"flowchart: {g.name}", "terminals: Start, End"]
    listing += [f"steps: {', '.join(steps) or 'none'}", f"decisions: {', '.join(asks) or 'none'}"]
    for e in g.edges:
        if e.label is None:
            sentences.append(_end(f"{e.tail} leads to {e.head}"))
        else:
            sentences.append(_end(f"If the answer to {e.tail} is {e.label}, go to {e.head}"))
        listing.append(f"{e.tail} -> {e.head}" + (f" [{e.label}]" if e.label else ""))
    return {"sentences": sentences, "list": listing}


def _dependency_inputs(g: GraphSpec) -> dict[str, list[str]]:
    rule = "an edge goes from each target to each of its"
    sentences = [f"In the dependency graph {g.name}, {rule} dependencies."]
    python = [f"# dependency graph {g.name}: {rule} dependencies", "deps = {"]
    makefile = [f"# dependency graph {g.name}: {rule} prerequisites"]
    for n in g.nodes:
        deps = [e.head for e in g.edges if e.tail == n.label]
        said = f"depends on {_join(deps)}" if deps else "has no dependencies"
        sentences.append(f"{n.label} {said}.")
        python.append(f'    "{n.label}": [{_strs(deps)}],')
        makefile.append(f"{n.label}: {' '.join(deps)}".rstrip())
    return {"sentences": sentences, "python": python + ["}"], "makefile": makefile}


def _tree_inputs(g: GraphSpec) -> dict[str, list[str]]:
    head = f"The org chart {g.name} has an arrow from each manager to each direct report."
    manages = [head]
    for boss in dict.fromkeys(e.tail for e in g.edges):  # managers in edge order
        manages.append(f"{boss} manages {_join([e.head for e in g.edges if e.tail == boss])}.")
    reports = [head, f"{g.nodes[0].label} is at the top."]
    reports += [f"{e.head} reports to {e.tail}." for e in g.edges]
    return {"manages": manages, "reports": reports}


def _network_inputs(g: GraphSpec) -> dict[str, list[str]]:
    devices = [n.label for n in g.nodes]
    sentences = [f"The network {g.name} is undirected: every link is two-way."]
    sentences += [f"Its devices are {_join(devices)}."]
    sentences += [f"{e.tail} is linked to {e.head}." for e in g.edges]
    listing = [f"network: {g.name} (undirected: links are two-way)"]
    listing += [f"devices: {', '.join(devices)}"] + [f"{e.tail} -- {e.head}" for e in g.edges]
    return {"sentences": sentences, "list": listing}


def _architecture_inputs(g: GraphSpec) -> dict[str, list[str]]:
    sentences = [f"The architecture diagram {g.name} groups its components into layers."]
    sentences += [f"The {layer} layer contains {_join(m)}." for layer, m in g.clusters]
    listing = [f"architecture: {g.name}"]
    listing += [f"layer {layer}: {', '.join(m)}" for layer, m in g.clusters]
    for e in g.edges:
        dashed = e.attrs == _DASHED
        said = f"sends events to {e.head} asynchronously" if dashed else f"calls {e.head}"
        sentences.append(f"{e.tail} {said}.")
        listing.append(f"{e.tail} -> {e.head}" + (" (async)" if dashed else ""))
    return {"sentences": sentences, "list": listing}


class _Family(NamedTuple):
    graph: Callable[[random.Random, int], _Parts]
    inputs: Callable[[GraphSpec], dict[str, list[str]]]  # phrasing name -> input lines
    spec: tuple[str, ...]  # natural-language phrasings
    code: tuple[str, ...] = ()


_REGISTRY = {
    "fsm": _Family(_fsm, _fsm_inputs, ("sentences", "list"), ("python",)),
    "flowchart": _Family(_flowchart, _flowchart_inputs, ("sentences", "list")),
    "dependency": _Family(_dependency, _dependency_inputs, ("sentences",), ("python", "makefile")),
    "tree": _Family(_tree, _tree_inputs, ("manages", "reports")),
    "network": _Family(_network, _network_inputs, ("sentences", "list")),
    "architecture": _Family(_architecture, _architecture_inputs, ("sentences", "list")),
}


# --- public -------------------------------------------------------------------------------------


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown DOT family {family!r}: choose one of {', '.join(FAMILIES)}")


MIN_NODES = {"flowchart": 5, "network": 4}


def phrasings(family: str) -> tuple[str, ...]:
    """The phrasing names a family can produce, spec templates first."""
    _check_family(family)
    return _REGISTRY[family].spec + _REGISTRY[family].code


def make_graph(family: str, rng: random.Random, max_nodes: int = 7) -> GraphSpec:
    """A random graph of the family with up to max_nodes nodes (architecture may cap below);
    flowcharts and networks start larger, as their 3-node graphs are too few to tell apart."""
    _check_family(family)
    if not 3 <= max_nodes <= MAX_NODES:
        raise ValueError(f"max_nodes must be between 3 and {MAX_NODES}, got {max_nodes}")
    fewest = min(MIN_NODES.get(family, 3), max_nodes)
    nodes, edges, extra = _REGISTRY[family].graph(rng, rng.randint(fewest, max_nodes))
    directed, graph_attrs, node_defaults = _STYLE[family]
    g = GraphSpec(family, rng.choice(_NAMES[family]), directed, nodes, edges, **extra)
    g.graph_attrs, g.node_defaults = dict(graph_attrs), dict(node_defaults)
    return g


def make_pair(
    seed: int, family: str, i: int, variant: int = 0, code_share: float = 0.3, max_nodes: int = 7
) -> Pair:
    """Example i: its graph from (seed, family, i), its phrasing also from `variant`."""
    _check_family(family)
    graph = make_graph(family, random.Random(f"dot:{seed}:{family}:{i}"), max_nodes)
    rng = random.Random(f"dot-input:{seed}:{family}:{i}:{variant}")
    fam = _REGISTRY[family]
    kind = "code" if rng.random() < code_share and fam.code else "spec"
    phrasing = rng.choice(fam.code if kind == "code" else fam.spec)
    return Pair(family, kind, phrasing, "\n".join(fam.inputs(graph)[phrasing]), graph)
