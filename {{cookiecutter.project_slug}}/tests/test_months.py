"""Months specs: single months, ranges and lists, as settings and the CLI accept them."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.config import DataSettings, SettingsError, load_settings
from {{ cookiecutter.package_name }}.months import format_months, parse_months


@pytest.mark.parametrize(
    ("spec", "months"),
    [
        ("2023-01", ("2023-01",)),
        ("2022-11..2023-02", ("2022-11", "2022-12", "2023-01", "2023-02")),
        ("2021-01, 2023-01..2023-02", ("2021-01", "2023-01", "2023-02")),
        ("2023-02,2023-01..2023-02", ("2023-02", "2023-01")),
        (["2024-01", "2021-01..2021-02"], ("2024-01", "2021-01", "2021-02")),
    ],
)
def test_specs_name_their_months_in_order_without_repeats(spec, months):
    assert parse_months(spec) == months


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2023-13", "expected a month as YYYY-MM"),
        ("2023-1", "expected a month as YYYY-MM"),
        ("2023-01..", "expected a month as YYYY-MM"),
        ("2023-03..2023-01", "ends before it starts"),
        ("2000-01..2099-12", "spans more than"),
        ("", "expected a month as YYYY-MM"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_months(spec)


def test_format_gives_the_shortest_spec_back():
    months = ("2023-01", "2023-02", "2023-03", "2024-01", "2021-05")
    assert format_months(months) == "2021-05,2023-01..2023-03,2024-01"
    assert parse_months(format_months(months)) == tuple(sorted(months))


def test_settings_accept_ranges_and_lists():
    data = DataSettings(train_month="2023-01..2023-02", val_month=["2024-01"])
    assert data.train_months == ("2023-01", "2023-02")
    assert data.val_months == ("2024-01",)
    assert data.val_month == "2024-01"


def test_a_bad_range_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("{{ cookiecutter.package_name | upper }}_DATA__VAL_MONTH", "2023-05..2023-02")
    with pytest.raises(SettingsError, match=r"DATA__VAL_MONTH: .*ends before it starts"):
        load_settings()
