"""Examples -> tokenized training records whose prompt is exactly the evaluation prompt.

A record is `prompt tokens + target tokens + end-of-turn`; labels are -100 on the prompt so the
loss covers only what the model must learn to write. The prompt is rendered by the same
`render_prompt`/`encode_prompt` the generation engine uses, so training and evaluation can never
disagree on the chat template, the answer prefix or the tokenization of the prompt. Records are
batched by similar length (see `trainer.py`) and padded to the batch maximum by `PadCollator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ctxlab.errors import CtxlabError
from ctxlab.prompts import encode_prompt, render_prompt
from ctxlab.tasks.base import Example, Task

IGNORE_INDEX = -100
Method = Literal["sft", "scratchpad"]
LossOn = Literal["target", "all"]
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>")


def training_target(task: Task, example: Example, method: Method) -> str:
    """What the model is taught to write: the answer (`sft`) or scratchpad + answer."""
    return task.target(example) if method == "sft" else task.scratchpad_target(example)


def join_target(prompt: str, target: str) -> str:
    """Separate the target from a prompt ending mid-sentence (NIAH's answer prefix ends in
    "... is"), as the model itself writes " 1234567." there, so training matches its habit."""
    if prompt and target and not prompt[-1].isspace() and target[0].isalnum():
        return " " + target
    return target


def end_of_turn_id(tokenizer) -> int:
    """The token that closes an assistant turn: the chat template's own end-of-turn token
    (`<|im_end|>` for the built-in model) when it has one, else eos."""
    template = str(getattr(tokenizer, "chat_template", "") or "")
    for token in END_OF_TURN_TOKENS:
        if token in template:
            tid = tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                return tid
    if tokenizer.eos_token_id is None:
        raise CtxlabError("the tokenizer has no end-of-sequence token to end training targets")
    return int(tokenizer.eos_token_id)


def build_record(
    tokenizer,
    task: Task,
    example: Example,
    method: Method,
    max_seq_length: int,
    loss_on: LossOn = "target",
) -> dict:
    """One record: `input_ids`, `labels` (-100 on the prompt unless `loss_on` is all),
    `prompt_tokens`, `truncated`. Over `max_seq_length` the prompt loses tokens from its left;
    the target is never cut."""
    messages, prefix = task.prompt(example)
    prompt = render_prompt(tokenizer, messages, prefix)
    prompt_ids = encode_prompt(tokenizer, prompt)
    target = join_target(prompt, training_target(task, example, method))
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [
        end_of_turn_id(tokenizer)
    ]
    room = max_seq_length - len(target_ids)
    if room < 1:
        raise CtxlabError(
            f"example {example.id}: its target alone is {len(target_ids)} tokens, beyond "
            f"max_seq_length {max_seq_length}: raise --max-seq-length"
        )
    truncated = len(prompt_ids) > room
    if truncated:
        prompt_ids = prompt_ids[-room:]
    return {
        "input_ids": prompt_ids + target_ids,
        "labels": (prompt_ids if loss_on == "all" else [IGNORE_INDEX] * len(prompt_ids))
        + target_ids,
        "prompt_tokens": len(prompt_ids),
        "truncated": truncated,
    }


class TrainingDataset(torch.utils.data.Dataset):
    """Tokenized records in example order (a plain list, so every process builds the same one)."""

    def __init__(self, records: list[dict]):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        return self.records[index]

    @property
    def num_truncated(self) -> int:
        return sum(r["truncated"] for r in self.records)


def build_dataset(
    tokenizer,
    task: Task,
    examples: list[Example],
    method: Method,
    max_seq_length: int,
    loss_on: LossOn = "target",
) -> TrainingDataset:
    """Tokenize every example (see `build_record`)."""
    return TrainingDataset(
        [build_record(tokenizer, task, e, method, max_seq_length, loss_on) for e in examples]
    )


@dataclass
class PadCollator:
    """Pads a batch on the right to its longest record: pad id in `input_ids`, -100 in `labels`,
    0 in `attention_mask` (right padding keeps each row's positions those of the unpadded text)."""

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def padding_share(lengths: list[list[int]]) -> float:
    """Share of padding in batches of the given record lengths (one inner list per batch)."""
    padded = sum(max(b) * len(b) for b in lengths if b)
    real = sum(sum(b) for b in lengths)
    return 1 - real / padded if padded else 0.0


def grouped_padding_share(dataset: TrainingDataset, batch_size: int, seed: int = 0) -> float:
    """Padding share of one epoch of the length-grouped batches `Trainer` draws (HF's
    `LengthGroupedSampler` with the same batch size; the shuffle is seeded here)."""
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = [len(r["input_ids"]) for r in dataset.records]
    generator = torch.Generator().manual_seed(seed)
    order = get_length_grouped_indices(lengths, batch_size, generator=generator)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return padding_share([[lengths[i] for i in b] for b in batches])
