"""`ctxlab tokenizer train FILES... --vocab-size N -o DIR`: a byte-level BPE tokenizer for a
from-scratch model, with its compression against the built-in tokenizer."""

from __future__ import annotations

import argparse

from pydantic import Field

from ctxlab.cli.common import quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, command_config
from ctxlab.config import Section


class TokenizerConfig(Section):
    paths: list[str] = Field([], description="text/markdown files, jsonl(.gz) passages, folders")
    vocab_size: int = Field(8000, description="tokens in the vocabulary (bytes and specials too)")
    output: str = Field(
        description="tokenizer directory to write",
        json_schema_extra={"flag": "-o", "aliases": ["--output"]},
    )
    held_out: float = Field(0.1, ge=0, lt=1, description="share of texts kept out to measure")
    min_frequency: int = Field(2, ge=1, description="pairs seen fewer times are not merged")
    seed: int = Field(0, description="seed of the held-out share")


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    sub = parser.add_subparsers(dest="tokenizer_command", required=True)
    train = sub.add_parser("train", help="train a byte-level BPE tokenizer on text files")
    train.add_argument("paths", nargs="*", help=TokenizerConfig.model_fields["paths"].description)
    keys = add_flags(train, TokenizerConfig, skip=("paths",))
    add_config(train)
    train.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.training.tokenizer import train_and_save

    quiet_libraries()
    config: TokenizerConfig = command_config(args, TokenizerConfig, {"paths": args.paths})
    s = train_and_save(
        config.paths,
        config.vocab_size,
        config.output,
        config.held_out,
        config.min_frequency,
        config.seed,
    )
    builtin = (
        f" (built-in tokenizer: {s.builtin_chars_per_token:.2f})"
        if s.builtin_chars_per_token
        else ""
    )
    print(
        f"tokenizer: {s.vocab_size} tokens from {s.train_texts} texts "
        f"({s.train_chars:,} characters) in {s.train_s:.1f} s; held-out "
        f"{s.chars_per_token:.2f} characters a token{builtin}; round trip "
        f"{'exact' if s.round_trip else 'NOT exact'}"
    )
    print(f"tokenizer directory: {config.output}")
    return 0
