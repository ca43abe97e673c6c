"""Compare models on the same articles: ``python -m training evaluate MODEL [MODEL ...] --data PATH [--out DIR]``.

Every row of ``--data`` (one file, or every split file of a directory) is one evaluation set. Each model reads it
with its own column settings (its manifest's ``config.data``) unless ``--data.*`` flags say otherwise, so a model
trained on a CSV with a ``topic`` column is evaluated on that CSV without flags. The same scoring function
(``score_model``) serves this command, the evaluation notebook and the champion/challenger check of
``train --register``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..artifact import Classifier, load, refuse_existing, write_json_atomic, write_text_atomic
from ..config import ConfigError, DataConfig, LabelledColumnsConfig, setting
from ..data.identity import recorded_hashes, split_hashes
from ..data.labels import check_joined, look_alike, shown, unify_spellings
from ..data.loading import DataError, read_evaluation_set
from ..data.splits import Split
from .metrics import confidence_and_correct, evaluate_scores, expected_calibration_error

logger = logging.getLogger(__name__)

REPORT_FILES = ("evaluation.md", "evaluation.json", "confusion_matrices.png")


@dataclass
class EvaluateConfig:
    """Settings of `python -m training evaluate`."""

    models: list[str] = setting([], "Artefact directories or BentoML store tags (NAME = its served version, or "
                                "NAME:VERSION) to compare on the same articles.", positional=True)
    data: LabelledColumnsConfig = setting(LabelledColumnsConfig(), "Evaluation data: every row is evaluated. Column "
                                          "settings default to each model's own (its manifest); --data.* flags "
                                          "override them.")
    out: str = setting("evaluation", "Directory for evaluation.md, evaluation.json and confusion_matrices.png.",
                       common=True)
    bins: int = setting(10, "Confidence bins of the expected calibration error.")
    overwrite: bool = setting(False, "Replace the reports of an earlier evaluation in --out (otherwise refused).")

    def validate(self) -> None:
        if not self.models:
            raise ConfigError("evaluate: give at least one MODEL (an artefact directory or a store tag)")
        if not self.data.path:
            raise ConfigError("evaluate: --data PATH is required (a data file, or a directory whose split files "
                              "are all evaluated)")
        if self.bins < 1:
            raise ConfigError(f"--bins: expected a positive number of bins, found {self.bins}")


# ----------------------------------------------------------------------------------------- models and data

def load_reference(reference: str) -> tuple[str, Classifier, set[str] | None]:
    """(display name, classifier, content hashes of its training articles or None when not recorded) for an
    artefact directory, or a store tag resolved to NAME:VERSION."""
    from ..registry import locate

    name, directory = locate(reference)
    return name, load(directory), recorded_hashes(directory)


def reading_settings(model: Classifier, data: LabelledColumnsConfig | None = None) -> DataConfig:
    """How to read ``data`` for ``model``: each column setting as given, else as the model was trained."""
    return (data or LabelledColumnsConfig()).resolve(model.manifest)


def check_labels(split: Split, model: Classifier, name: str, settings: DataConfig) -> None:
    """Fold case and spaces into the model's spelling of each label (as training does), then stop on a label the
    model does not know, with the row and, for two labels joined, the delimiter to give."""
    unify_spellings([split], model.labels)
    known = set(model.labels)
    for row, labels in enumerate(split.labels):
        for label in labels:
            check_joined(label, known, settings, split, row)
        if unknown := [label for label in labels if label not in known]:
            if hint := look_alike(unknown[0], model.labels):
                raise DataError(f"{split.where(row)}: label {shown(unknown[0])} looks like a typo of {hint!r}, a "
                                f"label of model {name} (it knows {model.labels}); fix the row, or, if it is a new "
                                "topic, retrain the model with it")
            raise DataError(f"{split.where(row)}: label {shown(unknown[0])} is unknown to model {name} (it knows "
                            f"{model.labels}); evaluate it on data with its label set, or retrain it with this label")


def first_difference(one: Split, other: Split) -> str:
    """Where two readings of one file differ (ids, titles, texts or labels), or "" when they are the same."""
    for row, (a, b) in enumerate(zip(zip(one.ids, one.titles, one.texts, one.labels),
                                     zip(other.ids, other.titles, other.texts, other.labels))):
        if a != b:
            what = [part for part, x, y in zip(("id", "title", "text", "labels"), a, b) if x != y]
            return f"article {row + 1}, {one.where(row)}, differs in its {' and '.join(what)}" + \
                (f": {a[0]!r} vs {b[0]!r}" if what == ["id"] else "")
    return "" if len(one) == len(other) else f"{len(one)} vs {len(other)} articles"


# -------------------------------------------------------------------------------------------------- scoring

def calibration(scores: np.ndarray, split: Split, labels: Sequence[str], bins: int = 10) -> dict:
    """Expected calibration error of the top label's score, and the multi-class Brier score (0 = perfect, 2 = worst)."""

    scores = np.asarray(scores, dtype=float)
    # by hand rather than sklearn's brier_score_loss, which warns on rows summing to 1 only up to float rounding
    onehot = np.eye(len(labels))[split.primary_ids(labels)]
    return {"ece": expected_calibration_error(*confidence_and_correct(scores, split, labels), bins=bins),
            "brier": float(np.mean(np.sum((scores - onehot) ** 2, axis=1)))}


