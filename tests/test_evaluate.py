"""`python -m training evaluate`: two real models on the same articles, numbers worked out by hand."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from retraining_data import evaluation_rows, training_rows, write_jsonl

from training.artifact import load
from training.cli import main
from training.config import LabelledColumnsConfig, TrainConfig
from training.data.loading import DataError
from training.data.splits import Split
from training.evaluation.evaluate import calibration, evaluate_models
from training.train import run


def train_tiny(out: Path, rows: list[dict], **data_settings) -> Path:
    config = TrainConfig(out=str(out), models=["baseline"])
    config.data.path = str(write_jsonl(out.parent / f"{out.name}-data.jsonl", rows))
    for name, value in data_settings.items():
        setattr(config.data, name, value)
    config.baseline.classifiers, config.baseline.c_values = ["logreg"], [4.0]
    return Path(run(config)["best_artifact"])


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Both read `body`/`topic` columns: `right` learns the topics, `swapped` learns them the wrong way round."""
    root = tmp_path_factory.mktemp("evaluate")
    columns = {"text_column": "body", "label_column": "topic"}
    right = train_tiny(root / "right", training_rows(text_column="body", label_column="topic"), **columns)
    swapped = train_tiny(root / "swapped", training_rows(swap=True, text_column="body", label_column="topic"), **columns)
    return right, swapped


