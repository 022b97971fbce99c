"""Command-line flags generated from config fields, so a flag and its config key never drift.

Each field of a pydantic section becomes `--field-name` (help from the field's description,
choices from a `Literal`, `--x/--no-x` for a bool, a comma list for a list, which a
repeated flag extends), plus the flags named
in its `json_schema_extra` (`"flag"` replaces the name, `"aliases"` adds more; an alias of a bool
that starts with `--no-` sets it False). Values stay strings and are validated by the config
model itself, so a bad value is refused with the config key it belongs to.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

SUPPRESS = argparse.SUPPRESS
FLAG_OF: dict[str, str] = {}  # dotted config key -> the flag that sets it, for error messages


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class _Extend(argparse.Action):
    """A list flag: a comma list, and a repeated flag adds to it (`--model a --model b`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *values])


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    section: type[BaseModel],
    prefix: str = "",
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
) -> dict[str, str]:
    """Add a flag for each scalar field of `section`; returns {argparse dest: dotted key}."""
    keys: dict[str, str] = {}
    wanted = set(only) if only is not None else None
    for name, field in section.model_fields.items():
        annotation = _unwrap(field.annotation)
        if name in skip or (wanted is not None and name not in wanted) or _is_section(annotation):
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        primary = str(extra.get("flag", "--" + name.replace("_", "-")))
        aliases = [str(a) for a in extra.get("aliases", [])]  # type: ignore[union-attr]
        dest = (prefix + name).replace(".", "__")
        default = None if field.is_required() else field.default
        help_text = field.description or name.replace("_", " ")
        if field.is_required():
            help_text += " (required)"
        elif default not in (None, [], "") and not callable(default):
            help_text += f" (default: {_show(default)})"
        kwargs: dict[str, Any] = {"dest": dest, "default": None, "help": help_text}
        if annotation is bool:
            parser.add_argument(primary, action=argparse.BooleanOptionalAction, **kwargs)
            for alias in aliases:
                parser.add_argument(
                    alias,
                    dest=dest,
                    action="store_const",
                    const=not alias.startswith("--no-"),
                    default=None,
                    help=SUPPRESS,
                )
        else:
            if typing.get_origin(annotation) is Literal:
                kwargs["choices"] = [str(c) for c in typing.get_args(annotation)]
            elif typing.get_origin(annotation) is list:
                kwargs.update(type=_csv, action=_Extend, metavar="A,B,...")
            else:
                kwargs["metavar"] = name.upper()
            parser.add_argument(primary, *aliases, **kwargs)
        keys[dest] = prefix + name
        FLAG_OF[prefix + name] = primary
    return keys


def name_flags(message: str) -> str:
    """`config key 'training.learning_rate' ...` -> `... (--learning-rate) ...`, so an error
    names the flag the user typed as well as the key."""
    return re.sub(
        r"config key '([^']+)'",
        lambda m: m.group(0) + (f" ({FLAG_OF[m.group(1)]})" if m.group(1) in FLAG_OF else ""),
        message,
    )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def updates(args: argparse.Namespace, keys: dict[str, str]) -> dict[str, Any]:
    """{dotted key: value} of the flags the user gave."""
    return {
        key: getattr(args, dest)
        for dest, key in keys.items()
        if getattr(args, dest, None) is not None
    }


def command_config(
    args: argparse.Namespace,
    schema: type[BaseModel],
    given: dict[str, Any] | None = None,
    keep: tuple[str, ...] | None = None,
) -> Any:
    """The validated config of a command that is not a recipe: `--config` (its `keep` sections),
    the generated flags, `given` (positionals and the like; empty values left out), `--set`."""
    from ctxlab.config import assemble, validate_config

    extra = {k: v for k, v in (given or {}).items() if v not in (None, [])}
    raw = assemble(args.config, {**updates(args, args.keys), **extra}, args.sets, keep)
    return validate_config(raw, schema)  # type: ignore[arg-type]


def add_config(parser: argparse.ArgumentParser) -> None:
    """`--config` and `--set`, which every command takes."""
    parser.add_argument("--config", help="a preset name (see `ctxlab presets`) or a YAML file")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set eval.batch_size=4 (applied last)",
    )
