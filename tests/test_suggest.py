"""``python -m training suggest`` and the Label Studio round trip, on the sample corpus with a real baseline."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from training.cli import main
from training.data.identity import content_hash
from training.data.label_studio import annotated_tasks, choice_result
from training.data.loading import SAMPLE_CORPUS
from training.suggest import distinct, select, source_quotas

SAMPLE = [json.loads(line) for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
TRUTH = {row["id"]: row["labels"] for row in SAMPLE}


@pytest.fixture(scope="module")
def model(baseline_run: dict) -> str:
    return str(baseline_run["out"] / "artifacts" / "baseline")


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    """The sample articles without labels, as later versions (the model was trained on the originals), with
    repeats of some texts under other ids, and a few originals that the model was trained on."""
    rows = [{"id": r["id"], "source": r["source"], "title": r["title"], "text": r["text"] + " (محدث)"} for r in SAMPLE]
    rows += [{**rows[i], "id": f"copy-{i}", "text": "  " + rows[i]["text"] + " "} for i in range(0, 40, 4)]
    rows += [{**r, "id": f"original-{r['id']}"} for r in SAMPLE[:40]]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _suggest(model: str, pool: Path, out: Path, *flags: str) -> list[dict]:
    assert main(["suggest", "--model", model, "--pool", str(pool), "--out", str(out), *flags]) == 0
    with out.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_suggest_writes_distinct_balanced_articles_identically_for_a_seed(model: str, pool: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    first = _suggest(model, pool, tmp_path / "a" / "to_label.csv", "--n", "60", "--seed", "3")
    left_out = capsys.readouterr().err
    assert (tmp_path / "a" / "to_label.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    assert list(first[0]) == ["id", "source", "title", "text", "predicted_label", "score", "margin", "label"]
    assert len(first) == 60 and all(r["label"] == "" for r in first)
    assert len({r["id"] for r in first}) == 60 and len({" ".join(r["text"].split()) for r in first}) == 60
    assert not any(r["id"].startswith("copy-") for r in first)  # repeats were dropped before choosing
    trained_on = json.loads((Path(model) / "training_articles.json").read_text(encoding="utf-8"))
    trained_ids = {f"original-{entry['id']}" for split in ("train", "validation") for entry in trained_on[split]}
    assert trained_ids and not trained_ids & {r["id"] for r in first}  # already labelled: never suggested
    known = len(trained_ids & {f"original-{r['id']}" for r in SAMPLE[:40]})
    assert f"10 repeated texts and {known} articles of the model's training data left out" in left_out
    assert {s: sum(r["source"] == s for r in first) for s in ("daily", "wire")} == {"daily": 30, "wire": 30}
    # the most doubtful come first: the first pick is far less sure than the model is on average
    assert float(first[0]["margin"]) < np.median([float(r["margin"]) for r in first]) + 1e-9

    again = _suggest(model, pool, tmp_path / "b" / "to_label.csv", "--n", "60", "--seed", "3")
    assert again == first
    assert main(["suggest", "--model", model, "--pool", str(pool), "--out", str(tmp_path / "c.csv"),
                 "--batch-size", "0"]) == 2
    sheet = tmp_path / "a" / "to_label.csv"
    filled = sheet.read_bytes()
    assert main(["suggest", "--model", model, "--pool", str(pool), "--out", str(sheet)]) == 2  # being labelled
    assert sheet.read_bytes() == filled
    assert main(["suggest", "--model", model, "--pool", str(pool), "--out", str(sheet), "--overwrite", "--n", "60",
                 "--seed", "3"]) == 0
    for suffix in (".label-studio.json", ".label-studio.xml"):
        assert (tmp_path / "a" / f"to_label{suffix}").read_bytes() == (tmp_path / "b" / f"to_label{suffix}").read_bytes()

    tasks = json.loads((tmp_path / "a" / "to_label.label-studio.json").read_text(encoding="utf-8"))
    assert [t["data"]["id"] for t in tasks] == [r["id"] for r in first]
    assert set(tasks[0]["data"]) == {"id", "title", "text", "source"}
    prediction = tasks[0]["predictions"][0]["result"][0]
    assert prediction["type"] == "choices" and prediction["value"]["choices"] == [first[0]["predicted_label"]]
    xml = (tmp_path / "a" / "to_label.label-studio.xml").read_text(encoding="utf-8")
    assert '<Choices name="label" toName="text"' in xml and xml.count("<Choice value=") == 4


def test_a_pool_with_one_id_for_two_articles_is_refused(model: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """The labelled sheet would be refused by train after the annotators' work: refused here, before scoring."""
    rows = [{"id": "same", "text": r["text"] + " (محدث)"} for r in SAMPLE[:5]]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["suggest", "--model", model, "--pool", str(pool), "--out", str(tmp_path / "s.csv")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"error: {pool} line 1 (id same) and {pool} line 2 (id same) are different articles with one id: train "
        "refuses such labelled data; give every row of the pool its own id")
    assert not (tmp_path / "s.csv").exists()