def score_model(model: Classifier, split: Split, bins: int = 10, scores: np.ndarray | None = None) -> dict:
    """Every metric of one model on ``split`` (its labels must be known to the model; see ``check_labels``)."""
    scores = model.predict_scores(split.texts, split.titles) if scores is None else np.asarray(scores)
    result = evaluate_scores(scores, split, model.labels, model.multi_label, model.thresholds)
    result["calibration"] = calibration(scores, split, model.labels, bins)
    result.setdefault("per_source", {})  # metrics.evaluate_scores gives it when the articles name two or more sources
    predicted = np.asarray(scores).argmax(axis=1)
    result["misclassified"] = [
        {"id": split.ids[row], "true": split.primary[row], "predicted": model.labels[int(predicted[row])],
         "confidence": round(float(scores[row, predicted[row]]), 4)}
        for row in range(len(split)) if model.labels[int(predicted[row])] != split.primary[row]]
    return result


def evaluate_models(models: Mapping[str, Classifier], data: LabelledColumnsConfig, bins: int = 10,
                    trained_on: Mapping[str, set[str] | None] | None = None) -> dict:
    """Read ``data`` once per distinct column setting, check every model knows its labels, score them all.
    ``trained_on``: each model's training-article hashes (``recorded_hashes``); the articles it was fitted or
    selected on are counted in its ``trained_on`` entry, as its figures here flatter it."""
    from tqdm.auto import tqdm

    cache: dict[tuple, Split] = {}
    results, evaluated, first = {}, None, ""
    for name, model in tqdm(models.items(), desc="evaluate", unit="model", disable=len(models) < 2):
        settings = reading_settings(model, data)
        key = tuple(getattr(settings, item.name) for item in fields(LabelledColumnsConfig))
        if key not in cache:
            try:
                cache[key] = read_evaluation_set(settings, data.named_columns())
            except DataError as exc:
                raise DataError(f"{exc} (reading it with {name}'s column settings)") from None
        split = cache[key]
        check_labels(split, model, name, settings)
        if evaluated is not None and (differs := first_difference(evaluated, split)):
            raise DataError(f"{data.path}: {first} and {name} read it differently with their own column settings "
                            f"({differs}); give the columns explicitly with --data.* flags")
        evaluated, first = split, first or name
        results[name] = score_model(model, split, bins)
        results[name]["model_type"] = model.model_type
        results[name]["labels"] = list(model.labels)
        if (seen := (trained_on or {}).get(name)) is not None:
            ids = [row_id for row_id, digest in zip(split.ids, split_hashes(split)) if digest in seen]
            results[name]["trained_on"] = {"articles": len(ids), "ids": ids[:20]}
    return {"data": {"path": data.path, "origin": evaluated.origin, "articles": len(evaluated)}, "models": results}


# ---------------------------------------------------------------------------------------------- reporting

