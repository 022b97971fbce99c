"""Loaders for real logic data: PrOntoQA JSON, LoGiPT conversations and FOLIO jsonl.

All three become `Example`s in the logic prompt format. PrOntoQA and LoGiPT proofs are turned
into optionized proofs by replaying their chains of derived facts with modus ponens against the
numbered premises, so every loaded example's `target` passes the proof checker (records whose
chains use forms the checker does not read are skipped, and counted). FOLIO labels are
normalized (`Unknown` in train, `Uncertain` in validation -> UNKNOWN). Sets without a test split
get a seeded 90/10 split.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.solvers.proofs import CONCLUSION_FORMAT, format_step, normalize_label
from ctxlab.solvers.statements import Fact, Rule, modus_ponens, parse_statement, render_fact
from ctxlab.tasks.base import Example
from ctxlab.tasks.logic_prompt import make_example

console = Console(stderr=True)
PRONTOQA_FORMAT = (
    'PrOntoQA JSON ({"example1": {"test_example": {"question", "query", "chain_of_thought", '
    '"answer"}}}), LoGiPT conversations ({"conversations": [4 turns of {"from", "value"}]}, '
    "as a JSON list or jsonl) or ctxlab examples jsonl (id, task, input, answers)"
)
FOLIO_FIELDS = ("premises", "premises-FOL", "conclusion", "label")


def split_indices(n: int, split: str, seed: int, test_share: float = 0.1) -> list[int]:
    """Indices of a seeded 90/10 train/test split ("all": every index), in file order."""
    if split == "all":
        return list(range(n))
    order = list(range(n))
    random.Random(f"logic-split:{seed}").shuffle(order)
    cut = n - max(1, round(n * test_share)) if n > 1 else n
    chosen = order[:cut] if split == "train" else order[cut:]
    return sorted(chosen)


def _read_json_or_jsonl(path: Path, expected: str) -> Any:
    if not path.is_file():
        raise CtxlabError(f"data file {path} does not exist: pass {expected}")
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    return [record for _, record in json_lines(path, "data", f": expected {expected}")]


def is_examples_file(path: str | Path) -> bool:
    """True when the file's first record is a ctxlab example (id, task, input, answers)."""
    path = Path(path)
    if not path.is_file() or path.suffix == ".gz":
        return True  # read_jsonl reports a missing or compressed file itself
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(first, dict) and {"id", "task", "input", "answers"} <= set(first)
    return True


def optionize(premises: list[str], derived: list[Fact], query: str, label: str) -> str | None:
    """An optionized proof deriving each fact of `derived` in order by modus ponens from the
    premises and earlier steps, ending in the label; None if a fact has no such derivation."""
    parsed = [parse_statement(p) for p in premises]
    known: dict[tuple, tuple[Fact, str]] = {
        s.key(): (s, str(i)) for i, s in enumerate(parsed, 1) if isinstance(s, Fact)
    }
    rules = [(s, str(i)) for i, s in enumerate(parsed, 1) if isinstance(s, Rule)]
    nouns = _noun_like(parsed)
    steps: list[str] = []
    for fact in derived:
        if fact.key() in known:
            continue
        step = next(
            (
                (rule_ref, fact_ref)
                for rule, rule_ref in rules
                for have, fact_ref in known.values()
                if (new := modus_ponens(rule, have)) is not None and new.same(fact)
            ),
            None,
        )
        if step is None:
            return None
        steps.append(format_step(render_fact(fact, nouns), "MODUS_PONENS", list(step)))
        known[fact.key()] = (fact, f"s{len(steps)}")
    target = parse_statement(query)
    if not steps or not isinstance(target, Fact):
        return None
    return "\n".join(steps + [CONCLUSION_FORMAT.format(label=label)])


def _noun_like(parsed: list) -> set[str]:
    """Predicates used as categories: something "is a" them, or a rule starts from them."""
    return {s.ante for s in parsed if isinstance(s, Rule)} | {
        s.pred for s in parsed if isinstance(s, Fact)
    }


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _prontoqa_records(data: dict) -> list[dict]:
    records = []
    for key, item in data.items():
        test = item.get("test_example") if isinstance(item, dict) else None
        if not isinstance(test, dict) or not {"question", "query", "answer"} <= set(test):
            raise CtxlabError(
                f"PrOntoQA record {key!r} lacks test_example fields: expected {PRONTOQA_FORMAT}"
            )
        premises = _sentences(test["question"])
        facts = [parse_statement(s) for s in test.get("chain_of_thought") or []]
        records.append(
            {
                "id": str(key),
                "premises": premises,
                "query": _QUERY_LEAD.sub("", test["query"]).strip(),
                "label": normalize_label(str(test["answer"])),
                "derived": [f for f in facts if isinstance(f, Fact)],
            }
        )
    return records


