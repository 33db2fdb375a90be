"""The template's options as the template itself defines them: cookiecutter.json and the hooks.

Tests derive choices, combinations and refusals from here instead of restating them, so adding an
option or a refused pair is one change to ``cookiecutter.json`` / ``hooks/`` that every test sees.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from types import ModuleType

from .baking import TEMPLATE_ROOT


def load_hook(name: str) -> ModuleType:
    """A hook imported as a module: its rendered-context literal is just a string until baked."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE_ROOT / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")

TEMPLATE_CONTEXT: dict = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text("utf-8"))
# Every answer offered as a list of choices (cookiecutter's first item is the default).
TEMPLATE_CHOICES: dict[str, list[str]] = {
    name: value
    for name, value in TEMPLATE_CONTEXT.items()
    if isinstance(value, list) and not name.startswith("_")
}
# Choices that change which files and words a bake has; python_version and license only change
# values inside files and are checked on their own.
NOT_FEATURES = ("python_version", "license")
FEATURE_OPTIONS: tuple[str, ...] = tuple(n for n in TEMPLATE_CHOICES if n not in NOT_FEATURES)


def is_refused(answers: dict[str, str]) -> bool:
    """Refused exactly when the pre-gen hook's combination rule refuses it."""
    return pre_gen.check_combination(answers) is not None


COMBINATIONS: list[dict[str, str]] = [
    dict(zip(FEATURE_OPTIONS, values, strict=True))
    for values in itertools.product(*(TEMPLATE_CHOICES[name] for name in FEATURE_OPTIONS))
]
VALID = [answers for answers in COMBINATIONS if not is_refused(answers)]
REFUSED = [answers for answers in COMBINATIONS if is_refused(answers)]
DEFAULTS: dict[str, str] = {name: choices[0] for name, choices in TEMPLATE_CHOICES.items()}
