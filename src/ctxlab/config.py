"""Validated configuration: task, model, evaluation and run settings.

A config is built from a YAML preset (`configs/NAME.yaml` or a path), then CLI flags, then
`--set dotted.key=value` overrides. Unknown keys and wrong types are rejected with the dotted key
and what was expected, before anything is loaded or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from ctxlab.errors import CtxlabError
from ctxlab.models import DEFAULT_MODEL
from ctxlab.tasks.base import TaskConfig, get_task_class

PRESET_DIRS = (Path("configs"), Path(__file__).resolve().parents[2] / "configs")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    name: str = DEFAULT_MODEL
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False


class EvalConfig(_Strict):
    batch_size: int = Field(8, ge=1)
    max_new_tokens: int | None = Field(None, ge=1)
    print_outputs: bool = False
    progress: bool = True


class RunConfig(_Strict):
    name: str = "eval"
    runs_dir: str = "runs"

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value or value.startswith("."):
            raise ValueError("a run name must be a plain directory name (no '/', not hidden)")
        return value


class Config(_Strict):
    task: SerializeAsAny[TaskConfig] = TaskConfig()
    model: ModelConfig = ModelConfig()
    eval: EvalConfig = EvalConfig()
    run: RunConfig = RunConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _expected(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "is not a known key: check its spelling (see configs/ for examples)"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {error.get('input')!r})"


def _raise(err: ValidationError, prefix: str = "") -> None:
    first = err.errors()[0]
    key = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    raise CtxlabError(f"config key '{key}' {_expected(first)}") from None


def validate_config(raw: dict[str, Any], schema: type[Config] = Config) -> Config:
    """Validate a nested dict; the task section is checked against its own task's fields."""
    if not isinstance(raw, dict):
        raise CtxlabError("a config must be a YAML mapping of sections (task, model, eval, run)")
    task_raw = dict(raw.get("task") or {})
    task_class = get_task_class(task_raw.get("name", "niah"))
    try:
        task = task_class.config_class.model_validate(task_raw)
    except ValidationError as err:
        _raise(err, "task")
    try:
        return schema.model_validate({**raw, "task": task})
    except ValidationError as err:
        _raise(err)
    raise AssertionError("unreachable")


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (`configs/NAME.yaml`) or by path."""
    candidates = [Path(name_or_path)] + [d / f"{name_or_path}.yaml" for d in PRESET_DIRS]
    for path in candidates:
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as err:
                raise CtxlabError(f"preset {path} is not valid YAML: {err}") from None
            if not isinstance(data, dict):
                raise CtxlabError(f"preset {path} must be a YAML mapping")
            return data
    names = sorted({p.stem for d in PRESET_DIRS if d.is_dir() for p in d.glob("*.yaml")})
    raise CtxlabError(f"no preset {name_or_path!r}: pass a YAML file or one of {', '.join(names)}")


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating sections as needed."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise CtxlabError(f"config key '{key}': '{part}' is a value, not a section")
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set dotted.key=value` strings; values are parsed as YAML (`512`, `[1, 2]`)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CtxlabError(f"--set {item!r} must look like dotted.key=value")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        set_dotted(raw, key.strip(), value)
    return raw
