"""Label hygiene on real files: spellings merged, typos, joined labels and unknown topics stopped with the row."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from training.config import DataConfig
from training.data.labels import edit_distance
from training.data.loading import DataError, load_data

LABELS = ["terrorism", "diplomacy", "sport", "other"]


def rows(per_label: int = 8) -> list[dict]:
    return [{"id": f"r{i}-{j}", "text": f"نص خبر عن {label} رقم {i}", "label": label}
            for i in range(per_label) for j, label in enumerate(LABELS)]


def write(tmp_path: Path, data: list[dict]) -> Path:
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    return path


def error(path: Path, **config) -> str:
    with pytest.raises(DataError) as caught:
        load_data(DataConfig(path=str(path), **config))
    return str(caught.value)


def test_edit_distance() -> None:
    assert edit_distance("diplomcy", "diplomacy") == 1
    assert edit_distance("sport", "sprot") == 2
    assert edit_distance("sport", "terrorism") == 3  # capped


def test_case_and_spaces_merge_to_most_frequent_spelling(tmp_path: Path, caplog) -> None:
    data = rows()
    data[2]["label"] = "Sport "
    data[6]["label"] = "SPORT"
    with caplog.at_level(logging.INFO, logger="training.data.labels"):
        loaded = load_data(DataConfig(path=str(write(tmp_path, data))), seed=1)
    assert loaded.label_names == sorted(LABELS)
    assert sum(s.primary.count("sport") for s in loaded.splits()) == 8
    merges = [r.getMessage() for r in caplog.records if "merged" in r.getMessage()]
    assert len(merges) == 1 and "'SPORT'" in merges[0] and "-> 'sport'" in merges[0]


def test_typo_stops_with_line_id_and_did_you_mean(tmp_path: Path) -> None:
    data = rows()
    data[4]["label"] = "diplomcy"
    path = write(tmp_path, data)
    message = error(path)
    assert message.startswith(f"{path} line 5 (id r1-0): label 'diplomcy' (1 row) looks like a typo of 'diplomacy' "
                              "(8 rows): fix the row, or declare the label set with --data.labels ")
    assert "if it is a new topic" in message


def test_declared_labels_accept_a_look_alike_topic(tmp_path: Path) -> None:
    data = rows() + [{"id": "n1", "text": "خبر عن الرياضات", "label": "sports"},
                     {"id": "n2", "text": "خبر آخر عن الرياضات", "label": "sports"}]
    path = write(tmp_path, data)
    assert "looks like a typo of 'sport'" in error(path)
    loaded = load_data(DataConfig(path=str(path), labels=LABELS + ["sports"]), seed=3)
    assert loaded.label_names == LABELS + ["sports"]


def test_joined_labels_name_the_delimiter_flag(tmp_path: Path) -> None:
    data = rows()
    data[9]["label"] = "terrorism;sport"
    path = write(tmp_path, data)
    message = error(path)
    assert message == (f"{path} line 10 (id r2-1): label 'terrorism;sport' looks like two labels separated by ';': "
                       "pass --data.label-delimiter ';'")
    # following the advice: the label column's value is split, the primary topic first
    loaded = load_data(DataConfig(path=str(path), label_delimiter=";"), seed=1)
    assert loaded.multi_label and loaded.label_names == sorted(LABELS)
    assert ["terrorism", "sport"] in [labels for s in loaded.splits() for labels in s.labels]
    # a list in the label column: every topic, the primary first
    data[9]["label"] = ["terrorism", "sport"]
    loaded = load_data(DataConfig(path=str(write(tmp_path, data))), seed=1)
    assert loaded.multi_label and ["terrorism", "sport"] in [labels for s in loaded.splits() for labels in s.labels]
    data[9]["label"] = {"choices": ["terrorism", "sport"]}  # a Label Studio JSON-MIN export
    assert "holds a mapping {'choices': ['terrorism', 'sport']}, not a label; from Label Studio, export as JSON" \
        in error(write(tmp_path, data))
    data[9]["label"] = "terrorism;sport"
    # the same in a multi-label column
    for row in data:
        row["labels"] = row.pop("label")
    loaded = load_data(DataConfig(path=str(write(tmp_path, data)), label_delimiter=";"), seed=1)
    assert ["terrorism", "sport"] in [labels for s in loaded.splits() for labels in s.labels]


def test_expected_labels_of_the_served_model(tmp_path: Path) -> None:
    data = rows()
    data[3]["label"] = "economy"
    path = write(tmp_path, data)
    with pytest.raises(DataError) as caught:
        load_data(DataConfig(path=str(path)), expected_labels=LABELS)
    assert str(caught.value).startswith(f"{path} line 4 (id r0-3): label 'economy' is not one the served model knows")
    assert f"the served model knows {sorted(LABELS)}; to change the topics pass --data.labels with the data's own " \
           f"set, --data.labels {','.join(sorted(LABELS + ['economy']))}" in str(caught.value)
    # a served topic the data no longer has is left out of the suggestion, which then trains as suggested
    retired = [dict(row, label="economy") if row["label"] == "other" else row for row in data]
    (tmp_path / "retired").mkdir()
    retired_path = write(tmp_path / "retired", retired)
    with pytest.raises(DataError) as caught:
        load_data(DataConfig(path=str(retired_path)), expected_labels=LABELS)
    suggested = str(caught.value).split("--data.labels ")[-1].split(" ")[0]
    assert "(without 'other', which no article has)" in str(caught.value) and "other" not in suggested.split(",")
    config = DataConfig(path=str(retired_path), labels=suggested.split(","))
    assert load_data(config, expected_labels=LABELS).label_names == suggested.split(",")
    # the full new set, given explicitly, overrides the served one
    loaded = load_data(DataConfig(path=str(path), labels=LABELS + ["economy"]), expected_labels=LABELS)
    assert loaded.label_names == LABELS + ["economy"]
    # spellings follow the served model's
    data[3]["label"] = "Other"
    assert load_data(DataConfig(path=str(write(tmp_path, data))), expected_labels=LABELS).label_names == sorted(LABELS)
    data[3]["label"] = "sprot"  # a likely typo: the row is what to fix, and no label set with the typo is offered
    with pytest.raises(DataError) as caught:
        load_data(DataConfig(path=str(write(tmp_path, data))), expected_labels=LABELS)
    assert str(caught.value).endswith("label 'sprot' is not one the served model knows (did you mean 'sport'?); fix "
                                      "the row, or, if it is a new topic, pass --data.labels with the data's own label set")


def test_no_data_warns_about_the_sample_corpus(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="training.data.loading"):
        load_data(DataConfig())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("no --data given: training on the built-in sample corpus (")
    assert "sample_data/sample_news.jsonl); pass --data PATH for your own articles" in warnings[0]
