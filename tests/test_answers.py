"""Answers are validated before anything is written; good ones pass, bad ones name what is wrong."""

from __future__ import annotations

import pytest

from .options import TEMPLATE_CHOICES, post_gen, pre_gen

# (answers, the field the refusal must name, a fragment of the rule)
BAD_ANSWERS = [
    ({"project_name": "   "}, "project_name", "must not be empty"),
    ({"project_name": 'Say "hi"'}, "project_name", "must not contain"),
    ({"project_slug": "Trip-Duration"}, "project_slug", "lowercase"),
    ({"project_slug": "1trip"}, "project_slug", "starting with a letter"),
    ({"project_slug": "-trip"}, "project_slug", "lowercase"),
    ({"project_slug": "trip duration"}, "project_slug", "lowercase"),
    ({"project_slug": "trip-"}, "project_slug", "not ending with a hyphen"),
    ({"project_slug": "trip_duration"}, "project_slug", "lowercase"),
    ({"package_name": "class"}, "package_name", "keyword"),
    ({"package_name": "match"}, "package_name", "keyword"),
    ({"package_name": "json"}, "package_name", "standard-library"),
    ({"package_name": "logging"}, "package_name", "standard-library"),
    ({"package_name": "test"}, "package_name", "standard-library"),
    ({"package_name": "fastapi"}, "package_name", "shadow a package"),
    ({"package_name": "mlflow"}, "package_name", "shadow a package"),
    ({"package_name": "trip-duration"}, "package_name", "identifier"),
    ({"package_name": "2fast"}, "package_name", "identifier"),
    ({"package_name": "Trip"}, "package_name", "identifier"),
    ({"author_email": "nobody"}, "author_email", "e-mail"),
    ({"author_email": "a@b"}, "author_email", "e-mail"),
    ({"author_email": "a b@example.com"}, "author_email", "e-mail"),
    ({"version": "one"}, "version", "PEP 440"),
    ({"version": "1.0.0-beta+"}, "version", "PEP 440"),
    ({"version": "v1..0"}, "version", "PEP 440"),
    ({"description": "back\\slash"}, "description", "must not contain"),
    ({"author_name": "ML {Team}"}, "author_name", "must not contain"),
    ({"ui": "gradio", "serving": "none"}, "ui", "needs serving"),
    ({"package_name": "tests"}, "package_name", "shadow a package"),
    ({"package_name": "async"}, "package_name", "keyword"),
    ({"project_slug": "trip--duration"}, "project_slug", "single hyphens"),
    ({"author_email": "ml-team@example.com "}, "author_email", "e-mail"),
    ({"version": ""}, "version", "PEP 440"),
]
# Choices outside the offered list: cookiecutter itself refuses them before any hook runs (the
# pre-gen hook checks them too, for contexts that bypass that check, such as a replay file).
BAD_CHOICES = [
    ({"python_version": "3.10"}, "python_version", "one of 3.11, 3.12, 3.13"),
    ({"ci": "jenkins"}, "ci", "one of github, gitlab, none"),
    ({"package_manager": "pip"}, "package_manager", "one of poetry, uv"),
    ({"ui": "streamlit"}, "ui", "one of none, gradio"),
    ({"license": "GPL-3.0"}, "license", "one of MIT, Apache-2.0, BSD-3-Clause, Proprietary"),
]


def valid_answers(**changes: str) -> dict[str, str]:
    answers = {
        "project_name": "Trip Duration",
        "project_slug": "trip-duration",
        "package_name": "trip_duration",
        "description": "Predict trip durations.",
        "author_name": "ML Team",
        "author_email": "ml-team@example.com",
        "version": "0.1.0",
        **{field: choices[0] for field, choices in pre_gen.CHOICES.items()},
    }
    answers.update(changes)
    return answers


def test_hook_choices_are_the_choices_cookiecutter_offers():
    """The pre-gen hook re-checks choices (for replays); its table must be cookiecutter.json's."""
    assert {field: list(choices) for field, choices in pre_gen.CHOICES.items()} == TEMPLATE_CHOICES


