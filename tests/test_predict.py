"""``python -m training predict`` on real files of every input format, with a real (tiny-grid) baseline artefact."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from training.cli import main

SPORT = "فاز النادي في مباراة الدوري بثلاثة أهداف وتأهل إلى نهائي الكأس"
DIPLOMACY = "وزير الخارجية يستقبل السفير لبحث العلاقات الثنائية وتعزيز التعاون بين البلدين"
ARTICLES = [{"id": "a", "title": "الدوري", "text": SPORT}, {"id": "b", "title": "", "text": DIPLOMACY}]


@pytest.fixture(scope="module")
def model(baseline_run: dict) -> str:
    return str(baseline_run["out"] / "artifacts" / "baseline")


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _predict(model: str, source: Path, out: Path, *flags: str) -> list[dict]:
    assert main(["predict", "--model", model, "--input", str(source), "--output", str(out), *flags]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_every_table_format_keeps_ids_and_classifies(model: str, tmp_path: Path, fmt: str) -> None:
    source = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        _jsonl(source, ARTICLES)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ARTICLES), source)
    else:
        with source.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, ["id", "title", "text"], delimiter="\t" if fmt == "tsv" else ",")
            writer.writeheader()
            writer.writerows(ARTICLES)
    rows = _predict(model, source, tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == ["a", "b"]
    assert [r["label"] for r in rows] == ["sport", "diplomacy"]
    assert set(rows[0]) == {"id", "label", "labels", "scores", "low_confidence", "arabic_ratio"}
    assert rows[0]["arabic_ratio"] == 1.0 and abs(sum(rows[0]["scores"].values()) - 1) < 1e-3


def test_folder_of_text_files_and_other_columns(model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "match.txt").write_text(SPORT, encoding="utf-8")
    (folder / "visit.txt").write_text(DIPLOMACY, encoding="cp1256")  # an older Arabic encoding, detected
    rows = _predict(model, folder, tmp_path / "new" / "folder" / "out.jsonl")  # missing folders are created
    assert {r["id"]: r["label"] for r in rows} == {"match": "sport", "visit": "diplomacy"}

    renamed = _jsonl(tmp_path / "renamed.jsonl", [{"key": "k1", "body": SPORT, "headline": "الدوري"}])
    rows = _predict(model, renamed, tmp_path / "out2.jsonl", "--data.text-column", "body", "--data.id-column", "key",
                    "--data.title-column", "headline")
    assert [(r["id"], r["label"]) for r in rows] == [("k1", "sport")]
    assert main(["predict", "--model", model, "--input", str(renamed)]) == 2  # the model's own column: text
    misnamed = ["--data.text-column", "body", "--data.title-column", "headlines"]  # a typo is not "no titles"
    assert main(["predict", "--model", model, "--input", str(renamed), *misnamed]) == 2
    assert "missing column 'headlines' (given with --data.title-column)" in capsys.readouterr().err


def test_csv_output_has_one_score_column_per_label(model: str, tmp_path: Path) -> None:
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--model", model, "--input", str(_jsonl(tmp_path / "in.jsonl", ARTICLES)),
                 "--output", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = json.loads((Path(model) / "manifest.json").read_text(encoding="utf-8"))["labels"]
    assert list(rows[0]) == ["id", "label", "labels", *[f"score_{label}" for label in labels], "low_confidence",
                             "arabic_ratio"]
    assert [(r["id"], r["label"]) for r in rows] == [("a", "sport"), ("b", "diplomacy")]
    assert float(rows[0]["score_sport"]) > 0.5 and rows[0]["low_confidence"] in ("true", "false")


def test_bad_rows_stop_or_are_skipped_and_listed(model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_text(json.dumps(ARTICLES[0], ensure_ascii=False) + "\n{oops\n"
                      + json.dumps({"id": "empty", "text": "  "}) + "\n"
                      + json.dumps(ARTICLES[1], ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", model, "--input", str(source), "--output", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{source}: line 2 is not valid JSON" in errors[0]  # one line, no traceback
    assert not out.exists()  # nothing half-written

    rows = _predict(model, source, out, "--on-error", "skip")
    assert [r["id"] for r in rows] == ["a", "b"]
    err = capsys.readouterr().err
    assert "skipped 2 unreadable row(s)" in err and "line 2" in err and "line 3 (id empty)" in err
    assert err.count("line 3 (id empty)") == 1 and "unusable" not in err  # reported once, at the end


def test_stdout_is_jsonl(model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", "--model", model, "--input", str(_jsonl(tmp_path / "in.jsonl", ARTICLES))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert main(["predict", "--model", model, "--input", "x.jsonl", "--output", str(tmp_path / "out.txt")]) == 2
    assert "expected a .jsonl or .csv" in capsys.readouterr().err


def test_an_id_shared_by_two_rows_is_warned_about(model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = _jsonl(tmp_path / "in.jsonl", [ARTICLES[0], dict(ARTICLES[1], id="a")])
    assert [row["id"] for row in _predict(model, source, tmp_path / "out.jsonl")] == ["a", "a"]
    assert f"rows share an id, e.g. {source} line 1 (id a) and {source} line 2 (id a): their predictions cannot be " \
           "told apart by id; give every row its own id" in capsys.readouterr().err


def test_an_existing_output_is_replaced_only_when_asked(model: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    source = _jsonl(tmp_path / "in.jsonl", ARTICLES)
    assert main(["predict", "--model", model, "--input", str(source), "--output", str(source)]) == 2
    assert "is the --input file: the predictions would replace the articles" in capsys.readouterr().err
    link = tmp_path / "link.jsonl"
    link.hardlink_to(source)  # the same file under another name
    assert main(["predict", "--model", model, "--input", str(source), "--output", str(link), "--overwrite"]) == 2
    assert "is the --input file" in capsys.readouterr().err
    assert json.loads(source.read_text(encoding="utf-8").splitlines()[0]) == ARTICLES[0]  # the articles are intact
    out = tmp_path / "out.jsonl"
    out.write_text("earlier predictions\n", encoding="utf-8")
    assert main(["predict", "--model", model, "--input", str(source), "--output", str(out)]) == 2
    assert f"{out}: already exists; choose another --output, or add --overwrite" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "earlier predictions\n"
    assert [row["id"] for row in _predict(model, source, out, "--overwrite")] == ["a", "b"]


def test_a_models_training_file_format_is_not_forced_on_other_files(tmp_path: Path) -> None:
    """Columns come from the model's manifest; encoding and CSV delimiter are the training file's own, so another
    file is detected afresh (a model trained on a Windows-1256 ';' CSV used to read UTF-8 JSONL as Windows-1256)."""
    from training.config import ColumnsConfig
    from training.data.articles import read_articles

    manifest = {"config": {"data": {"text_column": "body", "title_column": "headline", "encoding": "cp1256",
                                    "csv_delimiter": ";"}}}
    settings = ColumnsConfig().resolve(manifest)
    assert (settings.text_column, settings.title_column) == ("body", "headline")
    assert (settings.encoding, settings.csv_delimiter) == ("auto", "auto")
    articles = tmp_path / "articles.jsonl"
    articles.write_text(json.dumps({"id": "a", "headline": "مباراة", "body": SPORT}, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    assert read_articles(articles, settings).texts == [SPORT]
    given = ColumnsConfig(encoding="cp1256", csv_delimiter=";").resolve(manifest)
    assert (given.encoding, given.csv_delimiter) == ("cp1256", ";")
