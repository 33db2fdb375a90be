"""The project's layout: every source module has its test module, so a reader finds its tests by
name (``tests/test_data.py`` for ``data.py``, ``tests/test_<subpackage>_<module>.py`` below)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent
PACKAGE = TESTS.parent / "src" / "{{ cookiecutter.package_name }}"
# Not modules with behaviour of their own: package markers.
NOT_TESTED_ALONE = {"__init__"}
# serving's test modules arrive with the serving refactor.
EXEMPT_SUBPACKAGES = {"serving"}


def expected_test_module(module: Path) -> str:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return "test_" + "_".join(parts) + ".py"


def test_every_module_of_the_package_has_a_test_module():
    modules = [
        module
        for module in sorted(PACKAGE.rglob("*.py"))
        if module.stem not in NOT_TESTED_ALONE
        and module.relative_to(PACKAGE).parts[0] not in EXEMPT_SUBPACKAGES
    ]
    assert len(modules) > 20  # the package was found, not an empty folder
    missing = [
        f"{module.relative_to(PACKAGE)} -> tests/{expected_test_module(module)}"
        for module in modules
        if not (TESTS / expected_test_module(module)).is_file()
    ]
    assert missing == []


def test_a_subpackage_module_maps_to_a_prefixed_test_module():
    assert expected_test_module(PACKAGE / "data.py") == "test_data.py"
    assert expected_test_module(PACKAGE / "serving" / "app.py") == "test_serving_app.py"
