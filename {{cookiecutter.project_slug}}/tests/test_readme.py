"""The README's configuration reference and task table stay true to the code."""

from __future__ import annotations

import re

from pydantic import BaseModel

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings

from .conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
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
        name for name in environment_names(Settings, ENV_PREFIX) if f"`{name}`" not in README
    ]
    assert not missing


def test_no_documented_setting_is_gone():
    known = set(environment_names(Settings, ENV_PREFIX))
    documented = set(re.findall(rf"`({ENV_PREFIX}[A-Z_]+)`", README))
    assert documented <= known, documented - known


def test_every_make_target_is_in_the_task_table():
    targets = re.findall(r"^([a-z][a-z-]*):.*?## ", MAKEFILE, flags=re.MULTILINE)
    assert targets
    missing = [target for target in targets if target != "help" and f"`make {target}" not in README]
    assert not missing