def test_selection_prefers_doubt_rarity_and_variety() -> None:
    labels = ["common", "rare"]
    docs = ["مباراة كرة القدم اليوم", "مباراة كرة القدم اليوم", "اجتماع وزراء الخارجية", "قصف مدفعي على الحدود"]
    scores = np.array([[0.5, 0.5], [0.5, 0.5], [0.55, 0.45], [0.95, 0.05]])
    picks, margin = select(scores, docs, [""] * 4, labels, 2, train_counts={"common": 90, "rare": 10}, seed=0)
    assert picks[0] in (0, 1) and picks[1] == 2  # the twin of the first pick adds nothing: the next doubtful one
    assert margin.round(2).tolist() == [0.0, 0.0, 0.1, 0.9]
    # rarity: equal doubt, but the article probably of the rare topic goes first
    picks, _ = select(np.array([[0.7, 0.3], [0.3, 0.7]]), docs[2:], ["", ""], labels, 1,
                      train_counts={"common": 90, "rare": 10})
    assert picks == [1]
    assert source_quotas(["a"] * 2 + ["b"] * 10 + ["c"] * 10, 12) == {"a": 2, "b": 5, "c": 5}
    keep, known = distinct(docs, ["", "", "", "عنوان"], {content_hash("", docs[2])})
    assert (keep, known) == ([0, 3], 1)  # a repeat, and an article the model was trained on, left out


def test_label_studio_round_trip_trains(model: str, pool: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _suggest(model, pool, tmp_path / "to_label.csv", "--n", "80")
    tasks = json.loads((tmp_path / "to_label.label-studio.json").read_text(encoding="utf-8"))
    for number, task in enumerate(tasks, 1):  # what Label Studio's JSON export adds to each imported task
        task["id"] = number
        task["annotations"] = [{"id": number, "completed_by": 1, "was_cancelled": False, "ground_truth": False,
                                "result": choice_result(TRUTH[task["data"]["id"]])}]
    tasks[0]["annotations"][0]["was_cancelled"] = True  # skipped by the annotator
    tasks[1]["annotations"] = []                          # never labelled
    tasks[2]["annotations"].insert(0, {"id": 999, "was_cancelled": False, "result": choice_result(["sport"])})
    rows = [row for _, row in annotated_tasks(tasks, "export.json")]
    assert len(rows) == 78 and rows[0]["labels"] == TRUTH[rows[0]["id"]]  # the latest annotation wins
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")

    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", "--data", str(export), "--out", str(out), "--baseline.classifiers", "logreg",
                 "--baseline.c-values", "4"]) == 0
    assert "2 of 80 tasks have no submitted choice" in capsys.readouterr().err  # counted, never silently dropped
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    counts = report["data"]["counts"]
    assert sum(sum(split.values()) for split in counts.values()) == 78
    assert report["labels"] == ["diplomacy", "other", "sport", "terrorism"]
    assert (out / "artifacts" / "baseline" / "manifest.json").is_file()

    tasks[5]["data"]["text"] = ""  # errors name the task's place in the export, not its place among those kept
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    assert main(["train", "--data", str(export), "--out", str(tmp_path / "r3")]) == 2
    assert f"export.json task 6 (id {tasks[5]['data']['id']}): column 'text' is empty" in capsys.readouterr().err

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps([{**tasks[1], "annotations": []}], ensure_ascii=False), encoding="utf-8")
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r2")]) == 2
    assert "no annotated task" in capsys.readouterr().err
