"""Model evaluation and data analysis for the notebooks: pure functions returning pandas DataFrames and dicts.

The notebooks only call these (and ``training.evaluation.plots``), so everything they show is unit-tested. Scores are
always ``(articles, labels)`` probability matrices whose columns follow one ``labels`` list; "correct" means
the top-scoring label is the article's primary label.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..artifact import MANIFEST
from ..data.splits import LabelledData, Split
from .metrics import confidence_and_correct, expected_calibration_error, reliability_table  # noqa: F401 (notebooks)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "arabic-news-topics"
LENGTH_EDGES = (0, 50, 100, 200, 400)
# A small grid for the notebooks' fallback model: one logistic regression, smaller vocabularies.
QUICK_BASELINE = {"classifiers": ["logreg"], "c_values": [4.0], "char_ngrams": [3, 4], "max_features": 20_000}


# ------------------------------------------------------------------------------------- data and models

def resolve_data_path(data: str | Path | None = "auto") -> str:
    """``"auto"``: ../shared/datasets/arabic-news-topics when present, else the built-in sample corpus;
    ``None``, ``""`` or ``"sample"``: the built-in sample corpus; anything else: that path or hub id."""
    from ..data.loading import SAMPLE_CORPUS

    if data is None or str(data) in ("", "sample"):
        return str(SAMPLE_CORPUS)
    if str(data) == "auto":
        return str(SHARED_DATASET if SHARED_DATASET.is_dir() else SAMPLE_CORPUS)
    return str(data)


def load_eval_data(data: str | Path | None = "auto", seed: int = 13) -> LabelledData:
    from ..config import DataConfig
    from ..data.loading import load_data

    return load_data(DataConfig(path=resolve_data_path(data)), seed=seed)


def train_quick_baseline(data: str | Path | None, out_dir: str | Path, seed: int = 13) -> Path:
    """Train one small baseline (``QUICK_BASELINE``) on ``data``'s training split; return its artefact directory."""
    from ..config import TrainConfig
    from ..train import run

    config = TrainConfig(out=str(out_dir), models=["baseline"], seed=seed)
    config.data.path = resolve_data_path(data)
    for name, value in QUICK_BASELINE.items():
        setattr(config.baseline, name, value)
    return Path(run(config)["best_artifact"])


def resolve_models(references: str | Path | Sequence[str | Path]) -> dict[str, Path]:
    """Display name -> artefact directory, for artefact directories, run directories (every candidate under
    ``artifacts/``) and BentoML store tags (anything that is not an existing path); one reference may be given
    without a list."""
    if isinstance(references, (str, Path)):
        references = [references]
    found: list[tuple[str, Path]] = []
    for reference in references:
        path = Path(reference).expanduser()
        if (path / MANIFEST).is_file():
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            found.append((str(manifest.get("candidate") or manifest.get("model_type") or path.name), path))
        elif path.is_dir():
            artefacts = sorted(p for p in (path / "artifacts").glob("*") if (p / MANIFEST).is_file())
            if not artefacts:
                raise FileNotFoundError(f"{path}: neither an artefact directory (manifest.json) nor a run directory "
                                        "(artifacts/<candidate>/manifest.json)")
            found += [(f"{path.name}/{artefact.name}", artefact) for artefact in artefacts]
        else:
            from ..registry import locate

            found.append((str(reference), locate(str(reference))[1]))
    resolved: dict[str, Path] = {}
    for name, path in found:
        unique, n = name, 2
        while unique in resolved:
            unique, n = f"{name} #{n}", n + 1
        resolved[unique] = path
    return resolved


def load_models(references: str | Path | Sequence[str | Path]) -> dict:
    """Display name -> loaded ``Classifier`` (see ``resolve_models``)."""
    from ..artifact import load

    return {name: load(path) for name, path in resolve_models(references).items()}


def evaluation_labels(models: Mapping, data: LabelledData) -> list[str]:
    """The first model's label order; every model must know the same labels, covering all of the data's."""
    (first, model), *_ = models.items()
    labels = list(model.labels)
    for name, other in models.items():
        if set(other.labels) != set(labels):
            raise ValueError(f"model {name} has labels {other.labels}, {first} has {labels}; compare models "
                             "trained on the same label set")
    if unknown := sorted(set(data.label_names) - set(labels)):
        raise ValueError(f"the data has labels the models do not know: {unknown} (models know {labels})")
    return labels


