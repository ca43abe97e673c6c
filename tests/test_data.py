"""Loaders for every format, every bad-input error, splits, duplicates, leakage and fingerprints."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from training.config import DataConfig
from training.data.loading import SAMPLE_CORPUS, DataError, compose_inputs, load_data

LABELS = ["terrorism", "diplomacy", "sport", "other"]


def make_rows(per_label: int = 6) -> list[dict]:
    rows = []
    for i in range(per_label):
        for j, label in enumerate(LABELS):
            rows.append({"id": f"r{i}-{j}", "title": f"عنوان {label} {i}", "text": f"نص خبر عن {label} رقم {i} في المدينة",
                         "label": label, "labels": [label] + (["diplomacy"] if label == "terrorism" and i == 0 else [])})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_sample_corpus_loads_balanced_and_multi_label(sample_data) -> None:
    assert sample_data.label_names == sorted(LABELS)
    assert sample_data.multi_label
    total = sum(len(s) for s in sample_data.splits())
    assert total == sum(1 for _ in SAMPLE_CORPUS.open(encoding="utf-8")) >= 240
    counts = sample_data.counts()
    assert all(55 <= v <= 56 for v in counts["train"].values())  # 70 per label, 80/10/10 stratified
    assert all(v >= 6 for split in ("validation", "test") for v in counts[split].values())
    assert sample_data.fingerprint.startswith("sha256:") and len(sample_data.fingerprint) == 71


def test_split_is_reproducible_and_seed_dependent() -> None:
    first, second, other = load_data(DataConfig(), seed=13), load_data(DataConfig(), seed=13), load_data(DataConfig(), seed=14)
    assert first.test.ids == second.test.ids and first.fingerprint == second.fingerprint
    assert first.test.ids != other.test.ids and first.fingerprint != other.fingerprint
    assert not set(first.train.ids) & set(first.test.ids)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_every_file_format(tmp_path: Path, fmt: str) -> None:
    rows = make_rows()
    frame = pd.DataFrame([{**r, "labels": "|".join(r["labels"])} for r in rows])
    path = tmp_path / f"data.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, rows)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    else:
        frame.to_parquet(path)
    data = load_data(DataConfig(path=str(path)), seed=1)
    assert sum(len(s) for s in data.splits()) == len(rows)
    assert data.label_names == sorted(LABELS)
    assert data.multi_label
    terror = [labels for s in data.splits() for labels in s.labels if labels[0] == "terrorism"]
    assert ["terrorism", "diplomacy"] in terror


def test_directory_with_splits_and_saved_dataset(tmp_path: Path) -> None:
    rows = make_rows()
    for name, part in (("train", rows[:16]), ("validation", rows[16:20]), ("test", rows[20:])):
        write_jsonl(tmp_path / f"{name}.jsonl", part)
    data = load_data(DataConfig(path=str(tmp_path)))
    assert (len(data.train), len(data.validation), len(data.test)) == (16, 4, 4)
    assert "validation_split" not in data.report

    from datasets import Dataset, DatasetDict

    saved = tmp_path / "saved"
    DatasetDict({"train": Dataset.from_list(rows[:16]), "test": Dataset.from_list(rows[16:])}).save_to_disk(str(saved))
    data = load_data(DataConfig(path=str(saved)))
    assert len(data.test) == 8 and len(data.train) + len(data.validation) == 16


def test_column_mapping_and_delimited_labels(tmp_path: Path) -> None:
    rows = [{"body": r["text"], "headline": r["title"], "topics": ";".join(r["labels"])} for r in make_rows()]
    config = DataConfig(path=str(write_jsonl(tmp_path / "d.jsonl", rows)), text_column="body", title_column="headline",
                        label_column="primary", labels_column="topics", label_delimiter=";")
    data = load_data(config)
    assert data.multi_label and data.label_names == sorted(LABELS)
    assert all(title.startswith("عنوان") for title in data.train.titles)


def test_compose_inputs() -> None:
    assert compose_inputs(["نص"], ["عنوان"]) == ["عنوان\nنص"]
    assert compose_inputs(["نص"], [None]) == ["نص"]
    assert compose_inputs(["نص"]) == ["نص"]
    with pytest.raises(ValueError, match="1 titles for 2 texts"):
        compose_inputs(["a", "b"], ["t"])


def error_for(tmp_path: Path, rows: list[dict] | str, **config) -> str:
    path = tmp_path / "bad.jsonl"
    if isinstance(rows, str):
        path.write_text(rows, encoding="utf-8")
    else:
        write_jsonl(path, rows)
    with pytest.raises(DataError) as caught:
        load_data(DataConfig(path=str(path), **config))
    return str(caught.value)


def test_missing_text_column(tmp_path: Path) -> None:
    message = error_for(tmp_path, [{"body": "نص خبر طويل عن المباراة", "label": "sport"}] * 4)
    assert "missing column 'text'" in message and "--data.text-column" in message and "bad.jsonl" in message
    assert message.endswith("(the longest texts are in 'body': --data.text-column body)")
    # ids and labels are never suggested, nor a column of empty texts; a name with a space is quoted for the shell
    rows = [{"id": "a-long-identifier-of-the-article", "the body": "نص", "empty": "", "label": "sport-and-games"}] * 4
    assert error_for(tmp_path, rows).endswith("(the longest texts are in 'the body': --data.text-column 'the body')")


def test_missing_label_column(tmp_path: Path) -> None:
    message = error_for(tmp_path, [{"text": "x", "topic": "sport"}, {"text": "y", "topic": "sport", "date": "1"}],
                        labels_column=None)
    assert "missing column 'label'" in message and "--data.label-column" in message
    assert "found columns ['text', 'topic', 'date']" in message  # in file order, any row's keys included


def test_a_misnamed_optional_column_is_refused_not_ignored(tmp_path: Path) -> None:
    path = str(write_jsonl(tmp_path / "news.jsonl", make_rows()))
    for flag, value in (("title_column", "headline"), ("source_column", "outlet"), ("id_column", "ref"),
                        ("labels_column", "topics")):
        config = DataConfig(path=path, **{flag: value})
        with pytest.raises(DataError) as caught:
            load_data(config, named=config.named_columns())  # as `train` reads it: a name the user gave
        assert f"missing column {value!r} (given with --data.{flag.replace('_', '-')})" in str(caught.value)
        assert len(load_data(config).train) > 0  # a model's own setting (evaluation notebook): read as absent
    # the defaults' names may be absent: nothing is read from them
    rows = [{"text": row["text"], "label": row["label"]} for row in make_rows()]
    config = DataConfig(path=str(write_jsonl(tmp_path / "plain.jsonl", rows)))
    assert config.named_columns() == [] and len(load_data(config, named=config.named_columns()).train) > 0


def test_the_text_column_given_as_label_column_is_refused_without_quoting_it(tmp_path: Path) -> None:
    rows = [{"text": f"نص خبر طويل رقم {i} عن الرياضة والسياسة", "label": "sport"} for i in range(60)]
    message = error_for(tmp_path, rows, label_column="text", labels_column=None)
    assert "the label column 'text' holds 60 different values in 60 articles, 60 of them found once: text, not " \
           "topics" in message
    assert "--data.label-column NAME" in message and "نص" not in message
    rows = make_rows()
    rows[3]["label"] = "كلمة " * 30  # one long value, in data too small for the count to tell
    assert "the label column 'label' holds a value of 149 characters" in error_for(tmp_path, rows)


def test_many_fine_grained_topics_are_labels_not_text() -> None:
    from training.data.labels import check_label_column
    from training.data.splits import Split

    topics = [f"topic {chr(0x0627 + n)}{n}" for n in range(60)]  # 60 topics, each in 3 training articles
    rows = [topic for topic in topics for _ in range(3)]
    n = len(rows)
    check_label_column(Split("train", [str(i) for i in range(n)], [""] * n, ["x"] * n, [[t] for t in rows], [""] * n),
                       DataConfig())


def test_too_few_articles_to_split_is_a_clear_error(tmp_path: Path) -> None:
    message = error_for(tmp_path, [{"text": "نص عن الرياضة", "label": "sport"}, {"text": "نص عن السياسة", "label": "diplomacy"}])
    assert message.endswith("1 article(s) left are too few to hold out a validation split; add labelled articles (a "
                            "few per label at least), or give the split yourself: a --data directory holding "
                            "train.jsonl and validation.jsonl")


def test_empty_text_names_file_line_and_id(tmp_path: Path) -> None:
    rows = make_rows()
    rows[4]["text"] = "   "
    message = error_for(tmp_path, rows)
    assert "line 5" in message and rows[4]["id"] in message and "'text' is empty" in message


def test_label_outside_given_label_set(tmp_path: Path) -> None:
    rows = make_rows()
    rows[2]["label"], rows[2]["labels"] = "weather", ["weather"]
    message = error_for(tmp_path, rows, labels=LABELS)
    assert "'weather' is not in the label set" in message and "--data.labels" in message


def test_fewer_than_two_labels(tmp_path: Path) -> None:
    rows = [{"text": f"نص {i}", "label": "sport"} for i in range(10)]
    assert "at least 2" in error_for(tmp_path, rows)


def test_label_without_training_examples(tmp_path: Path) -> None:
    rows = make_rows()
    write_jsonl(tmp_path / "train.jsonl", [r for r in rows if r["label"] != "sport"])
    write_jsonl(tmp_path / "test.jsonl", rows[:8])
    with pytest.raises(DataError, match="'sport' has no training examples"):
        load_data(DataConfig(path=str(tmp_path)))
    with pytest.raises(DataError, match="'sport' has no training examples"):
        load_data(DataConfig(path=str(tmp_path / "train.jsonl"), labels=LABELS))


def test_invalid_json_line_is_located(tmp_path: Path) -> None:
    good = json.dumps(make_rows()[0], ensure_ascii=False)
    message = error_for(tmp_path, f"{good}\n{good}\n{{not json\n")
    assert "line 3 is not valid JSON" in message
    cut_off = '{"id": "broken", "text": '  # a line cut short: the column where it breaks off, not "column 1"
    message = error_for(tmp_path, f"{good}\n{good}\n{cut_off}\n{good}\n")
    assert f"line 3 is not valid JSON (Expecting value at column {len(cut_off) + 1})" in message, message


def test_missing_path_and_unsupported_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or directory"):
        load_data(DataConfig(path=str(tmp_path / "nope.jsonl")))
    (tmp_path / "data.xlsx").write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        load_data(DataConfig(path=str(tmp_path / "data.xlsx")))
    with pytest.raises(DataError, match="no training file"):
        load_data(DataConfig(path=str(tmp_path)))


def test_hub_id_offline_fails_clearly() -> None:
    with pytest.raises(DataError, match="hub dataset"):
        load_data(DataConfig(path="someone/arabic-news-that-does-not-exist"))


def test_duplicates_dropped_and_leakage_reported(tmp_path: Path) -> None:
    rows = make_rows()
    train = rows[:16] + [dict(rows[0], id="dup-1")]
    test = rows[16:] + [dict(rows[1], id="leak-1")]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "test.jsonl", test)
    data = load_data(DataConfig(path=str(tmp_path)))
    assert data.report["duplicates_dropped"]["train"] == {"count": 1, "ids": ["dup-1"]}
    leaks = {pair: info["ids"] for pair, info in data.report["leakage"].items()}
    assert leaks == {"train/test": ["leak-1"]}


def excel_frame() -> pd.DataFrame:
    """Rows as a spreadsheet holds them: the text with the delimiters and a quoted line break inside."""
    rows = make_rows()
    rows[0]["text"] = 'خبر فيه ; و , و | و "اقتباس"\nوسطر ثان'
    return pd.DataFrame([{**r, "labels": "|".join(r["labels"])} for r in rows])


@pytest.mark.parametrize(("codec", "sep", "reported"), [
    ("cp1256", ",", "cp1256"), ("utf-16", ",", "utf-16"), ("utf-8-sig", ",", "utf-8-sig"), ("utf-8", ";", "utf-8"),
    ("cp1256", ";", "cp1256"), ("utf-8", "\t", "utf-8"), ("utf-8", "|", "utf-8")])
def test_real_world_csv_encodings_and_delimiters(tmp_path: Path, caplog, codec: str, sep: str, reported: str) -> None:
    frame = excel_frame()
    path = tmp_path / "excel.csv"
    empty_rows = (sep * (len(frame.columns) - 1) + "\n") * 3  # Excel's trailing rows with no value: skipped
    path.write_bytes((frame.to_csv(index=False, sep=sep) + empty_rows).encode(codec))
    with caplog.at_level("INFO", logger="training.data.files"):
        data = load_data(DataConfig(path=str(path)), seed=1)
    assert data.report["encodings"] == {"all": reported} and data.report["delimiters"] == {"all": sep}
    assert sorted(t for s in data.splits() for t in s.texts) == sorted(frame["text"])
    assert data.label_names == sorted(LABELS) and data.multi_label
    logged = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert len(logged) == 1 and "(detected)" in logged[0] and repr(sep) in logged[0]


def test_explicit_encoding_and_delimiter_win(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(excel_frame().to_csv(index=False, sep=";").encode("cp1256"))
    data = load_data(DataConfig(path=str(path), encoding="cp1256", csv_delimiter=";"))
    assert data.report["encodings"] == {"all": "cp1256"}
    message = error_for_file(path, encoding="utf-8")
    assert "excel.csv: line 2 has bytes that are not valid UTF-8" in message and "save it as 'CSV UTF-8'" in message
    assert "excel.csv line 1: the header is one column when split on ','" in error_for_file(path, csv_delimiter=",")
    assert "pass --data.csv-delimiter ';'" in error_for_file(path, csv_delimiter=",")
    assert "unknown encoding 'klingon'" in error_for_file(path, encoding="klingon")


def test_unknown_encoding_and_ragged_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,text,label\n1,caf\xe9 cr\xe8me,sport\n".encode("latin-1") * 3)
    assert "cannot tell the text encoding" in error_for_file(path) and "'CSV UTF-8'" in error_for_file(path)
    path = tmp_path / "ragged.csv"
    path.write_text("id,text,label\na1,نص,sport\na2,نص, آخر,sport\n", encoding="utf-8")
    assert "ragged.csv: line 3 has 4 fields but the header has 3; quote fields that contain the delimiter ','" \
        in error_for_file(path)


def test_source_column(tmp_path: Path) -> None:
    rows = [dict(r, outlet=f"site{i % 3}") for i, r in enumerate(make_rows())]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    data = load_data(DataConfig(path=str(path), source_column="outlet"))
    assert {s for split in data.splits() for s in split.sources} == {"site0", "site1", "site2"}
    assert {s for split in load_data(DataConfig(path=str(path))).splits() for s in split.sources} == {""}


def test_locations_follow_rows_through_splits(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", make_rows())
    data = load_data(DataConfig(path=str(path)))
    for split in data.splits():
        for row_id, location in zip(split.ids, split.locations):
            line = [r["id"] for r in make_rows()].index(row_id) + 1
            assert location == f"{path} line {line} (id {row_id})"


def test_rows_without_ids_are_named_by_file_and_line_as_predict_names_them(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "id"} for r in make_rows()]
    path = tmp_path / "news.jsonl"
    path.write_text("\n" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    data = load_data(DataConfig(path=str(path)))
    for split in data.splits():  # validation and test rows too: not "train:N"
        for row_id, location in zip(split.ids, split.locations):
            assert row_id.startswith("news:") and location == f"{path} line {row_id.split(':')[1]}"


def error_for_file(path: Path, **config) -> str:
    with pytest.raises(DataError) as caught:
        load_data(DataConfig(path=str(path), **config))
    return str(caught.value)


def test_one_id_for_two_different_articles_is_refused(tmp_path: Path) -> None:
    rows = make_rows()
    rows[5]["id"] = rows[2]["id"]
    message = error_for(tmp_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    assert f"line 6 (id {rows[2]['id']}): id {rows[2]['id']!r} is also the id of another article (" in message, message
    assert f"line 3 (id {rows[2]['id']})" in message and "give every article its own id" in message