def markdown(evaluation: dict) -> str:
    models = evaluation["models"]
    labels = list(dict.fromkeys(label for m in models.values() for label in m["labels"]))
    lines = ["# Evaluation", "", f"{evaluation['data']['articles']} articles from `{evaluation['data']['origin']}`, "
             "every model on the same articles.", "",
             "| model | macro-F1 | accuracy | ECE | Brier | " + " | ".join(f"F1 {label}" for label in labels) + " |",
             "|---" + "|---:" * (len(labels) + 4) + "|"]
    for name, m in models.items():
        predicted = dict(zip(m["confusion_matrix"]["labels"], np.sum(m["confusion_matrix"]["matrix"], axis=0).tolist()))
        # "–": a topic no article has and the model never predicts, left out of macro-F1
        f1 = [f"{m['per_class'][label]['f1']:.4f}" if label in m["per_class"] and (m["per_class"][label]["support"]
              or predicted.get(label)) else "–" for label in labels]
        lines.append(f"| {name} | {m['macro_f1']:.4f} | {m['accuracy']:.4f} | {m['calibration']['ece']:.4f} | "
                     f"{m['calibration']['brier']:.4f} | " + " | ".join(f1) + " |")
    if any("multi_label" in m for m in models.values()):
        lines += ["", "Every label of each article (multi-label): micro-F1, macro-F1 and the share of articles whose label "
                  "set is exactly right.", "", "| model | micro-F1 | macro-F1 | exact match |", "|---|---:|---:|---:|"]
        lines += [f"| {name} | {m['multi_label']['micro_f1']:.4f} | {m['multi_label']['macro_f1']:.4f} | "
                  f"{m['multi_label']['exact_match']:.4f} |" for name, m in models.items() if "multi_label" in m]
    sources = sorted({s for m in models.values() for s in m["per_source"]})
    if sources:
        counts = {s: next(m["per_source"][s]["articles"] for m in models.values() if s in m["per_source"]) for s in sources}
        lines += ["", "## Macro-F1 per source", "", "| model | " + " | ".join(f"{s} (n={counts[s]})" for s in sources) + " |",
                  "|---" + "|---:" * len(sources) + "|"]
        for name, m in models.items():
            lines.append(f"| {name} | " + " | ".join(f"{m['per_source'][s]['macro_f1']:.4f}" if s in m["per_source"]
                                                     else "-" for s in sources) + " |")
    lines += [f"\n**{name} was trained on {n} of these articles** ({', '.join(m['trained_on']['ids'][:5])}"
              f"{', …' if n > 5 else ''}): its figures flatter it. Compare models on articles none of them was trained on."
              for name, m in models.items() if (n := m.get("trained_on", {}).get("articles"))]
    lines += ["", "![confusion matrices](confusion_matrices.png)", "", "## Misclassified articles (primary label)", ""]
    for name, m in models.items():
        ids = [entry["id"] for entry in m["misclassified"]]
        lines.append(f"- {name}: {len(ids)}" + (f" ({', '.join(ids[:50])}{', …' if len(ids) > 50 else ''})" if ids else ""))
    lines += ["", "Full lists with true and predicted labels: `evaluation.json`."]
    return "\n".join(lines) + "\n"


def plot_confusions(evaluation: dict, path: Path) -> Path:
    import pandas as pd

    from . import plots

    frames = {name: pd.DataFrame(m["confusion_matrix"]["matrix"], index=m["confusion_matrix"]["labels"],
                                 columns=m["confusion_matrix"]["labels"]) for name, m in evaluation["models"].items()}
    return plots.save(plots.plot_confusion_matrices(frames), path)


def run_evaluate(config: EvaluateConfig) -> int:
    out = Path(config.out)
    refuse_existing([out / name for name in REPORT_FILES], config.overwrite,
                    "choose another --out, or add --overwrite to replace that evaluation")
    models: dict[str, Classifier] = {}
    trained_on: dict[str, set[str] | None] = {}
    for reference in config.models:
        name, model, seen = load_reference(reference)
        unique, copy = name, 2
        while unique in models:  # the same model given twice: "tag", "tag #2", "tag #3"
            unique, copy = f"{name} #{copy}", copy + 1
        models[unique], trained_on[unique] = model, seen
    evaluation = evaluate_models(models, config.data, config.bins, trained_on)
    out.mkdir(parents=True, exist_ok=True)
    markdown_file, json_file, plot_file = (out / name for name in REPORT_FILES)
    plot_confusions(evaluation, plot_file)
    write_json_atomic(json_file, evaluation)
    write_text_atomic(markdown_file, markdown(evaluation))
    for name, m in evaluation["models"].items():
        print(f"{name}: macro-F1 {m['macro_f1']:.4f}  accuracy {m['accuracy']:.4f}  ECE {m['calibration']['ece']:.4f}  "
              f"Brier {m['calibration']['brier']:.4f}  misclassified {len(m['misclassified'])}"
              + (f"  (every label: exact match {m['multi_label']['exact_match']:.4f})" if "multi_label" in m else ""))
        if n := m.get("trained_on", {}).get("articles"):
            logger.warning("%s was trained on %d of these %d articles (e.g. %s): its figures flatter it; compare models "
                           "on articles none of them was trained on", name, n, evaluation["data"]["articles"],
                           ", ".join(m["trained_on"]["ids"][:3]))
    print(f"{evaluation['data']['articles']} articles; report: {markdown_file}")
    return 0
