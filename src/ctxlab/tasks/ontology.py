"""Fictional ontologies for PrOntoQA-style problems, with invented words and gold proofs.

A problem is a chain of invented categories (Sally is a C0, every C0 is a C1, ..., every C(n-1)
is [not] P) that answers a True/False query about property P in `hops` modus-ponens steps, mixed
with distractors that look relevant but change nothing: a category off the chain with the
opposite property (and another individual in it), other properties of chain members, side
branches, and other individuals on the chain. The premises never contradict each other.
Everything is drawn from one `random.Random`, so a problem depends only on its seed string.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ctxlab.solvers.proofs import CONCLUSION_FORMAT, format_step
from ctxlab.solvers.statements import Fact, Rule, plural, render_fact, render_rule, singular

ONSETS = "b d f g j k l m n p r t v w y z br dr gr kl pl sl st tr sn gl sk wh".split()
VOWELS = "a e i o u ai oo ei".split()
CODAS = ["m", "n", "l", "r", "mp", "nt", "rk", "lt", ""]
SUFFIXES = "pus mus rus tus bus nix lix dor gor pan ven tum".split()
# Property families: one adjective per family and problem, so no two properties clash.
FAMILIES = {
    "color": "red blue green brown orange purple gray".split(),
    "size": "small large tiny huge".split(),
    "temperature": "hot cold warm cool".split(),
    "texture": "rough smooth soft hard".split(),
    "taste": "sweet sour bitter salty spicy".split(),
    "mood": "happy sad angry calm shy".split(),
    "light": "bright dull opaque transparent".split(),
    "weight": "heavy light".split(),
    "speed": "fast slow".split(),
    "material": "wooden metallic liquid".split(),
    "scent": "fruity floral earthy".split(),
}
NAMES = (
    "Sally Alex Max Sam Polly Rex Stella Wren Fae Wendy Fred Sophie Jack Lena Omar Nina "
    "Tom Ivy Hugo Clara"
).split()
DISTRACTOR_KINDS = ("opposite", "property", "branch", "individual")


def invent_word(rng: random.Random, taken: set[str]) -> str:
    """A new pronounceable nonsense noun ("jompus", "trailnix") whose plural reads back."""
    while True:
        word = rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) + rng.choice(SUFFIXES)
        if word not in taken and singular(word) == word and singular(plural(word)) == word:
            taken.add(word)
            return word


@dataclass
class Problem:
    premises: list[str]
    query: str
    label: str
    proof: list[str]
    hops: int
    entity: str

    @property
    def target(self) -> str:
        return "\n".join(self.proof)


def _other_name(rng: random.Random, used: set[str]) -> str:
    """A name not yet in the problem, so no individual gets contradictory properties."""
    name = rng.choice([n for n in NAMES if n not in used])
    used.add(name)
    return name


def make_problem(rng: random.Random, hops: int, distractors: int) -> Problem:
    """One problem: `hops` modus-ponens steps from the entity's category to the queried
    property, `distractors` distractor groups, premises shuffled, and its optionized proof."""
    if hops < 1:
        raise ValueError("hops must be at least 1")
    taken: set[str] = set()
    entity = rng.choice(NAMES)
    chain = [invent_word(rng, taken) for _ in range(hops)]
    families = rng.sample(sorted(FAMILIES), len(FAMILIES))
    prop = rng.choice(FAMILIES[families[0]])
    prop_neg = rng.random() < 0.5
    query = Fact(entity, prop, rng.random() < 0.5)
    label = "TRUE" if query.neg == prop_neg else "FALSE"

    # (statement, role): role names the statements the gold proof uses.
    items: list[tuple[Fact | Rule, str]] = [(Fact(entity, chain[0]), "start")]
    items += [(Rule(chain[i], chain[i + 1]), f"link{i}") for i in range(hops - 1)]
    items.append((Rule(chain[-1], prop, prop_neg), "property"))
    nouns = set(chain)
    spare_families = families[1:]
    names = {entity}
    offset = rng.randrange(len(DISTRACTOR_KINDS))
    for k in range(distractors):
        kind = DISTRACTOR_KINDS[(k + offset) % len(DISTRACTOR_KINDS)]
        member = rng.choice(chain)
        if kind == "opposite":
            other = invent_word(rng, taken)
            nouns.add(other)
            items.append((Rule(other, prop, not prop_neg), "distractor"))
            items.append((Fact(_other_name(rng, names), other), "distractor"))
        elif kind == "property" and spare_families:
            adjective = rng.choice(FAMILIES[spare_families.pop()])
            items.append((Rule(member, adjective, rng.random() < 0.5), "distractor"))
        elif kind == "individual":
            items.append((Fact(_other_name(rng, names), member), "distractor"))
        else:
            branch = invent_word(rng, taken)
            nouns.add(branch)
            items.append((Rule(member, branch), "distractor"))
    rng.shuffle(items)

    premises, ref = [], {}
    for number, (statement, role) in enumerate(items, 1):
        if isinstance(statement, Fact):
            premises.append(render_fact(statement, nouns))
        else:
            premises.append(render_rule(statement, nouns, rng.randrange(3)))
        ref[role] = str(number)
    proof, current = [], ref["start"]
    for i in range(hops - 1):
        thought = render_fact(Fact(entity, chain[i + 1]), nouns)
        proof.append(format_step(thought, "MODUS_PONENS", [ref[f"link{i}"], current]))
        current = f"s{len(proof)}"
    thought = render_fact(Fact(entity, prop, prop_neg), nouns)
    proof.append(format_step(thought, "MODUS_PONENS", [ref["property"], current]))
    proof.append(CONCLUSION_FORMAT.format(label=label))
    return Problem(premises, render_fact(query, nouns), label, proof, hops, entity)
