"""The shape of the package: no import loops, every shipped preset valid and found from anywhere
(a non-editable install too), recipes registered by name, and a CLI that starts light."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxlab.config import load_preset, preset_names, validate_config
from ctxlab.recipes import BUILTIN, get_recipe

SRC = Path(__file__).resolve().parents[1] / "src"
PRESETS = Path(__file__).resolve().parents[1] / "src" / "ctxlab" / "presets"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every ctxlab module `path` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("ctxlab")}


def test_no_import_cycles():
    files = {_module(p): p for p in (SRC / "ctxlab").rglob("*.py")}
    graph = {m: {t for t in _imports(p, m) if t in files and t != m} for m, p in files.items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (loop := visit(nxt)):
                return loop
        state[node] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            loop = visit(module)
            assert loop is None, " -> ".join(loop)
    assert len(graph) > 50 and graph["ctxlab.recipes.finetune"]  # the walk saw the package


@pytest.mark.parametrize("name", sorted(p.stem for p in PRESETS.glob("*.yaml")))
def test_every_shipped_preset_names_its_recipe_and_validates(name):
    raw = load_preset(name)
    assert raw.get("recipe") in BUILTIN, f"preset {name} must name its recipe"
    config = validate_config(raw, get_recipe(raw["recipe"]).config_class)
    assert config.recipe == raw["recipe"]


def test_presets_are_found_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert set(preset_names()) >= {p.stem for p in PRESETS.glob("*.yaml")}
    assert load_preset("niah-quick")["recipe"] == "finetune"
    mine = tmp_path / "configs"  # a user's own configs/ wins over the shipped preset
    mine.mkdir()
    (mine / "niah-quick.yaml").write_text("recipe: eval\n", encoding="utf-8")
    assert load_preset("niah-quick") == {"recipe": "eval"}


def test_every_recipe_is_registered_by_name():
    for name in BUILTIN:
        recipe = get_recipe(name)
        assert recipe.name == name and recipe.config_class.model_fields["recipe"].default == name


def _python(code: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_and_models_import_no_heavy_library(tmp_path):
    code = (
        "import contextlib, io, sys\n"
        "from ctxlab.cli.main import main\n"
        "for argv in (['--help'], ['models'], ['presets']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'z3', 'faiss', 'scipy') "
        "if m in sys.modules))\n"
    )
    assert _python(code, tmp_path).strip() == "[]"


def test_a_wheel_install_finds_every_preset(tmp_path):
    """Build the wheel, install it (not editable) into a folder, and load every preset from a
    working directory outside the repository."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(wheels), str(SRC.parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("ctxlab-*.whl"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target)]
        + [str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    code = (
        "import ctxlab, ctxlab.config as c\n"
        "print(ctxlab.__file__)\n"
        "print(' '.join(sorted(n for n in c.preset_names() if c.load_preset(n)['recipe'])))\n"
    )
    where, names = _python(code, tmp_path, {"PYTHONPATH": str(target)}).splitlines()
    assert where.startswith(str(target))
    assert names.split() == sorted(p.stem for p in PRESETS.glob("*.yaml"))
