"""The code each stage runs, derived from the source (for the Make graph; `python -m pipeline code-deps`).

A stage's command is `python -m pipeline STAGE`: it runs ``pipeline/__main__.py``, the CLI's top-level
imports, the module that registers the stage (``cli.STAGE_INDEX``) or, for a stage of the CLI's own, the
imports of its command function; and, transitively, every ``pipeline`` module those import (at the top
or inside a function: both run). To that come

- the data files a module reads: a string constant in it that names a folder or file beside the module
  or in ``pipeline/`` (``"templates"``, ``"static"``), not a Python package;
- the stages a module runs as subprocesses (it holds the constants ``"-m"`` and ``"pipeline"``): every
  string constant in it that is a stage's name adds that stage's code.

Derived on every change of the code, so that moving a function between modules can never leave a rule
with a stale list.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.model.problems import InputError, Problem, display_path

PACKAGE = "pipeline"
CLI = f"{PACKAGE}.cli"
_DATA_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


@dataclass
class _Module:
    path: Path
    imports: set[str] = field(default_factory=set)         # every pipeline module imported, anywhere
    top_imports: set[str] = field(default_factory=set)     # those imported at the module's top level
    function_imports: dict[str, set[str]] = field(default_factory=dict)
    strings: set[str] = field(default_factory=set)


class CodeGraph:
    """The modules under ``root/pipeline`` with what each imports and names."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.package = self.root / PACKAGE
        self._modules: dict[str, _Module] = {}

    # ------------------------------------------------------------------ modules

    def path_of(self, name: str) -> Path | None:
        """``pipeline.a.b`` -> ``pipeline/a/b.py`` or ``pipeline/a/b/__init__.py`` (None if neither)."""
        rel = Path(*name.split("."))
        for candidate in (self.root / rel.with_suffix(".py"), self.root / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def module(self, name: str) -> _Module:
        if name not in self._modules:
            path = self.path_of(name)
            if path is None:
                raise InputError(Problem(display_path(self.package), 0, "E-CODE-001",
                                         f"module '{name}' is imported but there is no such file"))
            self._modules[name] = self._parse(name, path)
        return self._modules[name]

    def _parse(self, name: str, path: Path) -> _Module:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError) as e:
            line = getattr(e, "lineno", 0) or 0
            raise InputError(Problem(display_path(path), line, "E-CODE-002", f"cannot be parsed: {e}")) from None
        mod = _Module(path)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                mod.strings.add(node.value)
        for node in tree.body:
            mod.top_imports |= self._imports_in(node, name, is_package, top_level=True)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                mod.function_imports[node.name] = set().union(
                    *(self._imports_in(n, name, is_package) for n in node.body))
        mod.imports = set().union(*(self._imports_in(n, name, is_package) for n in tree.body))
        return mod

    def _imports_in(self, node: ast.AST, current: str, is_package: bool, top_level: bool = False) -> set[str]:
        """The pipeline modules imported in ``node`` (with ``top_level``, not inside a def or class)."""
        found: set[str] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if top_level and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            if isinstance(n, ast.Import):
                found |= {a.name for a in n.names if a.name.split(".")[0] == PACKAGE}
            elif isinstance(n, ast.ImportFrom):
                base = self._absolute(n, current, is_package)
                if base and base.split(".")[0] == PACKAGE:
                    for a in n.names:
                        sub = f"{base}.{a.name}"
                        found.add(sub if a.name != "*" and self.path_of(sub) else base)
            stack.extend(ast.iter_child_nodes(n))
        # importing a.b.c runs a/__init__.py and a/b/__init__.py too
        for name in list(found):
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts))}
        return found

    @staticmethod
    def _absolute(node: ast.ImportFrom, current: str, is_package: bool) -> str | None:
        if not node.level:
            return node.module
        parts = current.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        if keep <= 0:
            return None
        base = ".".join(parts[:keep])
        return f"{base}.{node.module}" if node.module else base

    # ------------------------------------------------------------------ closures

    def closure(self, names: set[str], stage_modules: dict[str, str]) -> set[Path]:
        """Every file run or read when ``names`` are imported: the modules, transitively, their data
        files, and the code of the stages they run as subprocesses."""
        seen: set[str] = set()
        todo = sorted(names)
        files: set[Path] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            parts = name.split(".")
            todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) not in seen)
            mod = self.module(name)
            files.add(mod.path)
            files |= self._data_files(mod)
            # the CLI's own command functions import what their stage needs: each counts for its stage only
            todo.extend((mod.top_imports if name == CLI else mod.imports) - seen)
            if {"-m", PACKAGE} <= mod.strings:
                for stage in sorted(mod.strings & stage_modules.keys()):
                    todo.append(f"{PACKAGE}.{stage_modules[stage]}")
        return files

    def _data_files(self, mod: _Module) -> set[Path]:
        out: set[Path] = set()
        for s in mod.strings:
            if not _DATA_NAME.match(s) or s.endswith(".py"):
                continue
            for base in (mod.path.parent, self.package):
                target = base / s
                if target.is_dir() and not (target / "__init__.py").exists():
                    out |= {f for f in target.rglob("*") if f.is_file() and _is_data(f)}
                elif target.is_file() and _is_data(target) and target != mod.path:
                    out.add(target)
        return out


def _is_data(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".py", ".pyc")


def stage_code(root: Path, stage_modules: dict[str, str], builtin: dict[str, str]) -> dict[str, list[str]]:
    """For each stage, the files (relative to ``root``) its command runs or reads, sorted.

    ``stage_modules``: stage -> module under pipeline (``cli.STAGE_INDEX``); ``builtin``: stage -> the
    name of its command function in ``pipeline/cli.py``."""
    graph = CodeGraph(root)
    cli = graph.module(CLI)

    def files(extra: set[str]) -> list[str]:
        found = graph.closure({f"{PACKAGE}.__main__", CLI} | extra, stage_modules)
        return sorted(p.relative_to(root).as_posix() for p in found)

    out: dict[str, list[str]] = {}
    for stage, module in sorted(stage_modules.items()):
        out[stage] = files({f"{PACKAGE}.{module}"})
    for stage, function in sorted(builtin.items()):
        out[stage] = files(set(cli.function_imports.get(function, set())))
    return out


def code_mk(code: dict[str, list[str]]) -> str:
    lines = ["# generated by `python -m pipeline code-deps`: the files each stage's command runs or reads",
             "# (its modules, transitively, and their templates and static files)", ""]
    for stage, files in sorted(code.items()):
        lines.append(f"CODE_{stage} := " + " ".join(files))
    return "\n".join(lines) + "\n"