_QUERY_LEAD = re.compile(r"^\s*(?:true or false|prove)\s*:\s*", re.I)
_LOGIPT_FACT = re.compile(r"Obtain a new implied fact:\s*(\w+)\(\s*'?([^,')]+)'?\s*,\s*(\w+)\s*\)")
_LOGIPT_QUERY = re.compile(r"true or false\??\s*[:\-]?\s*(.+?)(?:\n|$)", re.I)


def _logipt_records(items: list) -> list[dict]:
    records = []
    for number, item in enumerate(items, 1):
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(turns, list) or len(turns) < 4:
            raise CtxlabError(
                f"LoGiPT record {number} lacks 4 conversation turns: expected {PRONTOQA_FORMAT}"
            )
        values = [str(t.get("value", "")) for t in turns]
        context = re.search(r"Context:\s*(.+?)(?:\n\s*\n|\n\s*Reasoning:|$)", values[0], re.S)
        query = _LOGIPT_QUERY.search(values[2])
        answer = re.search(r"\b(true|false|unknown)\b", values[3].split("option is")[-1], re.I)
        if not (context and query and answer):
            raise CtxlabError(
                f"LoGiPT record {number}: no 'Context:' in turn 1, no 'true or false' question "
                f"in turn 3, or no True/False option in turn 4: expected {PRONTOQA_FORMAT}"
            )
        derived = [
            Fact(entity, pred.lower(), value.lower() == "false")
            for pred, entity, value in _LOGIPT_FACT.findall(values[1])
        ]
        records.append(
            {
                "id": str(item.get("id", number)),
                "premises": _sentences(context.group(1)),
                "query": query.group(1).strip(),
                "label": normalize_label(answer.group(1)),
                "derived": derived,
            }
        )
    return records


def load_prontoqa_source(path: str | Path, config, task: str) -> list[Example]:
    """Examples of a PrOntoQA JSON or LoGiPT file: the chosen `split`, all records unless
    `num_samples` was set (then at most that many per hop count)."""
    path = Path(path)
    data = _read_json_or_jsonl(path, PRONTOQA_FORMAT)
    if isinstance(data, dict) and "conversations" in data:
        data = [data]  # a one-line LoGiPT jsonl
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()) and data:
        records = _prontoqa_records(data)
    elif (
        isinstance(data, list) and data and isinstance(data[0], dict) and "conversations" in data[0]
    ):
        records = _logipt_records(data)
    else:
        raise CtxlabError(f"{path} is not a PrOntoQA file: expected {PRONTOQA_FORMAT}")
    cap = config.num_samples if "num_samples" in config.model_fields_set else None
    examples, skipped, per_hop = [], 0, {}
    for i in split_indices(len(records), config.split, config.seed):
        record = records[i]
        target = optionize(record["premises"], record["derived"], record["query"], record["label"])
        if target is None or record["label"] is None:
            skipped += 1
            continue
        hops = target.count("\n")
        if cap is not None and per_hop.get(hops, 0) >= cap:
            continue
        per_hop[hops] = per_hop.get(hops, 0) + 1
        examples.append(
            make_example(
                task,
                f"{task}-{record['id']}",
                record["premises"],
                record["query"],
                record["label"],
                target,
                {"hops": hops, "source": path.name},
            )
        )
    if skipped:
        console.print(
            f"{path}: skipped {skipped} records whose chains the proof checker cannot replay"
        )
    if not examples:
        raise CtxlabError(f"{path}: no usable records in the {config.split!r} split")
    return examples


def read_folio(path: str | Path) -> list[dict]:
    """FOLIO jsonl records, each checked for the fields every line needs."""
    path = Path(path)
    expected = "FOLIO jsonl with premises, premises-FOL, conclusion, conclusion-FOL and label"
    data = _read_json_or_jsonl(path, expected)
    records = data if isinstance(data, list) else [data]
    out = []
    for number, record in enumerate(records, 1):
        missing = [k for k in FOLIO_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise CtxlabError(
                f"{path}:{number} lacks the fields {missing}: FOLIO lines need "
                "premises, premises-FOL, conclusion, conclusion-FOL (for verify) and label"
            )
        label = normalize_label(str(record["label"]))
        if label is None:
            raise CtxlabError(
                f"{path}:{number}: label {record['label']!r} is not True, False, Unknown "
                "or Uncertain"
            )
        premises = record["premises"]
        fol = record["premises-FOL"]
        out.append(
            {
                "id": str(record.get("example_id", number)),
                "premises": _lines(premises),
                "premises_fol": _lines(fol),
                "conclusion": str(record["conclusion"]).strip(),
                "conclusion_fol": record.get("conclusion-FOL"),
                "label": label,
                "story_id": record.get("story_id"),
            }
        )
    return out


def _lines(value) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split("\n") if v.strip()]
    return [str(v).strip() for v in value]
