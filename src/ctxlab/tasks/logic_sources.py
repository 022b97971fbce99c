"""Loaders for real logic data: PrOntoQA JSON, LoGiPT conversations, FOLIO jsonl, and Logic-LM's
ProntoQA and FOLIO files.

All become `Example`s in the logic prompt format. PrOntoQA, LoGiPT and Logic-LM ProntoQA proofs
are turned into optionized proofs by replaying their chains of derived facts with modus ponens
against the numbered premises, so every loaded example's `target` passes the proof checker
(records whose chains use forms the checker does not read are skipped, and counted). FOLIO
labels are normalized (`Unknown` in train, `Uncertain` in validation -> UNKNOWN); Logic-LM's
letter answers are read through their options ("A) True"). Logic-LM's FOLIO carries no FOL, so
its problems serve label accuracy; `ctxlab verify` refuses them. Sets without a test split get a
seeded 90/10 split.
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
    'as a JSON list or jsonl), Logic-LM ProntoQA ([{"id", "context", "question", "options", '
    '"answer", "explanation"}], as a JSON list or jsonl) or ctxlab examples jsonl '
    "(id, task, input, answers)"
)
FOLIO_FIELDS = ("premises", "conclusion", "label")
LOGIC_LM_FIELDS = ("context", "question", "options", "answer")
FOLIO_FORMAT = (
    "FOLIO jsonl (premises, conclusion, label; premises-FOL and conclusion-FOL for verify) or "
    'Logic-LM FOLIO ([{"id", "context", "question", "options", "answer"}])'
)


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


_LOGIC_LM_LEAD = re.compile(
    r"^.*?\bis the following statement true,? (?:or )?false(?:,? or uncertain)?\s*\?\s*",
    re.I | re.S,
)


def is_logic_lm(data: Any) -> bool:
    """True for Logic-LM records: a JSON list of {context, question, options, answer, ...}."""
    return (
        isinstance(data, list)
        and bool(data)
        and isinstance(data[0], dict)
        and set(LOGIC_LM_FIELDS) <= set(data[0])
    )


def logic_lm_problem(record: dict) -> tuple[list[str], str, str | None]:
    """(premises, statement, label) of a Logic-LM record: the context's sentences, the question
    without its "Is the following statement true or false?" lead, and the label of the option
    the answer letter names ("B" with "B) False" -> FALSE)."""
    answer = str(record["answer"]).strip().rstrip(")").upper()
    texts = [str(o).partition(")") for o in record.get("options") or []]
    chosen = [text for letter, _, text in texts if letter.strip().upper() == answer]
    label = normalize_label(chosen[0] if chosen else answer)
    statement = _LOGIC_LM_LEAD.sub("", str(record["question"])).strip()
    return _sentences(str(record["context"])), statement, label


def _logic_lm_record(item: Any, number: int, path: Path, expected: str) -> dict:
    """The record, refused (naming file, record and the format expected) when it lacks fields."""
    missing = [k for k in LOGIC_LM_FIELDS if not isinstance(item, dict) or k not in item]
    if missing:
        raise CtxlabError(f"{path}: Logic-LM record {number} lacks {missing}: expected {expected}")
    return item


def _logic_lm_records(items: list, path: Path) -> list[dict]:
    records = []
    for number, item in enumerate(items, 1):
        _logic_lm_record(item, number, path, PRONTOQA_FORMAT)
        if not isinstance(item.get("explanation"), list):
            raise CtxlabError(
                f"{path}: Logic-LM record {number} has no 'explanation' list (the proof chain the "
                "gold proof is built from): a Logic-LM FOLIO file goes to --task folio"
            )
        premises, query, label = logic_lm_problem(item)
        facts = [parse_statement(str(s)) for s in item["explanation"]]
        records.append(
            {
                "id": str(item.get("id", number)),
                "premises": premises,
                "query": query,
                "label": label,
                "derived": [f for f in facts if isinstance(f, Fact)],
            }
        )
    return records


def _prontoqa_kind(data: Any, path: Path) -> tuple[str, list[dict]]:
    """(name of the recognised format, its records as premises/query/label/derived facts)."""
    if isinstance(data, dict) and ("conversations" in data or set(LOGIC_LM_FIELDS) <= set(data)):
        data = [data]  # a one-line jsonl
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()) and data:
        return "PrOntoQA JSON", _prontoqa_records(data)
    if isinstance(data, list) and data and isinstance(data[0], dict) and "conversations" in data[0]:
        return "LoGiPT conversations", _logipt_records(data)
    if is_logic_lm(data):
        return "Logic-LM ProntoQA", _logic_lm_records(data, path)
    raise CtxlabError(f"{path} is not a PrOntoQA file: expected {PRONTOQA_FORMAT}")


def load_prontoqa_source(path: str | Path, config, task: str) -> list[Example]:
    """Examples of a PrOntoQA JSON, LoGiPT or Logic-LM ProntoQA file: the chosen `split`, all
    records unless `num_samples` was set (then at most that many per hop count). One line on
    stderr names the format recognised and counts the records skipped."""
    path = Path(path)
    kind, records = _prontoqa_kind(_read_json_or_jsonl(path, PRONTOQA_FORMAT), path)
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
    unreplayable = (
        f", skipped {skipped} records whose chains the proof checker cannot replay"
        if skipped
        else ""
    )
    if not examples:
        raise CtxlabError(f"{path}: no usable records in the {config.split!r} split{unreplayable}")
    console.print(
        f"{path}: {kind}, {len(examples)} examples{unreplayable}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return examples


def read_folio(path: str | Path) -> list[dict]:
    """FOLIO jsonl records (or Logic-LM FOLIO, without FOL), each checked for the fields every
    problem needs; the FOL fields are optional here (None when absent) and required by verify."""
    path = Path(path)
    data = _read_json_or_jsonl(path, FOLIO_FORMAT)
    records = data if isinstance(data, list) else [data]
    if is_logic_lm(records):
        return [_logic_lm_folio(record, number, path) for number, record in enumerate(records, 1)]
    out = []
    for number, record in enumerate(records, 1):
        missing = [k for k in FOLIO_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise CtxlabError(
                f"{path}:{number} lacks the fields {missing}: expected {FOLIO_FORMAT}"
            )
        label = normalize_label(str(record["label"]))
        if label is None:
            raise CtxlabError(
                f"{path}:{number}: label {record['label']!r} is not True, False, Unknown "
                "or Uncertain"
            )
        fol = record.get("premises-FOL")
        out.append(
            {
                "id": str(record.get("example_id", number)),
                "premises": _lines(record["premises"]),
                "premises_fol": _lines(fol) if fol else None,
                "conclusion": str(record["conclusion"]).strip(),
                "conclusion_fol": record.get("conclusion-FOL"),
                "label": label,
                "story_id": record.get("story_id"),
            }
        )
    return out


def _logic_lm_folio(record: Any, number: int, path: Path) -> dict:
    premises, conclusion, label = logic_lm_problem(
        _logic_lm_record(record, number, path, FOLIO_FORMAT)
    )
    if label is None:
        raise CtxlabError(
            f"{path}: Logic-LM record {number}: answer {record['answer']!r} names no True, False "
            f"or Uncertain option of {record['options']!r}"
        )
    return {
        "id": str(record.get("id", number)),
        "premises": premises,
        "premises_fol": None,
        "conclusion": conclusion,
        "conclusion_fol": None,
        "label": label,
        "story_id": None,
    }


def _lines(value) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split("\n") if v.strip()]
    return [str(v).strip() for v in value]