def test_default_answers_are_valid():
    assert pre_gen.validate(valid_answers()) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"version": "1.0.0rc1"},
        {"version": "2024.1.post2"},
        {"version": "0.1.0.dev3"},
        {"author_email": "first.last+ml@sub.example.co.uk"},
        {"package_name": "nyc_trips2"},
        {"project_slug": "nyc-trips-2"},
        {"python_version": "3.13"},
        {"serving": "none", "docker": "no"},
        # A batch-only project's image runs the CLI jobs (train, predict, monitor).
        {"serving": "none", "docker": "yes"},
        {"package_manager": "uv"},
        {"ui": "gradio"},
        {"ui": "gradio", "docker": "no", "experiment_tracking": "none"},
    ],
)
def test_good_answers_pass(changes: dict[str, str]):
    assert pre_gen.validate(valid_answers(**changes)) == []


@pytest.mark.parametrize(("changes", "field", "rule"), BAD_ANSWERS + BAD_CHOICES)
def test_bad_answers_are_refused_with_the_field_and_rule(changes, field, rule):
    problems = pre_gen.validate(valid_answers(**changes))
    assert len(problems) == 1, problems
    assert field in problems[0]
    assert rule in problems[0]
    assert "Example of a valid value" in problems[0]


@pytest.mark.parametrize(("changes", "field", "rule"), BAD_ANSWERS)
def test_bad_answers_fail_before_anything_is_written(
    cookies, capfd, tmp_path, changes, field, rule
):
    result = cookies.bake(extra_context=changes)
    assert result.exit_code != 0
    assert result.project_path is None
    written = [path for path in (tmp_path / "cookies").rglob("*") if path.is_file()]
    assert not written
    assert not any(path.is_dir() for path in (tmp_path / "cookies").glob("*/*"))
    stderr = capfd.readouterr().err
    assert f"{field}=" in stderr or f"{field}='" in stderr
    assert rule in stderr


@pytest.mark.parametrize(("changes", "field", "rule"), BAD_CHOICES)
def test_bad_choices_fail_before_anything_is_written(cookies, tmp_path, changes, field, rule):
    result = cookies.bake(extra_context=changes)
    assert result.exit_code != 0
    assert not [path for path in (tmp_path / "cookies").rglob("*") if path.is_file()]
    [value] = changes.values()
    message = str(result.exception)
    assert f"{value} provided for choice variable {field}" in message
    assert all(repr(choice) in message for choice in pre_gen.CHOICES[field])


def test_empty_slug_is_refused_without_writing(cookies, tmp_path):
    """cookiecutter itself refuses an empty folder name, before the pre-gen hook can run."""
    result = cookies.bake(extra_context={"project_slug": ""})
    assert result.exit_code != 0
    assert not [path for path in (tmp_path / "cookies").rglob("*") if path.is_file()]


def test_post_gen_table_removes_exactly_what_is_off():
    answers = valid_answers(serving="none", docker="no", ci="none")
    removed = post_gen.paths_to_remove(answers)
    assert "src/trip_duration/serving" in removed
    assert "Dockerfile" in removed
    assert ".github" in removed
    # Everything on (and GitHub CI): only the other CI and what an on-option replaces may go.
    removed_when_all_on = post_gen.paths_to_remove(valid_answers())
    assert ".gitlab-ci.yml" in removed_when_all_on
    on_paths = ("serving", "tune.py", "monitor.py", "registry_mlflow.py", "Dockerfile", ".github")
    assert not [path for path in removed_when_all_on if path.endswith(on_paths)]
    # The UI is off by default: its module and test go; with ui=gradio they stay.
    assert "src/trip_duration/serving/ui.py" in removed_when_all_on
    assert "tests/test_ui.py" in removed_when_all_on
    with_ui = post_gen.paths_to_remove(valid_answers(ui="gradio"))
    assert not [path for path in with_ui if path.endswith(("ui.py", "test_ui.py"))]
