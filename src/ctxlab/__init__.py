"""ctxlab: make language models use their context better, and prove it with numbers."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so `import ctxlab` (and `ctxlab --help`) does not pay for importing torch.
    if name in ("generate_data", "evaluate", "build_config"):
        from ctxlab import api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["build_config", "evaluate", "generate_data"]