def model_overview(models: Mapping, data: LabelledData | None = None) -> pd.DataFrame:
    """One row per model from its manifest: type, training data, validation macro-F1, creation time, and
    whether it was trained on exactly ``data`` (same fingerprint; if not, its training set may overlap the test)."""
    rows = {name: {"model_type": m.manifest.get("model_type"), "trained on": m.manifest.get("data", {}).get("source"),
                   "validation macro_f1": m.manifest.get("metrics", {}).get("validation", {}).get("macro_f1"),
                   "created": m.manifest.get("created_at"), "seed": m.manifest.get("seed"),
                   **({} if data is None else {"same data": m.manifest.get("data", {}).get("fingerprint") == data.fingerprint})}
            for name, m in models.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def pick_baseline(models: Mapping):
    """The first model with a linear pipeline (top n-grams need one), else None."""
    return next((model for model in models.values() if hasattr(model, "pipeline")), None)


def align_scores(scores: np.ndarray, model_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Reorder score columns from the model's label order to ``labels``."""
    order = [list(model_labels).index(label) for label in labels]
    return np.asarray(scores, dtype=float)[:, order]


def score_models(models: Mapping, split: Split, labels: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: align_scores(model.predict_scores(split.texts, split.titles), model.labels, labels)
            for name, model in models.items()}


# ---------------------------------------------------------------------------------------------- summary

def word_counts(texts: Sequence[str]) -> np.ndarray:
    return np.array([len(text.split()) for text in texts], dtype=np.int64)


def label_balance(data: LabelledData) -> pd.DataFrame:
    """Primary-label counts per split (columns) and each label's share of all articles."""
    frame = pd.DataFrame({split.name: Counter(split.primary) for split in data.splits()}, index=data.label_names)
    frame = frame.fillna(0).astype(int).rename_axis("label")
    frame["total"] = frame.sum(axis=1)
    frame["share"] = (frame["total"] / max(frame["total"].sum(), 1)).round(4)
    return frame


def source_balance(data: LabelledData) -> pd.DataFrame:
    """Articles per source (rows) and primary label (columns), all splits together."""
    sources = [s or "(none)" for split in data.splits() for s in split.sources]
    primary = [label for split in data.splits() for label in split.primary]
    return pd.crosstab(pd.Series(sources, name="source"), pd.Series(primary, name="label"), margins=True, margins_name="total")


def length_summary(split: Split) -> pd.DataFrame:
    """Word-count distribution (count, mean, quartiles, max) per primary label and overall."""
    frame = pd.DataFrame({"label": split.primary, "words": word_counts(split.texts)})
    table = frame.groupby("label")["words"].describe()
    table.loc["all"] = frame["words"].describe()
    return table.round(1)


def lengths_by_label(split: Split, labels: Sequence[str]) -> dict[str, np.ndarray]:
    counts, primary = word_counts(split.texts), np.array(split.primary)
    return {label: counts[primary == label] for label in labels}


# ------------------------------------------------------------------------------------------- metrics

def metrics_table(scores: Mapping[str, np.ndarray], split: Split, labels: Sequence[str], bins: int = 10) -> pd.DataFrame:
    """One row per model: accuracy, macro_f1, ECE and per-class F1 (``f1_<label>``) on the primary label."""
    from .metrics import evaluate_scores

    rows = {}
    for name, matrix in scores.items():
        result = evaluate_scores(matrix, split, labels, multi_label=False)
        confidence, correct = confidence_and_correct(matrix, split, labels)
        rows[name] = {"articles": result["articles"], "accuracy": result["accuracy"], "macro_f1": result["macro_f1"],
                      "ece": expected_calibration_error(confidence, correct, bins),
                      **{f"f1_{label}": result["per_class"][label]["f1"] for label in labels}}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def per_class_table(scores: Mapping[str, np.ndarray], split: Split, labels: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per (model, label)."""
    from .metrics import evaluate_scores

    rows = [{"model": name, "label": label, **values} for name, matrix in scores.items()
            for label, values in evaluate_scores(matrix, split, labels, multi_label=False)["per_class"].items()]
    return pd.DataFrame(rows).set_index(["model", "label"])


def confusion_frame(scores: np.ndarray, split: Split, labels: Sequence[str]) -> pd.DataFrame:
    """Counts with true labels as rows and predicted labels as columns."""
    truth = split.primary_ids(labels)
    predicted = np.asarray(scores).argmax(axis=1)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return pd.DataFrame(matrix, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))


def pr_curves(scores: np.ndarray, split: Split, labels: Sequence[str]) -> dict[str, dict]:
    """Per label (one vs rest on the primary label): precision, recall arrays and average precision.
    Labels absent from the split get empty curves and an AP of NaN."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    truth = split.primary_ids(labels)
    curves = {}
    for column, label in enumerate(labels):
        positive = truth == column
        if not positive.any():
            curves[label] = {"precision": np.array([]), "recall": np.array([]), "ap": float("nan"), "support": 0}
            continue
        precision, recall, _ = precision_recall_curve(positive, scores[:, column])
        curves[label] = {"precision": precision, "recall": recall, "support": int(positive.sum()),
                         "ap": float(average_precision_score(positive, scores[:, column]))}
    return curves


# ----------------------------------------------------------------------------------------- calibration

# ------------------------------------------------------------------------------------ accuracy by group

def length_buckets(word_counts: Sequence[int], edges: Sequence[int] = LENGTH_EDGES) -> list[str]:
    """Bucket names for word counts: with edges (0, 50, 100) -> "0-49", "50-99", "100+"."""
    edges = list(edges)
    names = [f"{low}-{high - 1}" for low, high in zip(edges, edges[1:])] + [f"{edges[-1]}+"]
    positions = np.searchsorted(np.asarray(edges), np.asarray(word_counts), side="right") - 1
    return [names[max(int(p), 0)] for p in positions]


def accuracy_by_group(correct: Mapping[str, Sequence[bool]], groups: Sequence[str],
                      order: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows: groups (in ``order``, else sorted; empty groups of ``order`` are dropped); columns: article count
    and one accuracy per model."""
    frame = pd.DataFrame({name: np.asarray(values, dtype=float) for name, values in correct.items()})
    frame["group"] = list(groups)
    table = frame.groupby("group").mean()
    table.insert(0, "articles", frame.groupby("group").size())
    return table.reindex([g for g in (order or sorted(table.index)) if g in table.index]).rename_axis("group")


def _correct(scores: Mapping[str, np.ndarray], split: Split, labels: Sequence[str]) -> dict[str, np.ndarray]:
    truth = split.primary_ids(labels)
    return {name: np.asarray(matrix).argmax(axis=1) == truth for name, matrix in scores.items()}


def accuracy_by_length(scores: Mapping[str, np.ndarray], split: Split, labels: Sequence[str],
                       edges: Sequence[int] = LENGTH_EDGES) -> pd.DataFrame:
    return accuracy_by_group(_correct(scores, split, labels), length_buckets(word_counts(split.texts), edges),
                             length_buckets(list(edges), edges)).rename_axis("words")


def accuracy_by_source(scores: Mapping[str, np.ndarray], split: Split, labels: Sequence[str]) -> pd.DataFrame:
    return accuracy_by_group(_correct(scores, split, labels), [s or "(none)" for s in split.sources]).rename_axis("source")


# ------------------------------------------------------------------------------- errors and disagreements

def _articles(split: Split, rows: np.ndarray, columns: dict) -> pd.DataFrame:
    """Table of the articles ``rows``: id, the given columns, then title and text."""
    return pd.DataFrame({"id": [split.ids[i] for i in rows], **columns,
                         "title": [split.titles[i] for i in rows], "text": [split.texts[i] for i in rows]})


def worst_errors(scores: np.ndarray, split: Split, labels: Sequence[str], k: int = 20) -> pd.DataFrame:
    """The ``k`` most confident wrong predictions, most confident first (ties keep split order)."""
    scores = np.asarray(scores, dtype=float)
    truth, predicted = split.primary_ids(labels), scores.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.argsort(-scores[wrong, predicted[wrong]], kind="stable")][:k]
    return _articles(split, wrong, {
        "source": [split.sources[i] for i in wrong], "true": [labels[truth[i]] for i in wrong],
        "predicted": [labels[predicted[i]] for i in wrong], "confidence": scores[wrong, predicted[wrong]],
        "true_score": scores[wrong, truth[wrong]]})


def disagreements(scores_a: np.ndarray, scores_b: np.ndarray, split: Split, labels: Sequence[str],
                  names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Articles where the two models' top labels differ, the most confident disagreements first (sum of both
    top scores; ties keep split order), with which model was right (``right``: a name or "neither")."""
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    truth, pred_a, pred_b = split.primary_ids(labels), a.argmax(axis=1), b.argmax(axis=1)
    rows = np.flatnonzero(pred_a != pred_b)
    rows = rows[np.argsort(-(a[rows, pred_a[rows]] + b[rows, pred_b[rows]]), kind="stable")]
    right = [names[0] if pred_a[i] == truth[i] else names[1] if pred_b[i] == truth[i] else "neither" for i in rows]
    return _articles(split, rows, {
        "true": [labels[truth[i]] for i in rows],
        names[0]: [labels[pred_a[i]] for i in rows], f"{names[0]} confidence": a[rows, pred_a[rows]],
        names[1]: [labels[pred_b[i]] for i in rows], f"{names[1]} confidence": b[rows, pred_b[rows]],
        "right": right})


def agreement_summary(scores_a: np.ndarray, scores_b: np.ndarray, split: Split, labels: Sequence[str],
                      names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """2x2 article counts: model a right/wrong (rows) by model b right/wrong (columns)."""
    truth = split.primary_ids(labels)
    right_a = np.asarray(scores_a).argmax(axis=1) == truth
    right_b = np.asarray(scores_b).argmax(axis=1) == truth
    outcome = lambda flags: np.where(flags, "right", "wrong")  # noqa: E731
    table = pd.crosstab(pd.Series(outcome(right_a), name=names[0]), pd.Series(outcome(right_b), name=names[1]))
    return table.reindex(index=["right", "wrong"], columns=["right", "wrong"], fill_value=0)


# ----------------------------------------------------------------------------------------- exploration

def cooccurrence(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> pd.DataFrame:
    """Articles per (primary label, secondary label): rows primary, columns secondary topics."""
    matrix = pd.DataFrame(0, index=pd.Index(labels, name="primary"), columns=pd.Index(labels, name="secondary"))
    for article in label_lists:
        for secondary in dict.fromkeys(article[1:]):
            if secondary != article[0]:
                matrix.loc[article[0], secondary] += 1
    return matrix


def _coefficients(classify, n_labels: int) -> np.ndarray:
    """(labels, features) weights of a fitted linear model; zeros for a label it never learnt."""
    from .explain import linear_coefficients

    vectors = [linear_coefficients(classify, index) for index in range(n_labels)]
    width = next(len(v) for v in vectors if v is not None)
    return np.vstack([v if v is not None else np.zeros(width) for v in vectors])


def top_ngrams(classifier, k: int = 15, kind: str | None = "word") -> pd.DataFrame:
    """A baseline's most label-indicative features: per label the ``k`` largest weights (rank 1 first), of
    ``kind`` "word", "char" or (with --baseline.word-clusters) "cluster" n-grams (None: all). N-grams are in the
    normaliser's output form."""
    pipeline = getattr(classifier, "pipeline", None)
    if pipeline is None:
        raise TypeError(f"{type(classifier).__name__} has no linear pipeline; top n-grams need a baseline model")
    names = pipeline.named_steps["features"].get_feature_names_out()
    coef = _coefficients(pipeline.named_steps["classify"], len(classifier.labels))
    kinds = np.array([name.split("__", 1)[0] for name in names])
    if kind is not None and kind not in set(kinds):
        found = ", ".join(repr(str(name)) for name in dict.fromkeys(kinds))
        raise ValueError(f"n-gram kind {kind!r}: this baseline has {found}")
    grams = np.array([name.split("__", 1)[1] for name in names], dtype=object)
    keep = np.ones(len(names), dtype=bool) if kind is None else kinds == kind
    rows = []
    for row, label in enumerate(classifier.labels):
        weights = np.where(keep, coef[row], -np.inf)
        for rank, column in enumerate(np.argsort(-weights, kind="stable")[:k], 1):
            if np.isfinite(weights[column]):
                rows.append({"label": label, "rank": rank, "ngram": grams[column], "kind": kinds[column],
                             "weight": float(coef[row, column])})
    return pd.DataFrame(rows, columns=["label", "rank", "ngram", "kind", "weight"])


def data_findings(report: dict) -> dict[str, pd.DataFrame]:
    """``LabelledData.report`` as tables: exact duplicates dropped per split, and texts leaking across splits."""
    duplicates = pd.DataFrame(
        [{"split": split, "dropped": info["count"], "example ids": ", ".join(info["ids"][:5])}
         for split, info in report.get("duplicates_dropped", {}).items()], columns=["split", "dropped", "example ids"])
    leakage = pd.DataFrame(
        [{"splits": pair, "texts": info["count"], "example ids": ", ".join(info["ids"][:5])}
         for pair, info in report.get("leakage", {}).items()], columns=["splits", "texts", "example ids"])
    return {"duplicates": duplicates, "leakage": leakage}
