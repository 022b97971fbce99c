"""Validated configuration: the sections every recipe shares (task, model, eval, run).

A config is built from a YAML preset (a path, `configs/NAME.yaml` in the working directory, or
one shipped inside the package under `ctxlab/presets/`), then CLI flags, then `--set
dotted.key=value` overrides. Every preset names its recipe (`recipe: finetune`); each recipe's
config class adds its own sections. Unknown keys and wrong types are rejected with the dotted
key and what was expected, before anything is loaded or written.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ctxlab.errors import CtxlabError
from ctxlab.models import DEFAULT_MODEL
from ctxlab.models.rope import parse_rope_scaling
from ctxlab.tasks.base import TaskConfig, get_task_class

USER_PRESETS = Path("configs")  # a user's own presets, beside their work, win over ours


class Section(BaseModel):
    """A config section: unknown keys are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ModelConfig(Section):
    name: str = Field(
        DEFAULT_MODEL,
        description="smollm2-135m (built in), a model directory, a .gguf file, or a hub id "
        "(online only)",
        json_schema_extra={"flag": "--model"},
    )
    dtype: str = Field("auto", description="auto (bf16 where native, else fp32), float32, bfloat16")
    device: str = Field("auto", description="auto, cpu or cuda")
    trust_remote_code: bool = Field(False, description="run a hub model's own code (off)")
    rope_scaling: str | None = Field(
        None,
        description="linear, dynamic or yarn[:FACTOR] (factor 2 by default): stretch a RoPE "
        "model's window past the one it was trained on",
    )
    backend: Literal["hf", "openai", "vllm"] = Field(
        "hf",
        description="hf (in process), openai (an OpenAI-compatible server; also --model "
        "openai:NAME) or vllm (GPU)",
    )
    base_url: str | None = Field(
        None, description="the openai backend's server, e.g. http://127.0.0.1:8000/v1"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="environment variable holding the server's API key"
    )
    tokenizer: str | None = Field(
        None, description="the served model's tokenizer, to count prompt tokens (openai backend)"
    )
    concurrency: int = Field(8, ge=1, description="requests in flight at once (openai backend)")
    timeout_s: float = Field(120.0, gt=0, description="seconds per request (openai backend)")
    tensor_parallel: int = Field(1, ge=1, description="GPUs per model (vllm backend)")
    adapter: str | None = Field(
        None, description="a training run's adapter to evaluate on the model (hf, vllm)"
    )

    @field_validator("rope_scaling")
    @classmethod
    def _known_scaling(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rope_scaling(value)
        return value


class EvalConfig(Section):
    batch_size: int = Field(8, ge=1, description="prompts decoded together")
    max_new_tokens: int | None = Field(None, ge=1, description="generation budget (task's own)")
    prompt_lookup: bool = Field(
        True,
        description="greedy decoding drafts tokens by copying from the prompt and checks them in "
        "one pass (same output, fewer passes; hf backend, bf16/fp16 or GPU: fp32 on a CPU "
        "decodes a token a pass, where checking drafts cost more than it saved)",
    )
    lookup_ngram: int = Field(3, ge=1, description="longest n-gram prompt lookup matches")
    lookup_min_ngram: int = Field(1, ge=1, description="shortest n-gram prompt lookup matches")
    lookup_draft: int = Field(8, ge=1, description="tokens prompt lookup drafts per pass")
    print_outputs: bool = Field(False, description="print every prediction with its score")
    progress: bool = Field(True, description="show progress bars")
    resume: bool = Field(
        False,
        description="continue the failed eval run of this name and config (a rerun of the "
        "same command does so too; --resume insists)",
    )

    @field_validator("lookup_min_ngram")
    @classmethod
    def _ngram_range(cls, value: int, info: ValidationInfo) -> int:
        longest = info.data.get("lookup_ngram")
        if longest is not None and value > longest:
            raise ValueError(f"must be at most lookup_ngram ({longest})")
        return value

    def lookup(self, model=None):
        """The engine's prompt-lookup setting (`ctxlab.lookup.PromptLookup`) for `model`, None
        when off or where it does not pay (`generation.lookup_where_it_pays`)."""
        from ctxlab.generation import lookup_where_it_pays
        from ctxlab.lookup import PromptLookup

        if not self.prompt_lookup:
            return None
        drafting = PromptLookup(self.lookup_ngram, self.lookup_min_ngram, self.lookup_draft)
        return lookup_where_it_pays(model, drafting)


class RunConfig(Section):
    name: str = Field("eval", description="run name: the run goes to RUNS_DIR/NAME/<stamp>/")
    runs_dir: str = Field("runs", description="where runs go")
    report_to: Literal["none", "mlflow"] = Field(
        "none",
        description="also log the finished run to MLflow (RUNS_DIR/mlflow.db, or "
        "$MLFLOW_TRACKING_URI)",
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value or value.startswith("."):
            raise ValueError("a run name must be a plain directory name (no '/', not hidden)")
        return value


class RecipeConfig(Section):
    """The root of every recipe's config: which recipe it is, and where its run goes.
    `shortcuts` are the recipe's extra `ctxlab run` flags: flag -> (dotted key, constant), the
    constant None for a flag that takes a value."""

    shortcuts: ClassVar[dict[str, tuple[str, Any]]] = {}

    recipe: str
    run: RunConfig = RunConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class Config(RecipeConfig):
    """The `eval` recipe's config, and the base of the recipes that evaluate a model."""

    recipe: Literal["eval"] = "eval"
    task: SerializeAsAny[TaskConfig] = TaskConfig()
    model: ModelConfig = ModelConfig()
    eval: EvalConfig = EvalConfig()


def _expected(error: dict, owner: str) -> str:
    if error["type"] == "missing":
        return "is required: give it as a flag or with --set"
    if error["type"] == "extra_forbidden":
        return f"is not a known key of {owner}: check its spelling (see `ctxlab presets`)"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {error.get('input')!r})"


def _raise(err: ValidationError, owner: str, prefix: str = "") -> None:
    first = err.errors()[0]
    key = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    raise CtxlabError(f"config key '{key}' {_expected(first, owner)}") from None


def validate_config(raw: dict[str, Any], schema: type[RecipeConfig] = Config) -> Any:
    """Validate a nested dict against a recipe's config class; a task section is checked
    against its own task's fields."""
    if not isinstance(raw, dict):
        raise CtxlabError("a config must be a YAML mapping of sections (task, model, eval, run)")
    field = schema.model_fields.get("recipe")
    recipe = field.default if field is not None else "command"
    if field is not None:
        raw = {**raw, "recipe": raw.get("recipe", recipe)}
    if "task" in schema.model_fields and isinstance(raw.get("task", {}), dict):
        task_raw = dict(raw.get("task") or {})
        task_class = get_task_class(task_raw.get("name", "niah"))
        try:
            raw["task"] = task_class.config_class.model_validate(task_raw)
        except ValidationError as err:
            _raise(err, f"the {task_class.name!r} task", "task")
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        _raise(err, f"the {recipe!r} recipe" if field is not None else "this command")
    raise AssertionError("unreachable")


def _shipped() -> dict[str, Any]:
    """The presets inside the package (found from any working directory, wheel installs too)."""
    folder = resources.files("ctxlab") / "presets"
    return {p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def preset_names() -> list[str]:
    user = {p.stem for p in USER_PRESETS.glob("*.yaml")} if USER_PRESETS.is_dir() else set()
    return sorted(user | set(_shipped()))


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by path, by name in the user's `configs/`, or by name among the shipped ones."""
    shipped = _shipped()
    candidates = [Path(name_or_path), USER_PRESETS / f"{name_or_path}.yaml"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None and name_or_path in shipped:
        found = shipped[name_or_path]
    if found is None:
        raise CtxlabError(
            f"no preset {name_or_path!r}: pass a YAML file or one of {', '.join(preset_names())}"
        )
    try:
        data = yaml.safe_load(found.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise CtxlabError(f"preset {name_or_path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise CtxlabError(f"preset {name_or_path} must be a YAML mapping")
    return data


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating sections as needed."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise CtxlabError(f"config key '{key}': '{part}' is a value, not a section")
    node[parts[-1]] = value


def assemble(
    preset: str | None,
    updates: dict[str, Any],
    sets: list[str] | tuple[str, ...] = (),
    keep: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A command's raw config: the preset (a name or path; only its `keep` sections when
    given), then the dotted-key `updates` its flags make, then the `--set` strings."""
    raw = load_preset(preset) if preset else {}
    if keep is not None:
        raw = {k: v for k, v in raw.items() if k in keep}
    for key, value in updates.items():
        set_dotted(raw, key, value)
    return apply_overrides(raw, list(sets))


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
