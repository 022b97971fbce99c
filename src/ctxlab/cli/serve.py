"""`ctxlab serve MODEL [--adapter DIR] [--host H] [--port P]`: an OpenAI-compatible
chat-completions server over ctxlab's engine (see `ctxlab.serve`)."""

from __future__ import annotations

import argparse

from pydantic import Field

from ctxlab.cli.common import quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, command_config
from ctxlab.config import Section
from ctxlab.models import DEFAULT_MODEL


class ServeConfig(Section):
    model: str = Field(
        DEFAULT_MODEL, description="smollm2-135m (built in), a model directory or a .gguf file"
    )
    adapter: str | None = Field(
        None, description="a training run's weights to serve on the model (its final/ or run dir)"
    )
    name: str | None = Field(None, description="the model name clients ask for (the model's)")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    batch_size: int = Field(8, ge=1, description="concurrent requests decoded together")
    max_tokens: int = Field(256, ge=1, description="completion budget when a request sets none")
    dtype: str = Field("auto", description="auto (bf16 where native, else fp32), float32, bfloat16")


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("model", nargs="?", help=ServeConfig.model_fields["model"].description)
    keys = add_flags(parser, ServeConfig, skip=("model",))
    add_config(parser)
    parser.set_defaults(keys=keys)


def load_served(config: ServeConfig):
    """The model to serve: the base, with a training run's adapter merged when given."""
    from ctxlab.models import load_model
    from ctxlab.recipes.common import load_policy
    from ctxlab.training.export import find_weights

    base = load_model(config.model, config.dtype)
    if config.adapter is None:
        return base
    return load_policy(base, find_weights(config.adapter), f"{base.name} + {config.adapter}")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ctxlab.serve import make_app

    quiet_libraries()
    given = {"model": args.model} if args.model else {}
    config: ServeConfig = command_config(args, ServeConfig, given)
    loaded = load_served(config)
    name = config.name or (config.model if config.adapter is None else loaded.name)
    app = make_app(loaded, name, config.batch_size, config.max_tokens)
    print(f"serving {name!r} on http://{config.host}:{config.port}/v1 (ctrl-c stops)")
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0
