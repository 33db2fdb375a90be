"""The settings page (docs/configuration.md) and the README's task table stay true to the code."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import PurePath

import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings

from .helpers import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
EVERY_PAGE = "\n".join(
    [README, *(path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "docs").glob("*.md"))]
)
MAKEFILE = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")


def environment_names(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += environment_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented():
    missing = [
        name for name in environment_names(Settings, ENV_PREFIX) if f"`{name}`" not in CONFIGURATION
    ]
    assert not missing


def test_no_documented_setting_is_gone():
    """Anywhere in the README or the docs: a renamed setting leaves no stale name behind."""
    known = set(environment_names(Settings, ENV_PREFIX))
    documented = set(re.findall(rf"`({ENV_PREFIX}[A-Z_]+)`", EVERY_PAGE))
    assert documented <= known, documented - known


# A settings row: | `NAME` | default | meaning |
SETTINGS_ROW = re.compile(rf"^\| `({ENV_PREFIX}[A-Z_]+)` \| (.*?) \| .* \|$", re.MULTILINE)


class Computed:
    """A default made at start-up by a factory (from the machine or the environment)."""

    def __init__(self, factory: Callable[[], object]):
        self.factory = factory


def code_defaults(model: type[BaseModel], prefix: str) -> dict[str, object]:
    """Each setting's default by environment name (a Computed where a factory makes it)."""
    defaults: dict[str, object] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            defaults |= code_defaults(annotation, f"{prefix}{name.upper()}__")
        elif field.default_factory is not None:
            defaults[f"{prefix}{name.upper()}"] = Computed(field.default_factory)
        else:
            defaults[f"{prefix}{name.upper()}"] = field.default
    return defaults


def as_documented(value: object) -> str:
    """How the settings page writes a default: TOML/JSON-like literals, paths as text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(as_documented(item) for item in value) + "]"
    if isinstance(value, PurePath):
        return value.as_posix()
    return str(value)


DOCUMENTED = dict(SETTINGS_ROW.findall(CONFIGURATION))
DEFAULTS = code_defaults(Settings, ENV_PREFIX)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_default_is_the_code_default(name: str, monkeypatch: pytest.MonkeyPatch):
    """A literal in the table is the code's default; prose only where no literal is the default.

    Defaults made from the environment are compared as an empty environment makes them.
    """
    for variable in list(os.environ):
        monkeypatch.delenv(variable)
    cell, default = DOCUMENTED[name].strip(), DEFAULTS[name]
    literal = re.fullmatch(r"`([^`]*)`", cell)
    if isinstance(default, Computed) and literal:
        assert literal.group(1) == as_documented(default.factory()), (name, cell)
    elif isinstance(default, Computed) or default is None:
        assert literal is None or literal.group(1).startswith("("), (name, cell)
    else:
        assert literal, f"{name}: document the default {as_documented(default)!r} as `literal`"
        assert literal.group(1) == as_documented(default), (name, cell)


def test_every_make_target_is_in_the_task_table():
    targets = re.findall(r"^([a-z][a-z-]*):.*?## ", MAKEFILE, flags=re.MULTILINE)
    assert targets
    missing = [target for target in targets if target != "help" and f"`make {target}" not in README]
    assert not missing
