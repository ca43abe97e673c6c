"""The baseline learns the sample corpus; artefacts round-trip, describe themselves and refuse to load damaged."""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import training
from training.artifact import MANIFEST, ArtifactError
from training.data.loading import SAMPLE_CORPUS
from training.models.baseline import build_linear_model


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


def test_the_recorded_command_line_runs_again() -> None:
    from training.artifact import command_line

    main = str(Path(training.__file__).with_name("__main__.py"))
    assert command_line([main, "train", "--data.label-delimiter", ";", "--out", "my runs/a"]) == \
        "python -m training train --data.label-delimiter ';' --out 'my runs/a'"
    assert command_line(["benchmarks/bench_baseline.py", "--out", "x y.json"]) == \
        "python benchmarks/bench_baseline.py --out 'x y.json'"


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


# ------------------------------------------------------------------------------ fast paths and selection

TRICKY_DOCS = [
    "", "   ", "a", "ab", "و", "في", "ال ال ال", "Hello WORLD hello", "ااااا بببب", "x\ty\nz\u00a0w  v",
    "المنتخب الوطني يفوز على نظيره المغربي بهدفين", "هجوم إرهابي بسيارة مفخخة في العاصمة 2015",
    "URL EMAIL USER 12345 ١٢٣", "كلمة_بشرطة-سفلية co-operation e-mail",
]


@pytest.mark.parametrize("settings", [
    dict(analyzer="char_wb", ngram_range=(2, 5), min_df=2),
    dict(analyzer="char_wb", ngram_range=(1, 3), min_df=1, max_df=0.5),
    dict(analyzer="char_wb", ngram_range=(3, 6), min_df=1, max_features=500, lowercase=False),
    dict(analyzer="char_wb", ngram_range=(2, 4), min_df=1, binary=True, sublinear_tf=False, norm="l1"),
    dict(analyzer="word", ngram_range=(1, 2), min_df=1, token_pattern=r"(?u)\b\w+\b"),
])
def test_fast_vectorizer_equals_scikit_learn(settings: dict, sample_data) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from training.models.sklearn_fast import FastTfidfVectorizer

    kwargs = {"sublinear_tf": True, "dtype": np.float32, **settings}
    train = sample_data.train.texts + TRICKY_DOCS
    unseen = sample_data.test.texts + TRICKY_DOCS[::-1] + ["كلمات جديدة تماما لم ترد zzzz"]
    stock, fast = TfidfVectorizer(**kwargs), FastTfidfVectorizer(**kwargs)
    expected, got = stock.fit_transform(train), fast.fit_transform(train)
    assert fast.vocabulary_ == stock.vocabulary_
    assert (got != expected).nnz == 0 and got.dtype == expected.dtype
    for _ in range(2):  # the second time from the per-word memory
        assert (fast.transform(unseen) != stock.transform(unseen)).nnz == 0
    assert (fast.transform(unseen[:1]) != stock.transform(unseen[:1])).nnz == 0
    assert fast.transform([]).shape == (0, len(stock.vocabulary_))
    with pytest.raises(ValueError, match="Iterable over raw text documents expected"):
        fast.transform("one string")


def test_fast_vectorizer_pickles_without_its_memory(sample_data) -> None:
    import pickle

    from training.models.sklearn_fast import FastTfidfVectorizer

    vectorizer = FastTfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(sample_data.train.texts)
    before = vectorizer.transform(sample_data.test.texts)
    assert vectorizer._word_ids[1]  # words remembered for the next call...
    copy = pickle.loads(pickle.dumps(vectorizer))
    assert not hasattr(copy, "_word_ids")  # ...but never saved
    assert (copy.transform(sample_data.test.texts) != before).nnz == 0
    vectorizer.set_params(ngram_range=(2, 3)).fit(sample_data.train.texts)  # refitted: the memory is not reused
    assert vectorizer.transform(sample_data.test.texts).shape[1] == len(vectorizer.vocabulary_)


@pytest.fixture(scope="module")
def svm_classifier(sample_data):
    from training.config import BaselineConfig
    from training.data.normalize import normalizer_for
    from training.models.baseline import train_baseline

    config = BaselineConfig(classifiers=["svm"], svm_c_values=[0.5])
    classifier, search = train_baseline(sample_data, config, normalizer_for("default"), seed=13)
    return classifier, search


