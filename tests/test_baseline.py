"""The baseline learns the sample corpus; artefacts round-trip, describe themselves and refuse to load damaged."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import training
from training.artifact import ArtifactError, MANIFEST
from training.baseline import build_linear_model
from training.data import SAMPLE_CORPUS


def artefact_of(run: dict) -> Path:
    return Path(run["candidates"]["baseline"]["artifact"])


def test_baseline_learns_the_sample_corpus(baseline_run: dict) -> None:
    assert baseline_run["best"] == "baseline"
    assert baseline_run["candidates"]["baseline"]["validation"]["macro_f1"] > 0.75
    assert baseline_run["test"]["macro_f1"] > 0.75  # chance is 0.25 on four balanced labels
    assert baseline_run["multi_label"] and "multi_label" in baseline_run["test"]


def test_round_trip_gives_identical_scores(baseline_run: dict, sample_data) -> None:
    path = artefact_of(baseline_run)
    first, second = training.load(path), training.load(path)
    texts, titles = sample_data.test.texts, sample_data.test.titles
    assert np.array_equal(first.predict_scores(texts, titles), second.predict_scores(texts, titles))
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    recorded = manifest["metrics"]["test"]["macro_f1"]
    assert recorded == pytest.approx(baseline_run["test"]["macro_f1"])


def test_predictions_carry_labels_scores_and_flags(baseline_run: dict) -> None:
    model = training.load(artefact_of(baseline_run))
    predictions = model.predict(["المنتخب يفوز بالمباراة النهائية للكأس بهدفين", "اجتماع وزراء الخارجية لبحث العلاقات الثنائية"],
                                titles=["فوز كبير", None])
    assert [p.label for p in predictions] == ["sport", "diplomacy"]
    for p in predictions:
        assert set(p.scores) == set(model.labels)
        assert p.labels[0] == p.label
        assert isinstance(p.low_confidence, bool)
    assert model.predict([]) == []


def test_manifest_describes_the_model(baseline_run: dict) -> None:
    path = artefact_of(baseline_run)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    for key in ("schema_version", "model_type", "labels", "normalizer", "config", "seed", "data", "metrics",
                "library_versions", "git_commit", "command_line", "created_at", "files", "thresholds"):
        assert key in manifest, key
    assert manifest["labels"] == ["diplomacy", "other", "sport", "terrorism"]
    assert manifest["normalizer"]["unify_alef"] is True
    assert manifest["data"]["fingerprint"].startswith("sha256:")
    assert set(manifest["data"]["counts"]) == {"train", "validation", "test"}
    assert "scikit-learn" in manifest["library_versions"]
    card = (path / "README.md").read_text(encoding="utf-8")
    assert "macro-F1" in card and manifest["data"]["fingerprint"] in card


def test_damaged_artefacts_fail_clearly(baseline_run: dict, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(artefact_of(baseline_run), broken)
    (broken / "pipeline.joblib").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="pipeline.joblib is corrupt"):
        training.load(broken)
    (broken / "pipeline.joblib").unlink()
    with pytest.raises(ArtifactError, match="pipeline.joblib is missing"):
        training.load(broken)
    (broken / MANIFEST).write_text("{", encoding="utf-8")
    with pytest.raises(ArtifactError, match="corrupt manifest"):
        training.load(broken)
    (broken / MANIFEST).unlink()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        training.load(broken)
    with pytest.raises(ArtifactError, match="no such artefact directory"):
        training.load(tmp_path / "nowhere")


def test_version_mismatch_warns(baseline_run: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / "old"
    shutil.copytree(artefact_of(baseline_run), copy)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["library_versions"]["scikit-learn"] = "0.0.1"
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        training.load(copy)
    assert "scikit-learn 0.0.1" in caplog.text


def test_single_label_scores_sum_to_one(tmp_path: Path) -> None:
    from training.config import TrainConfig
    from training.train import run

    rows = [json.loads(line) for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()]
    data_file = tmp_path / "single.jsonl"
    data_file.write_text("".join(json.dumps({"text": r["text"], "title": r["title"], "label": r["label"]}, ensure_ascii=False)
                                 + "\n" for r in rows), encoding="utf-8")
    config = TrainConfig(out=str(tmp_path / "run"))
    config.data.path = str(data_file)
    config.baseline.classifiers, config.baseline.c_values = ["svm"], [0.5]
    report = run(config)
    assert not report["multi_label"]
    model = training.load(report["best_artifact"])
    scores = model.predict_scores(["مباراة كرة القدم انتهت بالتعادل"])
    assert scores.sum() == pytest.approx(1.0)
    assert model.predict(["مباراة كرة القدم انتهت بالتعادل"])[0].labels == ["sport"]


def test_unknown_linear_model_is_refused() -> None:
    with pytest.raises(ValueError, match="expected logreg or svm"):
        build_linear_model("forest", 1.0, None, False, 0)


def test_interrupted_save_leaves_nothing(baseline_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training import artifact

    model = training.load(artefact_of(baseline_run))
    target = tmp_path / "artefact"

    def explode(directory: Path) -> dict:
        (directory / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save_model_files", explode)
    with pytest.raises(KeyboardInterrupt):
        artifact.save(model, target)
    assert list(tmp_path.iterdir()) == []
