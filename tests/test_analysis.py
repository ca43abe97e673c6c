"""Tests for training.evaluation.analysis (exact expectations on hand-made inputs) and training.evaluation.plots (figures, Arabic)."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from training.data.splits import Split
from training.evaluation import analysis, plots

LABELS = ["diplomacy", "sport", "terrorism"]


def make_split(primary, texts=None, sources=None, secondary=None) -> Split:
    n = len(primary)
    return Split(
        name="test", ids=[f"a{i}" for i in range(n)], titles=[f"عنوان {i}" for i in range(n)],
        texts=texts or [f"نص {i}" for i in range(n)],
        labels=[[p] + list((secondary or {}).get(i, [])) for i, p in enumerate(primary)],
        sources=sources or ["wire"] * n)


def onehotish(predicted, confidence) -> np.ndarray:
    """Scores whose top label is ``predicted[i]`` with score ``confidence[i]``; the rest share what is left."""
    scores = np.zeros((len(predicted), len(LABELS)))
    for row, (label, top) in enumerate(zip(predicted, confidence)):
        scores[row, :] = (1 - top) / (len(LABELS) - 1)
        scores[row, LABELS.index(label)] = top
    return scores


# ----------------------------------------------------------------------------------------- calibration

def test_expected_calibration_error_of_a_known_case() -> None:
    # four articles at 0.9 (3 right) and two at 0.6 (1 right): 4/6 * |0.75 - 0.9| + 2/6 * |0.5 - 0.6|
    confidence = [0.9, 0.9, 0.9, 0.9, 0.6, 0.6]
    correct = [True, True, True, False, True, False]
    assert analysis.expected_calibration_error(confidence, correct, bins=10) == pytest.approx(0.4 / 3, abs=1e-12)
    table = analysis.reliability_table(confidence, correct, bins=10)
    assert list(table.index) == list(range(10))
    assert table.loc[8, ["count", "confidence", "accuracy"]].tolist() == pytest.approx([4, 0.9, 0.75])
    assert table.loc[5, ["count", "confidence", "accuracy", "gap"]].tolist() == pytest.approx([2, 0.6, 0.5, 0.1])
    assert table["count"].sum() == 6 and table.drop(index=[5, 8])["accuracy"].isna().all()
    assert (table.loc[8, "lower"], table.loc[8, "upper"]) == pytest.approx((0.8, 0.9))


def test_calibration_edges_and_perfect_calibration() -> None:
    # bin i holds (i/10, (i+1)/10]: 0.7 and 0.1 sit at the top of their bins despite float rounding
    table = analysis.reliability_table([0.0, 0.1, 0.7, 0.70001, 1.0], [True] * 5, bins=10)
    assert table["count"].tolist() == [2, 0, 0, 0, 0, 0, 1, 1, 0, 1]
    assert analysis.expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert analysis.expected_calibration_error([1.0, 1.0], [False, False]) == pytest.approx(1.0)
    assert math.isnan(analysis.expected_calibration_error([], []))


# ------------------------------------------------------------------------------------ accuracy by group

def test_length_buckets() -> None:
    counts = [0, 49, 50, 99, 100, 199, 200, 399, 400, 5000]
    assert analysis.length_buckets(counts) == ["0-49", "0-49", "50-99", "50-99", "100-199", "100-199",
                                               "200-399", "200-399", "400+", "400+"]
    assert analysis.length_buckets([3, 10, 11], edges=(0, 10)) == ["0-9", "10+", "10+"]
    assert analysis.word_counts(["a b  c", "واحد", " "]).tolist() == [3, 1, 0]


def test_accuracy_by_length_and_source() -> None:
    texts = ["w " * 10, "w " * 20, "w " * 60, "w " * 70, "w " * 500]
    split = make_split(["sport", "sport", "terrorism", "diplomacy", "sport"], texts=texts,
                       sources=["wire", "daily", "wire", "", "daily"])
    scores = {
        "a": onehotish(["sport", "terrorism", "terrorism", "terrorism", "sport"], [0.9] * 5),
        "b": onehotish(["sport", "sport", "sport", "diplomacy", "diplomacy"], [0.9] * 5),
    }
    by_length = analysis.accuracy_by_length(scores, split, LABELS)
    assert list(by_length.index) == ["0-49", "50-99", "400+"]  # empty buckets dropped, natural order kept
    assert by_length["articles"].tolist() == [2, 2, 1]
    assert by_length["a"].tolist() == [0.5, 0.5, 1.0]
    assert by_length["b"].tolist() == [1.0, 0.5, 0.0]
    by_source = analysis.accuracy_by_source(scores, split, LABELS)
    assert list(by_source.index) == ["(none)", "daily", "wire"]
    assert by_source["articles"].tolist() == [1, 2, 2]
    assert by_source["a"].tolist() == [0.0, 0.5, 1.0]
    assert by_source["b"].tolist() == [1.0, 0.5, 0.5]


# ------------------------------------------------------------------------------- errors and disagreements

def test_worst_errors_most_confident_first() -> None:
    split = make_split(["sport", "sport", "terrorism", "diplomacy", "sport", "terrorism"])
    scores = onehotish(["sport", "terrorism", "diplomacy", "terrorism", "diplomacy", "sport"],
                       [0.99, 0.6, 0.95, 0.8, 0.8, 0.7])
    errors = analysis.worst_errors(scores, split, LABELS)
    assert errors["id"].tolist() == ["a2", "a3", "a4", "a5", "a1"]  # a3 and a4 tie at 0.8: split order
    assert errors["confidence"].tolist() == pytest.approx([0.95, 0.8, 0.8, 0.7, 0.6])
    assert errors.loc[0, ["true", "predicted"]].tolist() == ["terrorism", "diplomacy"]
    assert errors.loc[0, "true_score"] == pytest.approx(0.025)
    assert errors.loc[0, "title"] == "عنوان 2" and list(errors.columns)[-2:] == ["title", "text"]
    assert analysis.worst_errors(scores, split, LABELS, k=2)["id"].tolist() == ["a2", "a3"]
    assert analysis.worst_errors(onehotish(split.primary, [0.9] * 6), split, LABELS).empty


def test_disagreements_and_agreement_summary() -> None:
    split = make_split(["sport", "sport", "terrorism", "diplomacy", "sport"])
    a = onehotish(["sport", "sport", "diplomacy", "terrorism", "terrorism"], [0.9, 0.9, 0.6, 0.7, 0.5])
    b = onehotish(["sport", "diplomacy", "terrorism", "sport", "terrorism"], [0.8, 0.9, 0.9, 0.9, 0.9])
    table = analysis.disagreements(a, b, split, LABELS, names=("base", "bert"))
    # rows 1, 2, 3 disagree (row 4 agrees on the same wrong label); ordered by summed top scores 1.8, 1.6, 1.5
    assert table["id"].tolist() == ["a1", "a3", "a2"]
    assert table["right"].tolist() == ["base", "neither", "bert"]
    assert table["base"].tolist() == ["sport", "terrorism", "diplomacy"]
    assert table["bert"].tolist() == ["diplomacy", "sport", "terrorism"]
    assert table["base confidence"].tolist() == pytest.approx([0.9, 0.7, 0.6])
    summary = analysis.agreement_summary(a, b, split, LABELS, names=("base", "bert"))
    assert summary.loc["right", "right"] == 1 and summary.loc["right", "wrong"] == 1
    assert summary.loc["wrong", "right"] == 1 and summary.loc["wrong", "wrong"] == 2
    assert analysis.disagreements(a, a, split, LABELS).empty


# ------------------------------------------------------------------------------------------- metrics

def test_metrics_confusion_and_pr_curves() -> None:
    split = make_split(["sport", "sport", "terrorism", "diplomacy"])
    scores = onehotish(["sport", "terrorism", "terrorism", "diplomacy"], [0.9, 0.6, 0.8, 0.7])
    confusion = analysis.confusion_frame(scores, split, LABELS)
    assert confusion.loc["sport"].tolist() == [0, 1, 1] and confusion.to_numpy().sum() == 4
    metrics = analysis.metrics_table({"m": scores}, split, LABELS)
    assert metrics.loc["m", "accuracy"] == pytest.approx(0.75)
    # F1: diplomacy 1, sport 2/3 (P 1, R 0.5), terrorism 2/3 (P 0.5, R 1)
    assert metrics.loc["m", ["f1_diplomacy", "f1_sport", "f1_terrorism"]].tolist() == pytest.approx([1, 2 / 3, 2 / 3])
    assert metrics.loc["m", "macro_f1"] == pytest.approx(7 / 9)
    assert {"accuracy", "macro_f1", "ece", "articles"} <= set(metrics.columns)
    per_class = analysis.per_class_table({"m": scores}, split, LABELS)
    assert per_class.loc[("m", "terrorism"), ["precision", "recall", "support"]].tolist() == pytest.approx([0.5, 1, 1])
    curves = analysis.pr_curves(scores, make_split(["sport", "sport", "diplomacy", "diplomacy"]), LABELS)
    assert math.isnan(curves["terrorism"]["ap"]) and curves["terrorism"]["support"] == 0
    assert 0 < curves["sport"]["ap"] <= 1 and len(curves["sport"]["precision"]) == len(curves["sport"]["recall"])


def test_align_scores_and_label_checks(sample_data) -> None:
    scores = np.array([[0.1, 0.2, 0.7]])
    assert analysis.align_scores(scores, ["c", "a", "b"], ["a", "b", "c"]).tolist() == [[0.2, 0.7, 0.1]]

    class Fake:
        def __init__(self, labels):
            self.labels = labels

    names = sample_data.label_names
    assert analysis.evaluation_labels({"x": Fake(names[::-1]), "y": Fake(names)}, sample_data) == names[::-1]
    with pytest.raises(ValueError, match="same label set"):
        analysis.evaluation_labels({"x": Fake(names), "y": Fake(names[:-1])}, sample_data)
    with pytest.raises(ValueError, match="do not know"):
        analysis.evaluation_labels({"x": Fake(names[:-1])}, sample_data)


# ----------------------------------------------------------------------------------------- exploration

def test_cooccurrence_counts() -> None:
    lists = [["sport"], ["diplomacy", "terrorism"], ["terrorism", "diplomacy"], ["diplomacy", "terrorism", "sport"],
             ["sport", "diplomacy", "diplomacy"], ["terrorism", "terrorism"]]
    matrix = analysis.cooccurrence(lists, LABELS)
    assert matrix.loc["diplomacy"].tolist() == [0, 1, 2]
    assert matrix.loc["sport"].tolist() == [1, 0, 0]  # a repeated secondary counts once
    assert matrix.loc["terrorism"].tolist() == [1, 0, 0]  # the primary repeated as secondary does not count
    assert matrix.to_numpy().sum() == 5 and matrix.index.name == "primary"


def test_data_summaries(sample_data) -> None:
    balance = analysis.label_balance(sample_data)
    assert list(balance.index) == sample_data.label_names
    assert balance["total"].sum() == sum(len(s) for s in sample_data.splits())
    assert balance["test"].sum() == len(sample_data.test) and balance["share"].sum() == pytest.approx(1, abs=1e-3)
    sources = analysis.source_balance(sample_data)
    assert sources.loc["total", "total"] == balance["total"].sum()
    lengths = analysis.length_summary(sample_data.test)
    assert lengths.loc["all", "count"] == len(sample_data.test)
    assert sum(len(v) for v in analysis.lengths_by_label(sample_data.test, sample_data.label_names).values()) == len(sample_data.test)
    report = {"duplicates_dropped": {"train": {"count": 2, "ids": ["x", "y"]}},
              "leakage": {"train/test": {"count": 1, "ids": ["z"]}}}
    findings = analysis.data_findings(report)
    assert findings["duplicates"].to_dict("records") == [{"split": "train", "dropped": 2, "example ids": "x, y"}]
    assert findings["leakage"].to_dict("records") == [{"splits": "train/test", "texts": 1, "example ids": "z"}]
    assert all(t.empty for t in analysis.data_findings({}).values())


def test_resolve_data_path() -> None:
    from training.data.loading import SAMPLE_CORPUS

    assert analysis.resolve_data_path("sample") == analysis.resolve_data_path(None) == str(SAMPLE_CORPUS)
    assert analysis.resolve_data_path("some/dir") == "some/dir"
    expected = analysis.SHARED_DATASET if analysis.SHARED_DATASET.is_dir() else SAMPLE_CORPUS
    assert analysis.resolve_data_path("auto") == str(expected)


def _toy_classifier(kind: str, labels: list[str]):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    words = {"sport": "مباراة هدف", "terrorism": "تفجير هجوم", "diplomacy": "سفير قمة"}
    texts = [f"{words[label]} خبر {i}" for label in labels for i in range(6)]
    y = np.repeat(np.arange(len(labels)), 6)
    model = {"logreg": LogisticRegression(C=10), "svm": CalibratedClassifierCV(LinearSVC(), cv=2),
             "ovr": OneVsRestClassifier(LogisticRegression(C=10))}[kind]
    if kind == "ovr":
        y = np.eye(len(labels), dtype=int)[y]
    features = FeatureUnion([("word", TfidfVectorizer(token_pattern=r"(?u)\b\w+\b")),
                             ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)))])
    pipeline = Pipeline([("normalize", "passthrough"), ("features", features), ("classify", model)]).fit(texts, y)

    class Toy:
        pass

    toy = Toy()
    toy.pipeline, toy.labels = pipeline, labels
    return toy


@pytest.mark.parametrize("kind", ["logreg", "svm", "ovr"])
@pytest.mark.parametrize("labels", [["sport", "terrorism"], ["diplomacy", "sport", "terrorism"]])
def test_top_ngrams_of_each_linear_model(kind: str, labels: list[str]) -> None:
    words = {"sport": {"مباراة", "هدف"}, "terrorism": {"تفجير", "هجوم"}, "diplomacy": {"سفير", "قمة"}}
    table = analysis.top_ngrams(_toy_classifier(kind, labels), k=2)
    for label in labels:
        part = table[table["label"] == label]
        assert part["rank"].tolist() == [1, 2] and set(part["kind"]) == {"word"}
        assert set(part["ngram"]) == words[label], (kind, label, part)
        assert (part["weight"].diff().dropna() <= 0).all()
    chars = analysis.top_ngrams(_toy_classifier(kind, labels), k=3, kind="char")
    assert set(chars["kind"]) == {"char"} and len(chars) == 3 * len(labels)
    with pytest.raises(ValueError, match="n-gram kind 'chars': this baseline has 'word', 'char'"):
        analysis.top_ngrams(_toy_classifier(kind, labels), kind="chars")  # the notebook's ngram_kind, mistyped
    with pytest.raises(TypeError, match="baseline"):
        analysis.top_ngrams(object())


@pytest.mark.slow
def test_top_ngrams_of_the_sample_baseline_name_each_topic(baseline_run) -> None:
    model = analysis.load_models([baseline_run["out"] / "artifacts" / "baseline"])["baseline"]
    table = analysis.top_ngrams(model, k=25)
    obvious = {"sport": ["القدم", "المنتخب", "النادي", "الفريق", "بطولة", "مباراة", "الدوري", "كرة"],
               "terrorism": ["الإرهاب", "إرهابية", "داعش", "تفجير", "هجوم", "الإرهابي", "انتحاري"],
               "diplomacy": ["الخارجية", "السفير", "العلاقات", "البلدين", "زيارة", "التعاون", "قمة"]}
    for label, words in obvious.items():
        expected = set(model.normalizer.transform(words))
        found = set(table.loc[table["label"] == label, "ngram"])
        assert found & expected, f"{label}: top n-grams {sorted(found)} share nothing with {sorted(expected)}"


@pytest.mark.slow
def test_resolve_and_describe_models(baseline_run, sample_data) -> None:
    run_dir = baseline_run["out"]
    artefact = run_dir / "artifacts" / "baseline"
    resolved = analysis.resolve_models([run_dir, artefact, str(artefact)])
    assert resolved == {f"{run_dir.name}/baseline": artefact, "baseline": artefact, "baseline #2": artefact}
    assert analysis.resolve_models(str(artefact)) == {"baseline": artefact}  # one path, not its characters
    with pytest.raises(FileNotFoundError, match="run directory"):
        analysis.resolve_models([run_dir.parent])
    models = analysis.load_models([artefact])
    overview = analysis.model_overview(models, sample_data)
    assert overview.loc["baseline", "same data"] and overview.loc["baseline", "model_type"] == "baseline"
    scores = analysis.score_models(models, sample_data.test, analysis.evaluation_labels(models, sample_data))
    assert scores["baseline"].shape == (len(sample_data.test), len(sample_data.label_names))
    expected = json.loads((artefact / "manifest.json").read_text())["metrics"]["test"]["macro_f1"]
    table = analysis.metrics_table(scores, sample_data.test, sample_data.label_names)
    assert table.loc["baseline", "macro_f1"] == pytest.approx(expected)
    assert analysis.pick_baseline(models) is models["baseline"]


@pytest.mark.slow
def test_models_by_store_tag(baseline_run, model_name: str) -> None:
    from training.registry import register

    entry = register(baseline_run["out"] / "artifacts" / "baseline", model_name)
    resolved = analysis.resolve_models([model_name, entry["tag"]])
    assert list(resolved) == [model_name, entry["tag"]]
    assert all(path.name == "artifact" and (path / "manifest.json").is_file() for path in resolved.values())


# ---------------------------------------------------------------------------------------------- plots

def test_rtl_html_marks_arabic_right_to_left() -> None:
    frame = pd.DataFrame({"id": ["x<1>"], "confidence": [0.91234], "title": ["عنوان الخبر"],
                          "text": ["نص طويل " * 100]})
    page = plots.rtl_html(frame, max_chars=50)
    assert page.count('dir="rtl"') == 2 and "x&lt;1&gt;" in page and "0.912" in page
    assert "…" in page and page.count("نص طويل") < 10
    assert 'dir="rtl"' in plots.rtl_html(pd.DataFrame({"note": ["كلمة"]}), rtl_columns=())


def test_arabic_text_is_shaped_once(monkeypatch) -> None:
    text = "كرة القدم"
    assert plots.arabic("sport") == "sport"
    if plots.native_arabic_layout() == (True, True):  # matplotlib >= 3.11 lays out Arabic itself (libraqm)
        assert plots.arabic(text) == text
    monkeypatch.setattr(plots, "native_arabic_layout", lambda: (False, False))
    shaped = plots.arabic(text)
    assert shaped != text and all("\ufe70" <= c <= "\ufeff" or c == " " for c in shaped)
    assert shaped.split(" ")[0] == plots.arabic("القدم")  # visual order: the last word comes first


def test_figures_render_with_arabic_glyphs(tmp_path) -> None:
    split = make_split(["sport", "terrorism", "diplomacy", "sport"], texts=["a b", "a b c", "a", "a b c d"])
    scores = {"m1": onehotish(["sport", "terrorism", "sport", "sport"], [0.9, 0.6, 0.7, 0.8]),
              "m2": onehotish(["sport", "diplomacy", "diplomacy", "sport"], [0.8, 0.5, 0.9, 0.6])}
    ngrams = pd.DataFrame({"label": ["sport", "sport", "terrorism"], "rank": [1, 2, 1],
                           "ngram": ["كرة القدم", "المنتخب", "الإرهاب"], "kind": "word", "weight": [2.0, 1.0, 3.0]})
    reliability = {n: analysis.reliability_table(*analysis.confidence_and_correct(s, split, LABELS)) for n, s in scores.items()}
    figures = {
        "counts": plots.plot_label_counts(pd.DataFrame({"train": [3, 4], "test": [1, 2]}, index=["رياضة", "sport"])),
        "lengths": plots.plot_length_distribution(analysis.lengths_by_label(split, LABELS)),
        "confusion": plots.plot_confusion_matrices({n: analysis.confusion_frame(s, split, LABELS) for n, s in scores.items()}),
        "pr": plots.plot_pr_curves({n: analysis.pr_curves(s, split, LABELS) for n, s in scores.items()}),
        "reliability": plots.plot_reliability(reliability, {"m1": 0.1, "m2": 0.2}),
        "length": plots.plot_accuracy_by_group(analysis.accuracy_by_length(scores, split, LABELS), "by length"),
        "cooccurrence": plots.plot_cooccurrence(analysis.cooccurrence(split.labels, LABELS)),
        "ngrams": plots.plot_top_ngrams(ngrams),
    }
    assert len(figures["confusion"].axes) == 2 and len(figures["pr"].axes) == 3
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        for name, figure in figures.items():
            path = plots.save(figure, tmp_path / f"{name}.png", dpi=40)
            assert path.stat().st_size > 1000
