"""Validate the answers before cookiecutter writes a single file.

Each rule is a pure function that returns an error message or ``None``, so the template's tests
can import and exercise them directly. The context is read once, as JSON, at the bottom of the
file; everything else is plain Python that linters can read.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# The literal below is rendered by cookiecutter; imported by tests, it is just a string.
CONTEXT_JSON = r"""{{ cookiecutter | jsonify }}"""

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_PATTERN = re.compile(r"^[^@\s\"']+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# PEP 440, as published in packaging.version.VERSION_PATTERN (the hook must not need packaging).
PEP440_PATTERN = re.compile(
    r"""^\s*v?(?:(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_\.]?(?P<pre_l>(a|b|c|rc|alpha|beta|pre|preview))[-_\.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?)
    (?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)

# Names the generated project imports or ships: a package with one of these names would shadow it.
RESERVED_PACKAGE_NAMES = frozenset(
    {
        "app", "evidently", "fastapi", "gradio", "httpx", "joblib", "lightgbm", "loguru",
        "matplotlib", "mlflow", "numpy", "optuna", "pandas", "pandera", "prometheus_client",
        "prometheus_fastapi_instrumentator", "pyarrow", "pydantic", "pydantic_settings", "pytest",
        "rich", "scipy", "sklearn", "starlette", "tests", "typer", "uvicorn", "dask", "distributed",
        "dvc", "yaml",
    }
)  # fmt: skip

# CPython's own regression-test package is installed but not listed in stdlib_module_names.
STDLIB_NAMES = frozenset(sys.stdlib_module_names) | {"test"}

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
    "serving": ("fastapi", "none"),
    "ui": ("none", "gradio"),
    "experiment_tracking": ("mlflow", "none"),
    "hyperparameter_tuning": ("optuna", "none"),
    "monitoring": ("evidently", "none"),
    "docker": ("yes", "no"),
    "ci": ("github", "gitlab", "none"),
    "package_manager": ("poetry", "uv"),
    "data_versioning": ("none", "dvc"),
}

# Free-text answers land in TOML, YAML and Python strings; these characters would break them.
FREE_TEXT_FIELDS = ("project_name", "description", "author_name")
FORBIDDEN_TEXT_CHARS = ('"', "\\", "\n", "\r", "`", "{", "}")


def refusal(field: str, value: object, rule: str, example: str) -> str:
    """Format one refusal so that every message names the field, the value, the rule and a fix."""
    return f"{field}={value!r} is not valid: {rule}. Example of a valid value: {example}"


def check_project_name(value: str) -> str | None:
    if not value.strip():
        return refusal("project_name", value, "it must not be empty", "Trip Duration")
    return check_free_text("project_name", value, "Trip Duration")


def check_free_text(field: str, value: str, example: str) -> str | None:
    bad = sorted({char for char in value if char in FORBIDDEN_TEXT_CHARS})
    if bad:
        return refusal(field, value, f"it must not contain {' '.join(map(repr, bad))}", example)
    return None


def check_project_slug(value: str) -> str | None:
    if not SLUG_PATTERN.fullmatch(value):
        rule = (
            "it must be a lowercase distribution name: letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
        return refusal("project_slug", value, rule, "trip-duration")
    return None


def check_package_name(value: str) -> str | None:
    example = "trip_duration"
    if not PACKAGE_PATTERN.fullmatch(value) or not value.isidentifier():
        rule = (
            "it must be a lowercase Python identifier: letters, digits, underscores, a letter first"
        )
        return refusal("package_name", value, rule, example)
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return refusal("package_name", value, "it must not be a Python keyword", example)
    if value in STDLIB_NAMES:
        return refusal(
            "package_name", value, "it must not shadow a standard-library module", example
        )
    if value in RESERVED_PACKAGE_NAMES:
        rule = "it must not shadow a package that the generated project imports"
        return refusal("package_name", value, rule, example)
    return None


def check_author_email(value: str) -> str | None:
    if not EMAIL_PATTERN.fullmatch(value):
        rule = "it must look like an e-mail address (name@domain.tld)"
        return refusal("author_email", value, rule, "ml-team@example.com")
    return None


def check_version(value: str) -> str | None:
    if not PEP440_PATTERN.fullmatch(value) or value != value.strip():
        return refusal("version", value, "it must be a PEP 440 version", "0.1.0")
    return None


def check_choice(field: str, value: str) -> str | None:
    offered = CHOICES[field]
    if value not in offered:
        rule = f"it must be one of {', '.join(offered)}"
        return refusal(field, value, rule, offered[0])
    return None


def check_combination(answers: dict[str, str]) -> str | None:
    """A rule for answers that cannot go together (docker without serving bakes the jobs' image).
    Tests derive the refused combinations from this function."""
    if answers.get("ui") == "gradio" and answers.get("serving") == "none":
        rule = (
            "with serving='none' it is not supported: the UI needs serving='fastapi' "
            "(it is mounted on the prediction service and uses its loaded model)"
        )
        return refusal("ui", "gradio", rule, "none (or serving='fastapi')")
    return None


def validate(answers: dict[str, str]) -> list[str]:
    """Return every problem with the answers (an empty list means they are all valid)."""
    problems = [
        check_project_name(answers["project_name"]),
        check_project_slug(answers["project_slug"]),
        check_package_name(answers["package_name"]),
        check_free_text("description", answers["description"], "Predict taxi trip durations."),
        check_free_text("author_name", answers["author_name"], "ML Team"),
        check_author_email(answers["author_email"]),
        check_version(answers["version"]),
        *(check_choice(field, answers[field]) for field in CHOICES),
        check_combination(answers),
    ]
    return [problem for problem in problems if problem]


def main() -> int:
    problems = validate(json.loads(CONTEXT_JSON))
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
