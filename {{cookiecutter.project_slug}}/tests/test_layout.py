"""The project's layout: every source module has its test module, so a reader finds its tests by
name (``tests/test_data.py`` for ``data.py``; below a subpackage, ``test_<subpackage>_<module>.py``
or, as the service's tests are named, without the subpackage: ``test_deps.py`` for
``serving/deps.py``, ``test_routes_model.py`` for ``serving/routes/model.py``)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent
PACKAGE = TESTS.parent / "src" / "{{ cookiecutter.package_name }}"
# Not modules with behaviour of their own: package markers.
NOT_TESTED_ALONE = {"__init__"}
{%- if cookiecutter.serving == "fastapi" %}
# Modules whose behaviour is only observable through the running app, tested in the module named
# for that view of it (the layout test still requires that module to exist).
TESTED_IN = {
    "serving/app.py": "test_api.py",  # the assembled app, over HTTP (TestClient)
    "serving/middleware.py": "test_api.py",  # 413 for a body too large, X-Request-ID
    "serving/predictor.py": "test_api.py",  # predictions, batching, explanations through the API
    "serving/protocol.py": "test_serve.py",  # header and body deadlines need a real uvicorn
    "serving/models.py": "test_strategies.py",  # which models each deployment strategy loads
    "serving/schemas.py": "test_routes_predictions.py",  # the bodies and answers as documented
}
{%- else %}
TESTED_IN: dict[str, str] = {}
{%- endif %}


def candidate_test_modules(module: Path) -> list[str]:
    """The names a module's test module may have (see the module docstring)."""
    relative = module.relative_to(PACKAGE)
    if relative.as_posix() in TESTED_IN:
        return [TESTED_IN[relative.as_posix()]]
    parts = relative.with_suffix("").parts
    names = ["test_" + "_".join(parts) + ".py"]
    if len(parts) > 1:
        names.append("test_" + "_".join(parts[1:]) + ".py")
    return names


def test_every_module_of_the_package_has_a_test_module():
    modules = [m for m in sorted(PACKAGE.rglob("*.py")) if m.stem not in NOT_TESTED_ALONE]
    assert len(modules) > 20  # the package was found, not an empty folder
    missing = [
        f"{module.relative_to(PACKAGE)} -> tests/{' or '.join(candidate_test_modules(module))}"
        for module in modules
        if not any((TESTS / name).is_file() for name in candidate_test_modules(module))
    ]
    assert missing == []


def test_the_exceptions_name_modules_that_exist():
    for module, tests in TESTED_IN.items():
        assert (PACKAGE / module).is_file(), module
        assert (TESTS / tests).is_file(), tests


def test_a_module_maps_to_the_test_modules_named_after_it():
    assert candidate_test_modules(PACKAGE / "data.py") == ["test_data.py"]
    assert candidate_test_modules(PACKAGE / "pkg" / "routes" / "model.py") == [
        "test_pkg_routes_model.py",
        "test_routes_model.py",
    ]