def test_fast_scores_equal_the_pipeline(svm_classifier, baseline_run: dict, sample_data) -> None:
    from training.models.sklearn_fast import CalibratedLinearScores

    texts, titles = sample_data.test.texts, sample_data.test.titles
    from training.data.loading import compose_inputs

    inputs = compose_inputs(texts, titles)
    for model in (svm_classifier[0], training.load(artefact_of(baseline_run))):
        expected = model.pipeline.predict_proba(inputs)
        assert np.allclose(model.predict_scores(texts, titles), expected, rtol=0, atol=1e-12)
        assert np.allclose(model.predict_scores(texts[:1], titles[:1]), expected[:1], rtol=0, atol=1e-12)
    classify = svm_classifier[0].pipeline.named_steps["classify"]
    assert CalibratedLinearScores.of(classify) is not None
    assert CalibratedLinearScores.of(training.load(artefact_of(baseline_run)).pipeline.named_steps["classify"]) is None


def test_search_log_and_per_classifier_grids(svm_classifier) -> None:
    from training.config import BaselineConfig
    from training.models.baseline import c_grid

    _, search = svm_classifier
    assert [(t["classifier"], t["C"]) for t in search["trials"]] == [("svm", 0.5)]
    assert search["chosen"]["classifier"] == "svm" and search["features_seconds"] > 0
    config = BaselineConfig(svm_c_values=[0.3, 1.0], logreg_c_values=[16.0])
    assert (c_grid(config, "svm"), c_grid(config, "logreg")) == ([0.3, 1.0], [16.0])
    config.c_values = [2.0]  # one shared grid, as older configs give it, overrides both
    assert (c_grid(config, "svm"), c_grid(config, "logreg")) == ([2.0], [2.0])


def test_selection_treats_near_scores_as_ties() -> None:
    from training.models.baseline import select_trial

    def trial(kind: str, c: float, score: float) -> dict:
        return {"classifier": kind, "C": c, "min_df": 2, "selection_macro_f1": score}

    trials = [trial("svm", 0.3, 0.930), trial("svm", 1.0, 0.926), trial("logreg", 16.0, 0.933)]
    assert select_trial(trials, 0.005, ["svm", "logreg"]) == 0  # logreg's lead is within the tolerance
    assert select_trial(trials, 0.0, ["svm", "logreg"]) == 2  # no tolerance: the plain maximum
    assert select_trial(trials, 0.005, ["logreg", "svm"]) == 2
    assert select_trial(trials + [trial("logreg", 20.0, 0.95)], 0.005, ["svm", "logreg"]) == 3  # a clear win
    three = [trial("svm", 0.1, 0.93), trial("svm", 0.3, 0.93), trial("svm", 1.0, 0.93)]
    assert select_trial(three, 0.005, ["svm"]) == 1  # ties within a classifier: the middle C


def test_label_scores_keep_one_column_per_label() -> None:
    from sklearn.linear_model import LogisticRegression

    from training.models.baseline import label_scores

    X, y = np.array([[0.0], [0.1], [1.0], [1.1]]), np.array([0, 0, 2, 2])  # label 1 is never a primary topic
    scores = label_scores(LogisticRegression().fit(X, y), X, 3)
    assert scores.shape == (4, 3) and np.all(scores[:, 1] == 0) and np.allclose(scores.sum(axis=1), 1)


def test_rare_classes_shrink_or_skip_svm_calibration(sample_data, caplog: pytest.LogCaptureFixture) -> None:
    from training.config import BaselineConfig
    from training.data.normalize import normalizer_for
    from training.models.baseline import train_baseline

    sport = [i for i, label in enumerate(sample_data.train.primary) if label == "sport"]
    others = [i for i, label in enumerate(sample_data.train.primary) if label != "sport"]
    config = BaselineConfig(classifiers=["svm", "logreg"], svm_c_values=[0.5], logreg_c_values=[4.0])
    for kept, expected in ((2, {"svm", "logreg"}), (1, {"logreg"})):
        data = dataclasses.replace(sample_data, train=sample_data.train.subset(sorted(others + sport[:kept])))
        with caplog.at_level(logging.WARNING):
            classifier, search = train_baseline(data, config, normalizer_for("default"), seed=13)
        assert {t["classifier"] for t in search["trials"]} == expected
        assert classifier.predict_scores(["مباراة كرة القدم"]).shape == (1, 4)
    assert "too few to calibrate an SVM" in caplog.text


