"""read_articles on every input format, real files written here; bad rows stop or are skipped."""
from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from training.config import DataConfig
from training.data.articles import Articles, read_articles
from training.data.loading import DataError

ROWS = [{"id": f"a{i}", "title": f"عنوان {i}", "text": f"نص الخبر رقم {i} عن المباراة", "source": f"site{i % 2}"}
        for i in range(5)]


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write(tmp_path: Path, fmt: str, rows: list[dict] = ROWS) -> Path:
    path = tmp_path / f"news.{fmt}"
    if fmt == "jsonl":
        path.write_text(jsonl(rows), encoding="utf-8")
    elif fmt == "jsonl.gz":
        path.write_bytes(gzip.compress(jsonl(rows).encode("utf-8")))
    elif fmt == "csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif fmt == "tsv":
        pd.DataFrame(rows).to_csv(path, index=False, sep="\t")
    elif fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "csv", "tsv", "parquet"])
def test_every_table_format(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt)
    articles = read_articles(path, DataConfig())
    assert isinstance(articles, Articles) and len(articles) == 5
    assert articles.ids == [r["id"] for r in ROWS]
    assert articles.texts == [r["text"] for r in ROWS] and articles.titles == [r["title"] for r in ROWS]
    assert articles.sources == [r["source"] for r in ROWS]
    assert articles.origin == str(path) and not articles.skipped
    assert articles.encoding == (None if fmt == "parquet" else "utf-8")
    if fmt == "parquet":
        assert articles.locations[2] == f"{path} row 3 (id a2)"
    else:  # JSONL: line i+1; CSV/TSV: the header is line 1
        line = 3 if fmt.startswith("jsonl") else 4
        assert articles.locations[2] == f"{path} line {line} (id a2)"


def test_text_folder_one_article_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "b.txt").write_text("السطر الأول\nالسطر الثاني\n", encoding="utf-8")
    (folder / "a.txt").write_bytes("مقال بترميز ويندوز العربي".encode("cp1256"))
    (folder / "notes.md").write_text("ignored", encoding="utf-8")
    articles = read_articles(folder, DataConfig())
    assert articles.ids == ["a", "b"]
    assert articles.texts == ["مقال بترميز ويندوز العربي", "السطر الأول\nالسطر الثاني\n"]
    assert articles.titles == ["", ""] and articles.locations[1] == f"{folder / 'b.txt'} (id b)"


def test_columns_from_config_and_generated_ids(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text(jsonl([{"body": "نص أول", "headline": "عنوان", "outlet": "wire"}, {"body": "نص ثان"}]),
                    encoding="utf-8")
    config = DataConfig(text_column="body", title_column="headline", source_column="outlet")
    articles = read_articles(path, config)
    assert articles.ids == ["feed:1", "feed:2"]
    assert articles.titles == ["عنوان", ""] and articles.sources == ["wire", ""]
    with pytest.raises(DataError, match=r"missing column 'text'.*--data.text-column"):
        read_articles(path, DataConfig())


def bad_file(tmp_path: Path) -> Path:
    rows = [json.dumps(r, ensure_ascii=False) for r in ROWS]
    rows[1] = json.dumps({"id": "a1", "text": "   "})
    rows[3] = "{not json"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_bad_row_stops_with_file_line_id_and_fix(tmp_path: Path) -> None:
    path = bad_file(tmp_path)
    with pytest.raises(DataError) as caught:
        read_articles(path, DataConfig())
    assert str(caught.value) == f"{path} line 2 (id a1): column 'text' is empty; fill it or remove the row"


def test_bad_rows_skipped_and_counted_without_text(tmp_path: Path, caplog) -> None:
    path = bad_file(tmp_path)
    with caplog.at_level(logging.INFO):
        articles = read_articles(path, DataConfig(), on_error="skip")
    assert articles.ids == ["a0", "a2", "a4"]
    assert [location for location, _ in articles.skipped] == [f"{path} line 2 (id a1)", f"{path} line 4"]
    assert "not valid JSON" in articles.skipped[1][1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 unusable row(s)" in warnings[0]
    assert not any(r["text"] in record.getMessage() for r in ROWS for record in caplog.records)


def test_undecodable_line_in_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [jsonl([r]).encode("utf-8") for r in ROWS]
    lines[2] = b'{"id": "a2", "text": "\xff\xfe broken"}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=r"mixed.jsonl: line 3 has bytes that are not valid UTF-8.*CSV UTF-8"):
        read_articles(path, DataConfig())
    articles = read_articles(path, DataConfig(), on_error="skip")
    assert len(articles) == 4 and articles.skipped[0][0] == f"{path} line 3"
    array = tmp_path / "export.json"  # one JSON array (a Label Studio export): damaged bytes stop it too
    array.write_bytes(b"[\n" + b",\n".join(line.rstrip(b"\n") for line in lines) + b"\n]\n")
    with pytest.raises(DataError, match=r"export.json: line 4 has bytes that are not valid UTF-8"):
        read_articles(array, DataConfig())


def test_windows_1256_csv_with_semicolons(tmp_path: Path, caplog) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(pd.DataFrame(ROWS).to_csv(index=False, sep=";").encode("cp1256"))
    with caplog.at_level(logging.INFO, logger="training.data.files"):
        articles = read_articles(path, DataConfig())
    assert articles.texts == [r["text"] for r in ROWS] and articles.encoding == "cp1256"
    assert any("Windows-1256" in r.getMessage() and "';'" in r.getMessage() for r in caplog.records)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or directory"):
        read_articles(tmp_path / "nope.jsonl", DataConfig())
    write(tmp_path, "csv")
    with pytest.raises(DataError, match=r"no \.txt files.*news\.csv"):
        read_articles(tmp_path, DataConfig())
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.jsonl: the file is empty; expected one article per row, with a `text` column$"):
        read_articles(empty, DataConfig())  # unlabelled articles and articles to predict need no label column
