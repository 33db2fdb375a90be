"""Do a bake's references to its own modules resolve to files that exist, and is every module used?

Read from the source with ``ast`` (nothing is imported): ``from pkg.x import y``, relative imports,
``import pkg.x``, and dotted strings such as entry points (``pkg.cli:app``) and mock targets.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

from .baking import Bake, text_files


@cache
def parse(text: str) -> ast.Module:
    """Most files are identical across bakes: parse each distinct text once."""
    return ast.parse(text)


# Every module has these without defining them.
MODULE_ATTRIBUTES = frozenset({"__doc__", "__file__", "__name__", "__package__", "__spec__"})


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a module defines at import time (including under module-level if/try/with)."""
    names: set[str] = set(MODULE_ATTRIBUTES)
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending += getattr(node, field, [])
        elif isinstance(node, ast.ExceptHandler):
            pending += node.body
    return names


class OwnModules:
    """Resolves dotted references into the bake's own modules against the files that exist.

    The package lives under ``src/``; the tests (a package too) and benchmarks under the root.
    """

    def __init__(self, bake: Bake):
        self.roots = (bake.source.parent, bake.root)
        self._names: dict[Path, set[str]] = {}
        self.resolved: set[Path] = set()  # every module file some reference resolved to

    def dotted_name(self, directory: Path) -> tuple[str, ...]:
        root = next(root for root in self.roots if directory.is_relative_to(root))
        return directory.relative_to(root).parts

    def module_file(self, dotted: str) -> Path | None:
        for root in self.roots:
            base = root.joinpath(*dotted.split("."))
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    self.resolved.add(candidate)
                    return candidate
        return None

    def defines(self, module: Path, name: str) -> bool:
        submodule = ".".join([*self.dotted_name(module.parent), name])
        if module.name == "__init__.py" and self.module_file(submodule):
            return True
        if module not in self._names:
            self._names[module] = top_level_names(parse(module.read_text(encoding="utf-8")))
        return name in self._names[module]

    def is_namespace_package(self, dotted: str) -> bool:
        """A folder of modules without ``__init__.py`` (``serving/``): Python imports it too."""
        return any(root.joinpath(*dotted.split(".")).is_dir() for root in self.roots)

    def problem(self, dotted: str, names: list[str]) -> str | None:
        """Why ``from dotted import names`` (or ``import dotted`` when names is empty) fails."""
        module = self.module_file(dotted)
        if module is None and self.is_namespace_package(dotted):
            missing = [name for name in names if not self.module_file(f"{dotted}.{name}")]
            return f"{dotted} has no module {missing}" if missing else None
        if module is None:
            return f"no module {dotted}"
        missing = [name for name in names if name != "*" and not self.defines(module, name)]
        return f"{dotted} does not define {missing}" if missing else None

    def reference_problem(self, reference: str) -> str | None:
        """A 'pkg.module[.attribute]' or 'pkg.module:attribute' string (entry points, mocks)."""
        dotted, _, attribute = reference.partition(":")
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            if self.module_file(".".join(parts[:cut])):
                rest = parts[cut:] + ([attribute] if attribute else [])
                return self.problem(".".join(parts[:cut]), rest[:1])
        return f"no module {dotted}"


def own_import_problems(
    bake: Bake, modules: OwnModules | None = None, files: list[Path] | None = None
) -> list[str]:
    """Imports and dotted references of the bake's own modules that do not resolve."""
    modules = modules or OwnModules(bake)
    reference = re.compile(rf"{bake.package}(?:\.[a-z_]\w*)+(?::\w+)?")
    problems = []
    for path in text_files(bake.root) if files is None else files:
        relative = path.relative_to(bake.root)
        text = path.read_text(encoding="utf-8")
        if path.name == "pyproject.toml":
            scripts = tomllib.loads(text).get("project", {}).get("scripts", {})
            found = (modules.reference_problem(target) for target in scripts.values())
            problems += [f"{relative}: {problem}" for problem in found if problem]
        if path.suffix != ".py":
            continue
        for node in ast.walk(parse(text)):
            problem = None
            if isinstance(node, ast.ImportFrom):
                dotted = node.module or ""
                if node.level:
                    here = modules.dotted_name(path.parent)
                    anchor = here[: len(here) - node.level + 1]
                    dotted = ".".join([*anchor, *filter(None, [node.module])])
                if node.level or dotted.split(".")[0] == bake.package:
                    problem = modules.problem(dotted, [alias.name for alias in node.names])
            elif isinstance(node, ast.Import):
                own = [a.name for a in node.names if a.name.split(".")[0] == bake.package]
                problem = next(filter(None, (modules.problem(name, []) for name in own)), None)
            elif isinstance(node, ast.Constant) and reference.fullmatch(str(node.value)):
                problem = modules.reference_problem(node.value)
            if problem:
                problems.append(f"{relative}:{node.lineno}: {problem}")
    return problems


def unused_modules(bake: Bake) -> list[str]:
    """Package modules that no other file of the package imports: left behind by an option."""
    modules = OwnModules(bake)
    package_files = sorted(bake.source.rglob("*.py"))
    own_import_problems(bake, modules, [bake.root / "pyproject.toml", *package_files])
    return [
        str(path.relative_to(bake.root))
        for path in package_files
        if path.name != "__init__.py" and path not in modules.resolved
    ]
