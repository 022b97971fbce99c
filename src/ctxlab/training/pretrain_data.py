"""Pre-training data: text files, folders or jsonl text fields -> train/val/test texts -> packed
sequences.

Texts are read as `ctxlab rag index` and `ctxlab tokenizer train` read them (text, markdown,
jsonl(.gz) passages, lost-in-the-middle `ctxs`, folders), or generated (ctxlab's own prose).
Paragraphs, or whole documents, go to the splits by a seeded shuffle, and a paragraph that
recurs is kept once so no held-out text is also trained on. Each split is packed: its texts
tokenized, joined with the end-of-text token and cut into sequences of exactly the context
length, so only the split's last sequence is padded (Mini LLM pads every paragraph).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from ctxlab.errors import CtxlabError

SPLITS = ("train", "val", "test")
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Text:
    text: str
    document: str  # what `split_by: document` keeps together: source, line and title


def read_texts(
    paths: Sequence[str], text_field: str | None = None, prose_words: int = 0
) -> list[Text]:
    """The paragraphs of the files (or of `prose_words` words of generated prose), in order,
    each paragraph once."""
    if paths:
        from ctxlab.rag.documents import load_chunks
        from ctxlab.rag.splitters import SplitterConfig

        chunks = load_chunks(paths, SplitterConfig("paragraph"), text_field=text_field)
        texts = [
            Text(c.text, f"{c.source}:{c.meta.get('line', 0)}:{c.title}")
            for c in chunks
            if c.text.strip()
        ]
        where = ", ".join(str(p) for p in paths)
    elif prose_words > 0:
        from ctxlab.tasks.prose import prose_text

        texts = [Text(p, f"prose:{i}") for i, p in enumerate(prose_text(prose_words).split("\n\n"))]
        where = "the generated prose"
    else:
        raise CtxlabError(
            "no text to pre-train on: pass text, markdown or jsonl files or folders, or "
            "--prose-words N for ctxlab's generated prose"
        )
    seen: set[str] = set()
    unique = [t for t in texts if not (t.text in seen or seen.add(t.text))]
    if not unique:
        raise CtxlabError(f"no text to pre-train on in {where}: the files are empty")
    return unique


def split_texts(
    texts: list[Text],
    val_share: float,
    test_share: float,
    seed: int,
    split_by: Literal["paragraph", "document"] = "paragraph",
) -> dict[str, list[str]]:
    """Train/val/test texts: whole paragraphs (or documents) drawn by a seeded shuffle, each
    held-out split at least one unit; texts keep their order within a split."""
    units: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        units.setdefault(t.document if split_by == "document" else str(i), []).append(i)
    keys = list(units)
    noun = "documents" if split_by == "document" else "paragraphs"
    if len(keys) < 3:
        hint = " or --split-by paragraph" if split_by == "document" else ""
        raise CtxlabError(
            f"only {len(keys)} {noun} of text: train, val and test each need at least one: "
            f"pass more text{hint}"
        )
    random.Random(f"pretrain:{seed}").shuffle(keys)
    n_val = max(1, round(len(keys) * val_share))
    n_test = max(1, round(len(keys) * test_share))
    if n_val + n_test >= len(keys):
        raise CtxlabError(
            f"val and test shares leave no {noun} to train on ({len(keys)} in all): lower "
            "--val-share/--test-share or pass more text"
        )
    drawn = {"val": keys[:n_val], "test": keys[n_val : n_val + n_test]}
    drawn["train"] = keys[n_val + n_test :]
    return {
        split: [texts[i].text for i in sorted(i for k in drawn[split] for i in units[k])]
        for split in SPLITS
    }


@dataclass
class Packed:
    """A split's sequences: `input_ids` and `attention_mask` (0 on padding), both [n, length]."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    texts: int

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())

    @property
    def padding_share(self) -> float:
        return 1 - self.tokens / max(self.attention_mask.numel(), 1)


def pack(tokenizer, texts: list[str], length: int) -> Packed:
    """Tokenize `texts`, join them with the end-of-text token and cut the stream into sequences
    of `length` tokens; the last one is padded on the right."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    pad = eos if pad is None else pad
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream += [*ids, eos]
    rows = -(-len(stream) // length)
    input_ids = torch.full((rows, length), pad, dtype=torch.long)
    mask = torch.zeros((rows, length), dtype=torch.long)
    flat = torch.tensor(stream, dtype=torch.long)
    input_ids.view(-1)[: len(stream)] = flat
    mask.view(-1)[: len(stream)] = 1
    return Packed(input_ids, mask, len(texts))


class CausalDataset(torch.utils.data.Dataset):
    """Packed sequences with their labels (the inputs; -100 on padding): the model shifts them."""

    def __init__(self, packed: Packed):
        self.packed = packed

    def __len__(self) -> int:
        return len(self.packed.input_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids, mask = self.packed.input_ids[i], self.packed.attention_mask[i]
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": ids.masked_fill(mask == 0, -100),
        }


class MaskedDataset(torch.utils.data.Dataset):
    """Packed sequences for MLM: masked by the collator at each step (training), or once with a
    fixed seed (`labels` given: held-out sets, so every evaluation scores the same masks)."""

    def __init__(self, packed: Packed, masked: dict[str, torch.Tensor] | None = None):
        self.packed = packed
        self.masked = masked

    def __len__(self) -> int:
        return len(self.packed.input_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"attention_mask": self.packed.attention_mask[i]}
        if self.masked is None:
            return {**item, "input_ids": self.packed.input_ids[i]}
        return {
            **item,
            "input_ids": self.masked["input_ids"][i],
            "labels": self.masked["labels"][i],
        }


class MaskingCollator:
    """`DataCollatorForLanguageModeling` (15% of the non-special tokens chosen; of those 80%
    become the mask token, 10% a random token, 10% stay) for training batches; batches already
    masked (held-out sets) are only stacked. Training masks draw from torch's global generator,
    which `Trainer` checkpoints, so a resumed run masks as the uninterrupted one would."""

    def __init__(self, tokenizer, mlm_probability: float = 0.15, seed: int | None = None):
        from transformers import DataCollatorForLanguageModeling

        self.mask = DataCollatorForLanguageModeling(
            tokenizer, mlm=True, mlm_probability=mlm_probability, seed=seed
        )

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        if "labels" in features[0]:
            return {k: torch.stack([f[k] for f in features]) for k in features[0]}
        mask = torch.stack([f["attention_mask"] for f in features])
        batch = self.mask([{"input_ids": f["input_ids"]} for f in features])
        return {"input_ids": batch["input_ids"], "attention_mask": mask, "labels": batch["labels"]}


def mask_once(tokenizer, packed: Packed, mlm_probability: float, seed: int) -> MaskedDataset:
    """A held-out split masked once with a fixed seed."""
    collator = MaskingCollator(tokenizer, mlm_probability, seed)
    batch = collator.mask([{"input_ids": row} for row in packed.input_ids])
    labels = batch["labels"].masked_fill(packed.attention_mask == 0, IGNORE_INDEX)
    return MaskedDataset(packed, {"input_ids": batch["input_ids"], "labels": labels})
