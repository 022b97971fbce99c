"""`ctxlab train` and `ctxlab export`: flags onto `TrainConfig`, then `train()` or `export()`."""

from __future__ import annotations

import argparse

from ctxlab.cli import _options
from ctxlab.errors import CtxlabError


def add_commands(sub) -> None:
    tr = sub.add_parser("train", help="fine-tune a model (SFT or scratchpad; LoRA, QLoRA or full)")
    _add_train(tr)
    tr.set_defaults(handler=cmd_train)
    exp = sub.add_parser("export", help="merge a training run's adapter into a standalone model")
    _add_export(exp)
    exp.set_defaults(handler=cmd_export)


def _bool_or_auto(text: str) -> bool | str:
    low = text.lower()
    if low in ("auto", "true", "false", "yes", "no", "1", "0"):
        return "auto" if low == "auto" else low in ("true", "yes", "1")
    raise argparse.ArgumentTypeError(f"expected auto, true or false, got {text!r}")


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="niah", help="task name (default niah)")
    p.add_argument("--data", required=True, help="training examples (.jsonl from `ctxlab data`)")
    p.add_argument("--val-data", help="validation examples: eval loss, best/ and early stopping")
    p.add_argument("--model", help="base model (default: the built-in smollm2-135m)")
    p.add_argument("--trust-remote-code", action="store_true", default=False)
    p.add_argument("-o", "--output", required=True, help="training directory to write")
    g = p.add_argument_group("training (defaults: ctxlab.training.TrainConfig)")
    g.add_argument("--method", choices=["sft", "scratchpad"])
    g.add_argument(
        "--peft",
        help="lora_r8_a16_qv, lora_r16_a32_qkvo (default), lora_r64_a128_all, any "
        "(q)lora_r<R>_a<A>_<qv|qkvo|all>, qlora_* (CUDA only), or none/full",
    )
    g.add_argument("--epochs", type=float)
    g.add_argument("--max-steps", type=int, help="optimizer steps; overrides --epochs")
    g.add_argument("--batch-size", type=int, help="per process")
    g.add_argument("--grad-accum", type=int, help="gradient accumulation steps")
    g.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--scheduler", choices=["none", "linear", "cosine"])
    g.add_argument("--warmup-ratio", type=float, help="share of steps with linear warmup")
    g.add_argument("--max-seq-length", type=int, help="longer prompts lose tokens on the left")
    g.add_argument("--gradient-checkpointing", action="store_true", default=None)
    g.add_argument("--eval-steps", type=int)
    g.add_argument("--save-steps", type=int)
    g.add_argument("--save-total-limit", type=int)
    g.add_argument("--logging-steps", type=int)
    g.add_argument(
        "--best-metric",
        choices=["val_loss", "task_metric"],
        help="what best/ keeps: lowest validation loss (default) or best task score on "
        "generated validation answers",
    )
    g.add_argument("--early-stopping-patience", type=int, help="evaluations without gain")
    g.add_argument("--early-stopping-min-delta", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--bf16", type=_bool_or_auto, help="auto (default), true or false")
    g.add_argument("--report-to", choices=["none", "tensorboard"])
    g.add_argument("--resume", action="store_true", default=None, help="continue -o's run")
    g.add_argument("--init-from", help="start from an earlier training run's final/ adapter")


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("train_dir", help="a training directory, `ctxlab run` directory or final/")
    p.add_argument(
        "--merge",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="merge the adapter into the base (default); --no-merge copies the adapter",
    )
    p.add_argument("--which", choices=["final", "best"], default="final")
    p.add_argument("--dtype", default="float32", help="weights dtype: float32 or bfloat16")
    p.add_argument("-o", "--output", required=True, help="model directory to write")


def cmd_train(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ctxlab.api import build_config
    from ctxlab.evaluation import make_task
    from ctxlab.models import DEFAULT_MODEL
    from ctxlab.tasks.base import read_jsonl
    from ctxlab.training import TrainConfig, train
    from ctxlab.training.trainer import resolve_init

    try:
        config = TrainConfig(**_options(args, tuple(TrainConfig.model_fields)))
    except ValidationError as err:
        first = err.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "input"
        raise CtxlabError(f"{flag}: {first['msg']} (got {first.get('input')!r})") from None
    task = make_task(build_config(task=args.task))
    model = args.model or resolve_init(config.init_from)[1].get("base_model") or DEFAULT_MODEL
    examples = read_jsonl(args.data)
    val = read_jsonl(args.val_data) if args.val_data else None
    for path, items in ((args.data, examples), (args.val_data, val or [])):
        other = sorted({e.task for e in items if e.task != task.name})
        if other:
            raise CtxlabError(f"{path} holds {other[0]!r} examples, not {task.name!r}: pass --task")
    result = train(
        config,
        model,
        examples,
        val,
        task,
        args.output,
        trust_remote_code=args.trust_remote_code,
        progress=True,
    )
    s = result.summary
    best = f", best val loss {s['best_val_loss']:.4f}" if s["best_val_loss"] is not None else ""
    if s["best_task_metric"] is not None:
        best = f", best {task.metrics[0]} {s['best_task_metric']:.2f}"
    early = " (stopped early)" if s["stopped_early"] else ""
    print(f"trained {s['steps']} steps{early}: final train loss {s['final_train_loss']:.4f}{best}")
    print(f"training directory: {result.out_dir} (final/: {result.final_dir})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ctxlab.training import export

    out = export(args.train_dir, args.output, merge=args.merge, which=args.which, dtype=args.dtype)
    print(f"exported model: {out} (load it with --model {out})")
    return 0