def test_feature_block_weights(sample_data) -> None:
    from training.config import BaselineConfig, ConfigError
    from training.models.baseline import build_features, transform_features

    texts = sample_data.train.texts
    plain = build_features(BaselineConfig(), 2).fit(texts)
    weighted = build_features(BaselineConfig(word_weight=0.5), 2).fit(texts)
    assert weighted.transformer_weights == {"word": 0.5}
    x, xw = transform_features(plain, texts[:3]), transform_features(weighted, texts[:3])
    words = len(plain.transformer_list[0][1].vocabulary_)
    assert np.allclose(xw[:, :words].toarray(), 0.5 * x[:, :words].toarray())
    assert np.allclose(xw[:, words:].toarray(), x[:, words:].toarray())
    assert np.allclose(transform_features(weighted, texts[:3]).toarray(), weighted.transform(texts[:3]).toarray())
    chars_only = build_features(BaselineConfig(word_weight=0), 2)
    assert [name for name, _ in chars_only.transformer_list] == ["char"]
    with pytest.raises(ConfigError, match="both 0"):
        build_features(BaselineConfig(word_weight=0, char_weight=0), 2)


def test_benchmark_skips_without_shared_but_stops_on_a_wrong_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import runpy
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_baseline.py"
    argv = sys.argv
    sys.argv = [str(script), "--data", str(tmp_path / "absent")]
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2  # a path the user gave: a typo must not look like a skipped run
    assert capsys.readouterr().err == f"error: {tmp_path / 'absent' / 'train.jsonl'}: no such file; check --data\n"

    namespace = runpy.run_path(str(script))
    assert namespace["data_present"](tmp_path / "absent", default=tmp_path / "absent") is False  # no ../shared
    assert capsys.readouterr().out.startswith(f"skipped: {tmp_path / 'absent'} is absent")


def test_out_of_fold_scores_come_from_models_that_did_not_see_the_article(sample_data) -> None:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    from training.config import BaselineConfig
    from training.models.baseline import build_features, build_linear_model, out_of_fold_scores

    labels = sample_data.label_names
    X = build_features(BaselineConfig(), 2).fit_transform(sample_data.train.texts)
    y = sample_data.train.primary_ids(labels)
    svm = build_linear_model("svm", 0.5, None, False, 13).fit(X, y)
    oof = out_of_fold_scores(svm, X, y, len(labels), 3, 13)
    assert oof.shape == (len(y), len(labels)) and np.allclose(oof.sum(axis=1), 1)
    # the folds are the calibration's own: refitting on each fold's training part gives its model exactly
    for (train, held_out), part in zip(StratifiedKFold(3).split(X, y), svm.calibrated_classifiers_):
        refit = LinearSVC(C=0.5, random_state=13).fit(X[train], y[train])
        assert np.array_equal(refit.coef_, part.estimator.coef_)
        assert np.allclose(oof[held_out], part.predict_proba(X[held_out]))
    logreg = build_linear_model("logreg", 4.0, None, False, 13).fit(X, y)
    assert out_of_fold_scores(logreg, X, y, len(labels), 3, 13).shape == (len(y), len(labels))


def test_artefacts_pickle_only_stock_scikit_learn_classes(baseline_run: dict) -> None:
    """The fast paths rely on one scikit-learn release's internals: they are rebuilt at load, never saved."""
    import gzip

    from sklearn.feature_extraction.text import TfidfVectorizer

    artefact = artefact_of(baseline_run)
    with gzip.open(artefact / "pipeline.joblib", "rb") as handle:
        pickled = handle.read()
    assert b"sklearn_fast" not in pickled and b"FastTfidfVectorizer" not in pickled
    features = training.load(artefact).pipeline.named_steps["features"]
    assert all(type(v) is TfidfVectorizer for _, v in features.transformer_list)


def test_stock_path_gives_the_same_scores(svm_classifier, sample_data, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another scikit-learn release takes the stock path: same numbers, more slowly."""
    from training.models import sklearn_fast
    from training.models.baseline import BaselineClassifier

    model = svm_classifier[0]
    texts, titles = sample_data.test.texts, sample_data.test.titles
    fast = model.predict_scores(texts, titles)
    monkeypatch.setattr(sklearn_fast, "SUPPORTED", False)
    stock_model = BaselineClassifier(model.pipeline, labels=model.labels, multi_label=model.multi_label)
    assert sklearn_fast.CalibratedLinearScores.of(model.pipeline.named_steps["classify"]) is None
    assert np.allclose(stock_model.predict_scores(texts, titles), fast, rtol=0, atol=1e-9)
