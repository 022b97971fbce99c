"""A ctxlab data file as an lm-evaluation-harness task (`ctxlab export-task`), so a team that runs
everything through lm-eval can run ctxlab's generated tasks there and get ctxlab's scores.

The task directory holds the YAML (a `generate_until` task over a local jsonl: the user turn as
`doc_to_text`, the answer prefix as `gen_prefix`, the task's stop strings and budget), the data,
and `utils.py`, whose `process_results` scores each completion with ctxlab's own task, so the
metric is the same code on both sides. The prompt is the model's chat template with the prefix
continued, which is what ctxlab renders: run lm-eval with `--apply_chat_template`.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ctxlab.errors import CtxlabError
from ctxlab.io import write_text
from ctxlab.tasks.base import get_task_class, read_jsonl

UTILS = '''"""ctxlab's scoring of this task, for lm-evaluation-harness (written by
`ctxlab export-task`; needs ctxlab installed where lm-eval runs)."""

import json

from ctxlab.tasks.base import Example, get_task_class

TASK_CONFIG = json.loads({config!r})
_tasks = {{}}


def _task():
    if "task" not in _tasks:
        cls = get_task_class(TASK_CONFIG["name"])
        _tasks["task"] = cls(cls.config_class(**TASK_CONFIG))
    return _tasks["task"]


def process_results(doc, results):
    """The completion scored by ctxlab's task: {{metric: score in percent}}."""
    task = _task()
    fields = ("id", "task", "input", "answers", "answer_prefix", "target")
    example = Example(**{{k: doc[k] for k in fields if doc.get(k) is not None}},
                      meta=json.loads(doc["meta"]))
    ((_, scores),) = task.score_batch([example], [results[0]])
    return {{metric: scores[metric] for metric in task.metrics}}
'''


def export_task(data: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """Write the lm-eval task of an examples file into `out_dir`; returns the YAML's path."""
    data, out_dir = Path(data), Path(out_dir)
    if name is not None and not name.replace("_", "").replace("-", "").isalnum():
        raise CtxlabError(f"task name {name!r}: use letters, digits, - and _")
    examples = read_jsonl(data)
    tasks = sorted({e.task for e in examples})
    if len(tasks) != 1:
        raise CtxlabError(f"{data} mixes the tasks {tasks}: export one task's file at a time")
    cls = get_task_class(tasks[0])
    task = cls(cls.config_class(name=tasks[0]))
    name = name or "ctxlab_" + "".join(c if c.isalnum() else "_" for c in data.name.split(".")[0])
    docs = [
        {
            "id": e.id,
            "task": e.task,
            "input": e.input,
            "answers": e.answers,
            "answer_prefix": e.answer_prefix,
            "target": e.target,
            "meta": json.dumps(e.meta, ensure_ascii=False),  # one column type for every task
        }
        for e in examples
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = write_text(
        out_dir / f"{name}.jsonl", "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    )
    spec = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_path.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "input",
        "doc_to_target": "{{answers[0]}}",
        "gen_prefix": "answer_prefix",
        "target_delimiter": "",
        "generation_kwargs": {
            "until": list(task.stop),
            "max_gen_toks": task.max_new_tokens,
            "do_sample": False,
        },
        "process_results": "!function utils.process_results",
        "metric_list": [
            {"metric": m, "aggregation": "mean", "higher_is_better": True} for m in task.metrics
        ],
        "metadata": {"version": 1.0, "ctxlab_task": task.name},
    }
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    text = text.replace("'!function utils.process_results'", "!function utils.process_results")
    write_text(out_dir / "utils.py", UTILS.format(config=json.dumps(task.config.model_dump())))
    header = (
        f"# {name}: {len(docs)} examples of ctxlab's {task.name} task from {data.name}.\n"
        f"# lm_eval --model hf --model_args pretrained=MODEL --include_path {out_dir} "
        f"--tasks {name} --apply_chat_template\n"
    )
    return write_text(out_dir / f"{name}.yaml", header + text)
