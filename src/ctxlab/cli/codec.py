"""`ctxlab codec train --kind autoencoder|minilm -o DIR`: a sentence codec for the sentence LM
(`ctxlab run sentence-niah --codec DIR`), trained on sentences of ctxlab's own NIAH generator
drawn with the codec's seed; `--exclude FILE` leaves out every sentence holding an answer of an
examples file (an evaluation split)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field

from ctxlab.cli.common import quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, command_config
from ctxlab.errors import CtxlabError
from ctxlab.sentence.codec_train import CodecTrainConfig


class CodecCommand(CodecTrainConfig):
    output: str = Field(
        description="codec directory to write (codec.json and weights)",
        json_schema_extra={"flag": "-o", "aliases": ["--output"]},
    )
    exclude: list[str] = Field(
        [], description="examples jsonl files whose answers the codec must never see"
    )


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    sub = parser.add_subparsers(dest="codec_command", required=True)
    train = sub.add_parser("train", help="train a tiny, autoencoder or minilm sentence codec")
    keys = add_flags(train, CodecCommand)
    add_config(train)
    train.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.io import read_jsonl
    from ctxlab.sentence.codec import CARD
    from ctxlab.sentence.codec_train import codec_corpus, make_codec, train_codec

    quiet_libraries()
    config: CodecCommand = command_config(args, CodecCommand)
    out = Path(config.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not (out / CARD).is_file():
        raise CtxlabError(f"{out} exists and is not a codec directory: pass a new directory (-o)")
    forbidden = [
        a
        for path in config.exclude
        for r in read_jsonl(path, "examples")
        for a in r.get("answers", [])
    ]
    corpus = codec_corpus(config, forbidden)
    codec = make_codec(config)
    params = sum(p.numel() for p in codec.net.parameters())
    print(f"codec: {codec.describe()}, {params:,} parameters; {len(corpus):,} sentences")
    codec.training = train_codec(codec, corpus, config)
    codec.save(out)
    held = codec.training["held_out"]
    numbers = f", 7-digit numbers {held['numbers']:.1f}%" if "numbers" in held else ""
    seconds = codec.training["seconds"]
    print(f"held-out reconstruction: exact {held.get('exact', 0):.1f}%{numbers} ({seconds} s)")
    print(f"codec directory: {out}")
    return 0
