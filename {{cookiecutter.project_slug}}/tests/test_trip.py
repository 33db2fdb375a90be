"""The trip contract: every module takes its columns from ``trip.py``, so a new input is a change
to ``trip.py`` and ``features.py`` only.

The last test proves the how-to ("Add a feature"): in a copy of the package, a new raw input
added to ``trip.py`` and used in ``features.py`` flows from a parquet file through training and
batch prediction{% if cookiecutter.serving == "fastapi" %}, and through the API into the prediction log{% endif %}, with no other file changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import trip
from {{ cookiecutter.package_name }}.data import normalize
from {{ cookiecutter.package_name }}.predict import REJECTION
from {{ cookiecutter.package_name }}.trip import (
    COLUMNS,
    INPUTS,
    PREDICTION,
    SOURCE_NAMES,
    example_trip,
)
from {{ cookiecutter.package_name }}.validation import INFERENCE_RULES, TRAINING_RULES

from .helpers import SAMPLE_DIR, isolated_environment

PACKAGE = Path(trip.__file__).parent
NEW_INPUT = "passenger_count"  # in every TLC file, and not yet a model input
NEW_COLUMN = f"""    Column(
        "{NEW_INPUT}",
        "integer",
        "Passengers, as the driver entered them.",
        examples=(1, 2),
        minimum=0,
        maximum=9,
    ),
"""


def test_every_column_has_a_rule_and_its_normalized_type():
    assert list(INFERENCE_RULES.schema.columns) == [column.name for column in INPUTS]
    assert set(TRAINING_RULES.schema.columns) == set(COLUMNS)
    raw = pd.DataFrame({column.name: [str(column.examples[0])] for column in COLUMNS.values()})
    normalized = normalize(raw)
    for column in COLUMNS.values():
        assert str(normalized[column.name].dtype) == column.frame_dtype, column.name
        assert column.name in SOURCE_NAMES[column.name]
        rule = TRAINING_RULES.schema.columns[column.name]
        assert rule.metadata["reason"].startswith(f"{column.name} missing")
        assert rule.metadata["reason"].endswith(column.bounds)
    INFERENCE_RULES.check_types(normalized[list(INFERENCE_RULES.schema.columns)])
    assert set(example_trip(1)) == {column.name for column in INPUTS}
{%- if cookiecutter.serving == "fastapi" %}


def test_the_request_schema_has_one_field_per_input_with_its_bounds():
    from {{ cookiecutter.package_name }}.serving.schemas import Trip  # noqa: PLC0415

    properties = Trip.model_json_schema()["properties"]
    assert list(properties) == [column.name for column in INPUTS]
    for column in INPUTS:
        if column.kind != "time":
            assert properties[column.name]["minimum"] == column.minimum
            assert properties[column.name]["maximum"] == column.maximum
    Trip.model_validate(example_trip(0))
    Trip.model_validate(example_trip(1))
{%- endif %}


def insert_once(text: str, anchor: str, addition: str, *, before: bool = False) -> str:
    """``addition`` next to the one occurrence of ``anchor``; a changed file fails loudly."""
    assert text.count(anchor) == 1, f"anchor not found once: {anchor!r}"
    return text.replace(anchor, addition + anchor if before else anchor + addition)


def add_new_input(package: Path) -> None:
    """The two edits the how-to describes: a Column in trip.INPUTS, a column in features.py."""
    trip_file = package / "trip.py"
    text = trip_file.read_text(encoding="utf-8")
    start = text.index("INPUTS: tuple[Column, ...] = (")
    end = text.index("\n)\n", start) + 1
    trip_file.write_text(text[:end] + NEW_COLUMN + text[end:], encoding="utf-8")
    features = package / "features.py"
    text = features.read_text(encoding="utf-8")
    text = insert_once(text, '    "is_holiday",\n)', f'    "{NEW_INPUT}",\n', before=True)
    text = insert_once(
        text,
        '        "is_holiday": is_federal_holiday(days),\n',
        f'        "{NEW_INPUT}": np.asarray(trips["{NEW_INPUT}"], dtype=np.float64),\n',
    )
    features.write_text(text, encoding="utf-8")


FLOW = """
import json, sys
from pathlib import Path

from {{ cookiecutter.package_name }} import trip
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.data import read_parquet_checked
from {{ cookiecutter.package_name }}.predict import predict_file
from {{ cookiecutter.package_name }}.registry import load_model
from {{ cookiecutter.package_name }}.train import run_training

out = Path(sys.argv[1])
settings = load_settings()
result = run_training(settings)
model, version = load_model(settings)
raw = read_parquet_checked(Path(sys.argv[2]))
raw.loc[:9, "passenger_count"] = 42  # out of bounds: rejected, with the new column's reason
raw.to_parquet(out / "input.parquet")
predict_file(out / "input.parquet", out / "scored.parquet", model)
found = {
    "package": trip.__file__,
    "features": list(model.feature_names),
    "rows_in_card": (settings.registry.models_dir / "model_card.md").read_text(),
}
{%- if cookiecutter.serving == "fastapi" %}
from fastapi.testclient import TestClient
from {{ cookiecutter.package_name }}.data import read_folder
from {{ cookiecutter.package_name }}.serving.app import create_app

request = {**trip.example_trip(0), "passenger_count": 3}
with TestClient(create_app(settings)) as client:
    found["served"] = client.post("/predict", json=request).status_code
    missing = {k: v for k, v in request.items() if k != "passenger_count"}
    found["missing"] = client.post("/predict", json=missing).json()
logged = read_folder(settings.prediction_log.dir)
found["logged"] = logged["passenger_count"].tolist()
{%- endif %}
print(json.dumps(found))
"""


@pytest.mark.slow
def test_a_new_raw_input_flows_from_the_file_to_every_output(tmp_path: Path):
    copy = tmp_path / "src" / PACKAGE.name
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    add_new_input(copy)
    environment = {
        **os.environ,
        **isolated_environment(tmp_path),
        "PYTHONPATH": str(tmp_path / "src"),  # the copy, ahead of the installed package
        "{{ cookiecutter.package_name | upper }}_TRAINING__N_ESTIMATORS": "20",
        "{{ cookiecutter.package_name | upper }}_PREDICTION_LOG__ENABLED": "true",
        "{{ cookiecutter.package_name | upper }}_PREDICTION_LOG__DIR": str(tmp_path / "log"),
    }
    sample = SAMPLE_DIR / "green_tripdata_2024-01.parquet"
    done = subprocess.run(
        [sys.executable, "-c", FLOW, str(tmp_path), str(sample)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).parent == copy
    assert NEW_INPUT in found["features"]
    assert f"| {NEW_INPUT} | integer, 0..9 |" in found["rows_in_card"]
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert scored[REJECTION].head(10).eq(f"{NEW_INPUT} missing or outside 0..9").all()
    assert scored[PREDICTION].iloc[10:].notna().mean() > 0.9
{%- if cookiecutter.serving == "fastapi" %}
    assert found["served"] == 200
    assert [problem["loc"] for problem in found["missing"]["detail"]] == [["body", NEW_INPUT]]
    assert found["logged"] == [3]
{%- endif %}
