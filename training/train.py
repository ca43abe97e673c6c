"""One training run: load and validate data, train every candidate on the same split, select on validation,
test the winner once, write artefacts and reports, optionally register the winner in the BentoML store.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .artifact import Classifier, save, write_json_atomic
from .config import ConfigError, TrainConfig, check
from .data.articles import Articles
from .data.loading import LabelledData, describe, load_data
from .data.normalize import normalizer_for
from .evaluation.metrics import evaluate_scores
from .models.hf_common import is_main_process

logger = logging.getLogger(__name__)

CANDIDATES = ("baseline", "transformer", "ensemble")
ENSEMBLE_MEMBERS = ("baseline", "transformer")
THROUGHPUT_SAMPLE = 200


@dataclass
class Candidate:
    name: str
    classifier: Classifier
    training: dict
    train_seconds: float
    validation: dict
    articles_per_second: float
    size_bytes: int = 0
    path: Path | None = None
    validation_scores: Any = None  # (articles, labels) on validation: what the ensemble's weight is tuned on


def measure_throughput(classifier: Classifier, data: LabelledData) -> float:
    """Articles per second predicting a slice of validation (whole pipeline: normalise, featurise, score)."""
    split = data.validation
    count = min(THROUGHPUT_SAMPLE, len(split))
    started = time.perf_counter()
    classifier.predict_scores(split.texts[:count], split.titles[:count])
    return count / max(time.perf_counter() - started, 1e-9)


def _train_candidate(name: str, data: LabelledData, config: TrainConfig, run_dir: Path,
                     trained: Sequence[Candidate] = (), unlabelled: Articles | None = None) -> Candidate:
    started = time.perf_counter()
    if name == "baseline":
        from .models.baseline import train_baseline

        normalizer = normalizer_for(config.normalizer.preset, **config.normalizer.overrides)
        classifier, log = train_baseline(data, config.baseline, normalizer, config.seed, config.low_confidence)
        if unlabelled is not None:
            from .models.self_training import self_train

            classifier, log = self_train(classifier, log, data, unlabelled, config, normalizer)
    elif name == "transformer":
        from .models.distillation import distillation_for_run
        from .models.transformer_training import train_transformer

        teacher = next((c.classifier for c in trained if c.name == "baseline"), None)
        distill = (distillation_for_run(config, data, teacher, unlabelled)
                   if unlabelled is not None and config.transformer.distill_articles > 0 else None)
        classifier, log = train_transformer(data, config.transformer, config.seed, config.low_confidence,
                                            work_dir=run_dir / "transformer-work", distill=distill)
    elif name == "ensemble":
        from .models.ensemble import build_ensemble

        members = {m.name: (m.classifier, m.validation_scores, m.articles_per_second) for m in trained
                   if m.name in ENSEMBLE_MEMBERS}
        classifier, log = build_ensemble(members, data, config.ensemble.weights, config.low_confidence)
    else:
        raise ValueError(f"unknown candidate {name!r}; expected one of {', '.join(CANDIDATES)}")
    seconds = time.perf_counter() - started
    scores = classifier.predict_scores(data.validation.texts, data.validation.titles)
    validation = evaluate_scores(scores, data.validation, data.label_names, data.multi_label, classifier.thresholds)
    logger.info("%s: validation macro-F1 %.4f, accuracy %.4f, trained in %.1f s", name, validation["macro_f1"],
                validation["accuracy"], seconds)
    return Candidate(name, classifier, log, seconds, validation, measure_throughput(classifier, data),
                     validation_scores=scores)


def train_candidates(data: LabelledData, config: TrainConfig, run_dir: Path) -> list[Candidate]:
    """Every candidate of ``--models``, trained in the order of CANDIDATES (the baseline can teach the transformer,
    both come before the ensemble that combines them) and returned in the order given."""
    unlabelled = None
    if config.unlabelled:  # read once: self-training and distillation learn from the same articles
        from .data.unlabelled import read_unlabelled

        unlabelled = read_unlabelled(config.unlabelled, config.data, data)
    order = sorted(config.models, key=CANDIDATES.index)
    trained: list[Candidate] = []
    for name in order:
        trained.append(_train_candidate(name, data, config, run_dir, trained, unlabelled))
    return sorted(trained, key=lambda c: config.models.index(c.name))


def check_candidates(config: TrainConfig) -> None:
    """Refuse, before any training, a candidate list the run cannot honour."""
    if "ensemble" in config.models and not set(ENSEMBLE_MEMBERS) <= set(config.models):
        raise ConfigError("--models ensemble needs baseline and transformer in --models (it combines the members "
                          "trained in the same run), e.g. --models baseline,transformer,ensemble")


def ensure_writable(directory: Path) -> None:
    """Fail before hours of training, not after, when the output cannot be written."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".write-probe-{os.getpid()}"
    probe.write_bytes(b"probe")
    probe.unlink()


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Best validation macro-F1 first; a tie goes to the faster predictor."""
    return sorted(candidates, key=lambda c: (-round(c.validation["macro_f1"], 4), -c.articles_per_second))


def run(config: TrainConfig) -> dict:
    """Train, select, evaluate, save; returns the report (also written to ``<out>/report.json``)."""
    run_dir = Path(config.out)
    check(config)
    if not config.models:
        raise ConfigError(f"--models: no candidate; expected a comma-separated subset of {', '.join(CANDIDATES)}")
    check_candidates(config)
    if config.unlabelled:  # before hours of training, not after
        from .data.unlabelled import refuse_reserved

        refuse_reserved(config.unlabelled)
    if not config.overwrite and run_dir.is_dir() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir}: the run directory already holds a run; choose another --out, or add --overwrite "
                          "to replace it")
    ensure_writable(run_dir)
    started = time.perf_counter()
    expected_labels = None
    if config.register:  # retraining a served name: a label it does not know must be declared (--data.labels)
        from .registry import served_labels

        expected_labels = served_labels(config.model_name)
    data = load_data(config.data, seed=config.seed, expected_labels=expected_labels)
    logger.info("data validated:\n%s", describe(data))
    data_seconds = time.perf_counter() - started

    candidates = train_candidates(data, config, run_dir)
    ranked = rank(candidates)
    winner = ranked[0]
    test_scores = winner.classifier.predict_scores(data.test.texts, data.test.titles)
    test = evaluate_scores(test_scores, data.test, data.label_names, data.multi_label, winner.classifier.thresholds)
    logger.info("winner %s: test macro-F1 %.4f, accuracy %.4f", winner.name, test["macro_f1"], test["accuracy"])

    if not is_main_process():  # under torchrun every process trains; only rank 0 writes
        return {"best": winner.name, "rank": int(os.environ["RANK"]), "test": test}

    data_info = {"source": config.data.path or "built-in sample corpus", "fingerprint": data.fingerprint,
                 "counts": data.counts(), "multi_label_articles": data.report["multi_label_articles"]}
    from .promotion import TRAINING_ARTICLES, training_articles

    # ids and content hashes of what every candidate saw, so a later run can tell whether its test split overlaps
    seen = {TRAINING_ARTICLES: training_articles(data)}
    for candidate in sorted(candidates, key=lambda c: c.name == "ensemble"):  # the ensemble saves its members' manifests
        metrics = {"validation": candidate.validation} | ({"test": test} if candidate is winner else {})
        provenance = {"name": config.model_name, "candidate": candidate.name, "seed": config.seed,
                      "config": config.to_dict(), "data": data_info, "metrics": metrics,
                      "training": candidate.training | {"seconds": round(candidate.train_seconds, 2)}}
        candidate.path = save(candidate.classifier, run_dir / "artifacts" / candidate.name, provenance, extra_files=seen)
        candidate.size_bytes = sum(p.stat().st_size for p in candidate.path.rglob("*") if p.is_file())
    for stale in (run_dir / "artifacts").iterdir():  # --overwrite: a candidate of an earlier run is not this run's
        if stale.is_dir() and stale.name not in config.models:
            shutil.rmtree(stale, ignore_errors=True)

    report = {
        "best": winner.name,
        "best_artifact": str(winner.path),
        "selection": "highest validation macro-F1; ties go to the higher prediction throughput",
        "candidates": {c.name: {
            "validation": c.validation,
            "train_seconds": round(c.train_seconds, 2),
            "predict_articles_per_second": round(c.articles_per_second, 1),
            "size_bytes": c.size_bytes,
            "artifact": str(c.path),
            "training": c.training,
        } for c in candidates},
        "ranking": [c.name for c in ranked],
        "test": test,
        "labels": data.label_names,
        "multi_label": data.multi_label,
        "data": data_info | {"report": data.report},
        "seed": config.seed,
        "config": config.to_dict(),
        "timings": {"data_seconds": round(data_seconds, 2), "total_seconds": round(time.perf_counter() - started, 2)},
    }
    if config.register:
        from .promotion import register_challenger

        report["registered"] = register_challenger(winner.path, config.model_name, report, data, config.promote)
        logger.info("%s", report["registered"]["message"])
    from .evaluation.report import write_reports

    write_reports(report, run_dir)
    write_json_atomic(run_dir / "report.json", report)
    return report
