"""training.evaluation.explain: linear evidence in the input's own spelling, occlusion for any classifier."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from training.artifact import Classifier
from training.evaluation.explain import (
    MAX_UNITS,
    explain,
    explain_linear,
    explain_occlusion,
    linear_coefficients,
    split_sentences,
)

TITLE = "وزارةُ الخارجيّة تُدين الهجومَ الإرهابيَّ"
TEXT = ("أدانت وزارةُ الخارجيّة الهجومَ الإرهابيَّ الذي استهدف نقطة أمنية، وأكّدت دعمها لجهود مكافحة الإرهاب. "
        "وقال المتحدث إن الوزير سيلتقي نظيره الأمريكي الأسبوع المقبل؟ كما فاز المنتخب بالمباراة؛ وانتهى اللقاء.")


@pytest.fixture(scope="module")
def baseline(baseline_run: dict):
    from training import load

    return load(baseline_run["best_artifact"])


def test_linear_evidence_uses_the_original_spelling(baseline) -> None:
    result = explain(baseline, TEXT, TITLE, top_k=15)
    assert result.method == "linear" and result.label in baseline.labels
    assert 0 < len(result.evidence) <= 15 and all(e.weight > 0 for e in result.evidence)
    assert [e.weight for e in result.evidence] == sorted((e.weight for e in result.evidence), reverse=True)
    assert all(e.weight < 0 for e in result.counter_evidence)
    for item in result.evidence + result.counter_evidence:
        assert item.kind in ("word", "char")
        assert item.original and all(o in TEXT or o in TITLE for o in item.original), item
    # Features are normalised (no diacritics, folded ta marbuta); the evidence shows the article's spelling.
    words = [e for e in result.evidence + result.counter_evidence if e.kind == "word"]
    assert any(e.feature != e.original[0] for e in words)
    assert not any("\u064F" in e.feature or "\u0651" in e.feature for e in words)  # damma, shadda stripped
    assert result.words and all(w.word in TEXT or w.word in TITLE for w in result.words)
    assert result.score == pytest.approx(float(baseline.predict_scores([TEXT], [TITLE])[0][baseline.labels.index(result.label)]), abs=1e-5)


def test_linear_contributions_are_coefficient_times_tfidf(baseline) -> None:
    from training.data.loading import compose_inputs

    result = explain_linear(baseline, TEXT, TITLE, top_k=3)
    steps = baseline.pipeline.named_steps
    x = steps["features"].transform(steps["normalize"].transform(compose_inputs([TEXT], [TITLE]))).toarray()[0]
    coef = linear_coefficients(steps["classify"], baseline.labels.index(result.label))
    contributions = x * coef
    assert result.evidence[0].weight == pytest.approx(contributions.max(), abs=1e-5)


def test_explain_a_chosen_label(baseline) -> None:
    for label in baseline.labels:
        assert explain(baseline, TEXT, label=label, top_k=2).label == label
    with pytest.raises(ValueError, match="unknown label"):
        explain(baseline, TEXT, label="weather")
    with pytest.raises(ValueError, match="method"):
        explain(baseline, TEXT, method="magic")
    with pytest.raises(ValueError, match="top_k"):
        explain(baseline, TEXT, top_k=0)


def test_occlusion_measures_the_score_drop_per_sentence(baseline) -> None:
    result = explain_occlusion(baseline, TEXT, TITLE, top_k=10)
    assert result.method == "occlusion"
    k = baseline.labels.index(result.label)
    units = result.evidence + result.counter_evidence
    assert any(u.kind == "title" for u in units) or all(u.weight == 0 for u in units)
    for unit in units:
        if unit.kind == "sentence":
            assert TEXT[unit.start:unit.end] == unit.original[0]
            rest = (TEXT[:unit.start].rstrip() + "\n" + TEXT[unit.end:].lstrip()).strip()
            without = baseline.predict_scores([rest], [TITLE])[0][k]
        else:
            assert unit.original == [TITLE] and unit.start is None
            without = baseline.predict_scores([TEXT], None)[0][k]
        assert unit.weight == pytest.approx(result.score - without, abs=1e-5)


class KeywordClassifier(Classifier):
    """Not a linear pipeline: "sport" scores by how often the word كرة appears."""

    model_type = "keyword"

    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        hits = np.array([t.count("كرة") for t in texts], dtype=float)
        sport = hits / (hits + 1.0)
        return np.stack([1 - sport, sport], axis=1)

    def save_model_files(self, directory: Path) -> dict:
        return {}

    @classmethod
    def load_model_files(cls, directory: Path, manifest: dict) -> "KeywordClassifier":
        return cls(labels=["other", "sport"], multi_label=False)


def test_any_classifier_is_explained_by_occlusion() -> None:
    model = KeywordClassifier(labels=["other", "sport"], multi_label=False)
    text = "انعقد المؤتمر في الرباط. لعب الفريق كرة القدم وسجل كرة رائعة! ثم عاد الوفد إلى بلاده."
    result = explain(model, text, label="sport")
    assert result.method == "occlusion" and result.words == []
    assert "كرة" in result.evidence[0].original[0]
    assert result.evidence[0].weight > 0 and len(result.evidence) == 1
    with pytest.raises(ValueError, match="occlusion"):
        explain(model, text, method="linear")


def test_split_sentences_on_arabic_punctuation_and_lines() -> None:
    text = "  الجملة الأولى؟ الجملة الثانية؛ الثالثة.\n\nالرابعة بلا نقطة  \n ... \n"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["الجملة الأولى؟", "الجملة الثانية؛", "الثالثة.", "الرابعة بلا نقطة"]
    assert split_sentences("") == [] and split_sentences("  \n ") == []
    money = "وافق المجلس على قرض بقيمة 1.9 مليار دولار. وينتهي في 2030."  # a decimal point ends no sentence
    assert [money[a:b] for a, b in split_sentences(money)] == ["وافق المجلس على قرض بقيمة 1.9 مليار دولار.",
                                                                "وينتهي في 2030."]


def test_long_texts_are_grouped_into_few_units() -> None:
    model = KeywordClassifier(labels=["other", "sport"], multi_label=False)
    text = " ".join(f"جملة رقم {i}." for i in range(300)) + " كرة."
    result = explain_occlusion(model, text, label="sport", top_k=MAX_UNITS + 10)
    units = result.evidence + result.counter_evidence
    assert len(units) <= MAX_UNITS
    assert result.evidence and "كرة" in result.evidence[0].original[0]


def test_linear_coefficients_of_each_model_shape() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 5))
    y3 = np.repeat([0, 1, 2], 30)
    x[y3 == 1, 0] += 3
    x[y3 == 2, 1] += 3
    multinomial = LogisticRegression(max_iter=500).fit(x, y3)
    assert np.allclose(linear_coefficients(multinomial, 2), multinomial.coef_[2])

    y2 = (y3 == 1).astype(int)
    binary = LogisticRegression(max_iter=500).fit(x, y2)
    assert np.allclose(linear_coefficients(binary, 1), binary.coef_[0])
    assert np.allclose(linear_coefficients(binary, 0), -binary.coef_[0])
    assert linear_coefficients(binary, 5) is None

    calibrated = CalibratedClassifierCV(LinearSVC(), cv=3).fit(x, y3)
    vector = linear_coefficients(calibrated, 1)
    assert vector.shape == (5,) and vector[0] > 0  # feature 0 marks class 1

    indicator = np.stack([y3 == 0, y3 == 1, y3 == 2], axis=1).astype(int)
    ovr = OneVsRestClassifier(LogisticRegression(max_iter=500)).fit(x, indicator)
    assert np.allclose(linear_coefficients(ovr, 2), ovr.estimators_[2].coef_[0])
    assert linear_coefficients(object(), 0) is None



class UniformClassifier(KeywordClassifier):
    """Every label equally likely, whatever the input: as an ensemble member it shifts scores, never evidence."""

    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        return np.full((len(texts), len(self.labels)), 1 / len(self.labels))


def test_an_ensemble_is_explained_by_occlusion_of_its_mixed_scores(baseline) -> None:
    """The ensemble has no linear pipeline of its own: auto falls back to occlusion, on the ensemble's scores."""
    from training.models.ensemble import EnsembleClassifier

    uniform = UniformClassifier(labels=baseline.labels, multi_label=baseline.multi_label)
    ensemble = EnsembleClassifier({"baseline": baseline, "uniform": uniform}, [0.75, 0.25], labels=baseline.labels,
                                  multi_label=baseline.multi_label)
    result = explain(ensemble, TEXT, TITLE, top_k=10)
    assert result.method == "occlusion"
    k, share = baseline.labels.index(result.label), 0.25 / len(baseline.labels)
    with_title = baseline.predict_scores([TEXT], [TITLE])[0][k]
    assert result.score == pytest.approx(0.75 * with_title + share, abs=1e-5)
    title = [u for u in result.evidence + result.counter_evidence if u.kind == "title"]
    if title:  # the uniform member moves nothing: each drop is 3/4 of the baseline's
        assert title[0].weight == pytest.approx(0.75 * (with_title - baseline.predict_scores([TEXT], None)[0][k]), abs=1e-5)
    with pytest.raises(ValueError, match="occlusion"):
        explain(ensemble, TEXT, TITLE, method="linear")