def test_two_models_on_the_same_articles(two_models: tuple[Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    right, swapped = two_models
    data = write_jsonl(tmp_path / "eval.jsonl", evaluation_rows(text_column="body", label_column="topic"))
    out = tmp_path / "report"
    # no --data.* flags: each model reads the file with the columns it was trained with (body, topic)
    assert main(["evaluate", str(right), str(swapped), "--data", str(data), "--out", str(out)]) == 0
    result = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert result["data"]["articles"] == 6
    good, bad = result["models"][str(right)], result["models"][str(swapped)]
    # right: sport TP 3 FP 1 (x1) FN 0 -> F1 6/7; diplomacy TP 2 FN 1 -> F1 4/5
    assert good["per_class"]["sport"]["f1"] == pytest.approx(6 / 7)
    assert good["per_class"]["diplomacy"]["f1"] == pytest.approx(4 / 5)
    assert good["macro_f1"] == pytest.approx((6 / 7 + 4 / 5) / 2)
    assert good["accuracy"] == pytest.approx(5 / 6)
    assert [m["id"] for m in good["misclassified"]] == ["x1"]
    # swapped: only x1 right; sport F1 0, diplomacy TP 1 FP 3 FN 2 -> F1 2/7
    assert bad["macro_f1"] == pytest.approx(1 / 7)
    assert bad["accuracy"] == pytest.approx(1 / 6)
    assert sorted(m["id"] for m in bad["misclassified"]) == ["d1", "d2", "s1", "s2", "s3"]
    # per source: A (s1, s2, d1) all right; B (s3, d2, x1): x1 wrong -> both topics' F1 2/3
    assert good["per_source"]["A"]["macro_f1"] == pytest.approx(1.0)
    assert good["per_source"]["B"]["macro_f1"] == pytest.approx(2 / 3)
    assert good["calibration"]["brier"] < bad["calibration"]["brier"]
    markdown = (out / "evaluation.md").read_text(encoding="utf-8")
    assert f"| {right} | {(6 / 7 + 4 / 5) / 2:.4f} | {5 / 6:.4f} |" in markdown
    assert "x1" in markdown and "Macro-F1 per source" in markdown
    assert (out / "confusion_matrices.png").stat().st_size > 1000
    assert not list(out.glob(".*partial"))
    assert good["trained_on"] == {"articles": 0, "ids": []} and "was trained on" not in markdown
    output = capsys.readouterr()
    assert f"{right}: macro-F1 {(6 / 7 + 4 / 5) / 2:.4f}" in output.out and "was trained on" not in output.err
    # an earlier evaluation in --out is kept unless replacing it is asked for
    assert main(["evaluate", str(swapped), "--data", str(data), "--out", str(out)]) == 2
    assert "evaluation.md: already exists; choose another --out, or add --overwrite" in capsys.readouterr().err
    assert str(swapped) in json.loads((out / "evaluation.json").read_text(encoding="utf-8"))["models"]
    assert main(["evaluate", str(swapped), "--data", str(data), "--out", str(out), "--overwrite"]) == 0
    assert list(json.loads((out / "evaluation.json").read_text(encoding="utf-8"))["models"]) == [str(swapped)]


def test_articles_a_model_was_trained_on_are_flagged(two_models: tuple[Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    """Scored on its own training file, a model looks better than it is: evaluate says so, with the count."""
    right, _ = two_models
    recorded = json.loads((right / "training_articles.json").read_text(encoding="utf-8"))
    seen = {entry["id"] for split in ("train", "validation") for entry in recorded[split]}
    data = right.parents[2] / "right-data.jsonl"  # what train_tiny trained it on (train, validation and test rows)
    out = tmp_path / "report"
    assert main(["evaluate", str(right), "--data", str(data), "--out", str(out)]) == 0
    flagged = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))["models"][str(right)]["trained_on"]
    assert flagged["articles"] == len(seen) and set(flagged["ids"]) <= seen and len(flagged["ids"]) == 20
    assert f"{right} was trained on {len(seen)} of these articles" in (out / "evaluation.md").read_text(encoding="utf-8")
    assert f"{right} was trained on {len(seen)} of these " in capsys.readouterr().err


def test_calibration_by_hand() -> None:
    split = Split("hand", ["a", "b"], ["", ""], ["x", "y"], [["sport"], ["diplomacy"]], ["", ""])
    scores = np.array([[0.8, 0.2], [0.6, 0.4]])  # columns sport, diplomacy: a right at 0.8, b wrong at 0.6
    result = calibration(scores, split, ["sport", "diplomacy"])
    assert result["brier"] == pytest.approx((0.2 ** 2 * 2 + 0.6 ** 2 * 2) / 2)
    assert result["ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.6)


def test_unknown_label_and_missing_data(two_models: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    right, _ = two_models
    rows = evaluation_rows(text_column="body", label_column="topic")
    rows[4]["topic"] = "weather"
    data = write_jsonl(tmp_path / "eval.jsonl", rows)
    with pytest.raises(DataError, match=r"eval.jsonl line 5 \(id d2\): label 'weather' is unknown to model"):
        evaluate_models({str(right): load(right)}, LabelledColumnsConfig(path=str(data)))
    assert main(["evaluate", str(right), "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "label 'weather' is unknown to model" in capsys.readouterr().err
    assert not (tmp_path / "o" / "evaluation.json").exists()
    assert main(["evaluate", str(right), "--out", str(tmp_path / "o")]) == 2
    assert "--data PATH is required" in capsys.readouterr().err
    # flags override the model's own columns: `text` does not exist in this file
    assert main(["evaluate", str(right), "--data", str(data), "--data.text-column", "headline"]) == 2
    assert "missing column 'headline'" in capsys.readouterr().err


def test_a_flag_is_honoured_even_when_it_names_the_default(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    right, _ = two_models  # trained on `body`: only the flag makes it read `text`, the default's name
    data = write_jsonl(tmp_path / "eval.jsonl", evaluation_rows(text_column="text", label_column="topic"))
    out = tmp_path / "o"
    assert main(["evaluate", str(right), "--data", str(data), "--data.text-column", "text", "--out", str(out)]) == 0
    result = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert result["models"][str(right)]["accuracy"] == pytest.approx(5 / 6)


def test_an_id_shared_by_two_articles_is_refused_as_in_training(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    right, _ = two_models
    rows = evaluation_rows(text_column="body", label_column="topic")
    rows[1]["id"] = rows[0]["id"]  # another article under the same id: the misclassified list would be ambiguous
    data = write_jsonl(tmp_path / "eval.jsonl", rows)
    with pytest.raises(DataError, match=rf"eval.jsonl line 2 \(id {rows[0]['id']}\): id '{rows[0]['id']}' is also the "
                                        r"id of another article \(.*eval.jsonl line 1"):
        evaluate_models({"right": load(right)}, LabelledColumnsConfig(path=str(data)))


def test_labels_are_read_as_training_reads_them(two_models: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    right, _ = two_models
    rows = evaluation_rows(text_column="body", label_column="topic")
    rows[0]["topic"] = " Sport "  # case and spaces folded into the model's spelling
    data = write_jsonl(tmp_path / "eval.jsonl", rows)
    result = evaluate_models({"right": load(right)}, LabelledColumnsConfig(path=str(data)))
    assert result["models"]["right"]["accuracy"] == pytest.approx(5 / 6)
    rows[4]["topic"] = "diplomacy;sport"
    write_jsonl(data, rows)
    with pytest.raises(DataError, match=r"line 5 \(id d2\): label 'diplomacy;sport' looks like two labels separated by "
                                        r"';': pass --data.label-delimiter ';'"):
        evaluate_models({"right": load(right)}, LabelledColumnsConfig(path=str(data)))
    primary_first = LabelledColumnsConfig(path=str(data), label_delimiter=";")
    assert evaluate_models({"right": load(right)}, primary_first)["models"]["right"]["accuracy"] == pytest.approx(5 / 6)
    rows[4]["topic"] = "diplomcy"  # a typo is named as one, as train names it
    write_jsonl(data, rows)
    with pytest.raises(DataError, match=r"line 5 \(id d2\): label 'diplomcy' looks like a typo of 'diplomacy', a label "
                                        r"of model right"):
        evaluate_models({"right": load(right)}, LabelledColumnsConfig(path=str(data)))
    # an optional column named on the command line must exist: a typo is not "no titles"
    assert main(["evaluate", str(right), "--data", str(data), "--data.title-column", "headlin"]) == 2
    err = capsys.readouterr().err
    assert "missing column 'headlin' (given with --data.title-column)" in err and "Traceback" not in err


def test_models_reading_different_articles_are_named(two_models: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    right, _ = two_models
    rows = [{**row, "ref": f"r{n}"} for n, row in enumerate(training_rows(text_column="body", label_column="topic"))]
    by_ref = train_tiny(tmp_path / "by-ref", rows, text_column="body", label_column="topic", id_column="ref")
    data = write_jsonl(tmp_path / "eval.jsonl", [{**row, "ref": f"r-{row['id']}"}
                                                 for row in evaluation_rows(text_column="body", label_column="topic")])
    assert main(["evaluate", str(right), str(by_ref), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"{right} and {by_ref} read it differently with their own column settings (article 1, {data} line 1 (id " \
           "s1), differs in its id: 's1' vs 'r-s1'); give the columns explicitly" in err
    # same ids, other texts: a model trained on `text` and one on `body`, reading a file that has both
    both = write_jsonl(tmp_path / "both.jsonl", [{**row, "text": row["body"] + " ملحق"}
                                                 for row in evaluation_rows(text_column="body", label_column="topic")])
    by_text = train_tiny(tmp_path / "by-text", training_rows(label_column="topic"), label_column="topic")
    assert main(["evaluate", str(right), str(by_text), "--data", str(both)]) == 2
    assert "line 1 (id s1), differs in its text); give the columns explicitly" in capsys.readouterr().err
    # a file that one model cannot read: the error says whose column settings need what is missing (`text`)
    assert main(["evaluate", str(right), str(by_text), "--data", str(data)]) == 2
    assert f"(reading it with {by_text}'s column settings)" in capsys.readouterr().err
    # a run directory is not a model: its models are named, the best first
    run_directory = right.parent.parent
    assert main(["evaluate", str(run_directory), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"{run_directory}: a training run, not an artefact; give one of its models, such as its best {right} " \
           "(it has baseline)" in err and "Traceback" not in err


def test_a_run_directory_without_its_report_lists_its_models(tmp_path: Path) -> None:
    from training.artifact import ArtifactError, read_manifest

    (tmp_path / "run" / "artifacts" / "baseline").mkdir(parents=True)
    with pytest.raises(ArtifactError, match=r"a training run, not an artefact; give one of its models, but it holds none"):
        read_manifest(tmp_path / "run")
    (tmp_path / "run" / "artifacts" / "baseline" / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "run" / "report.json").write_text('{"best": null}', encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"give one of its models, .*run/artifacts/NAME with NAME one of baseline$"):
        read_manifest(tmp_path / "run")


def test_a_topic_absent_from_the_articles_is_marked_not_scored_zero(two_models: tuple[Path, Path]) -> None:
    from training.evaluation.evaluate import markdown

    right, _ = two_models
    rows = [row for row in evaluation_rows(text_column="body", label_column="topic") if row["topic"] == "sport"]
    data = write_jsonl(right.parent.parent.parent / "sport-only.jsonl", rows)
    evaluation = evaluate_models({"right": load(right)}, LabelledColumnsConfig(path=str(data)))
    assert evaluation["models"]["right"]["macro_f1"] == 1.0  # every sport article right; diplomacy in neither
    assert "| F1 diplomacy | F1 sport |" in markdown(evaluation) and " | – | 1.0000 |" in markdown(evaluation)
