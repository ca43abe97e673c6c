"""One training run: load and validate data, train every candidate on the same split, select on validation
articles none of them tuned on, test the winner once, write artefacts and reports, optionally register the winner
in the BentoML store.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .artifact import Classifier, refuse_non_empty, save, write_json_atomic
from .config import ConfigError, TrainConfig, check
from .data.articles import Articles
from .data.loading import describe, load_data, stratified_split
from .data.normalize import normalizer_for
from .data.splits import LabelledData, Split
from .evaluation.metrics import chosen_on, evaluate_scores
from .models.hf_common import is_main_process
from .models.word_clusters import RunClusters, clusters_for_run

logger = logging.getLogger(__name__)

CANDIDATES = ("baseline", "transformer", "ensemble")
ENSEMBLE_MEMBERS = ("baseline", "transformer")
THROUGHPUT_SAMPLE = 200
MIN_SELECTION_ARTICLES = 20  # per half: fewer cannot tell candidates apart, so small data keeps one validation split


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
    selection: dict | None = None  # metrics on the held-out selection half of validation, when there is one
    selection_scores: Any = None
    refit: dict | None = None  # when retrained on all of validation after it was chosen: what was compared


def measure_throughput(classifier: Classifier, data: LabelledData) -> float:
    """Articles per second predicting a slice of validation (whole pipeline: normalise, featurise, score)."""
    split = data.validation
    count = min(THROUGHPUT_SAMPLE, len(split))
    started = time.perf_counter()
    classifier.predict_scores(split.texts[:count], split.titles[:count])
    return count / max(time.perf_counter() - started, 1e-9)


def distills(config: TrainConfig, unlabelled: Articles | None) -> bool:
    """Whether the transformer learns from unlabelled articles labelled by the baseline."""
    return "transformer" in config.models and unlabelled is not None and config.transformer.distill_articles > 0


def train_configured_baseline(data: LabelledData, config: TrainConfig, unlabelled: Articles | None,
                              word_clusters: RunClusters | None) -> tuple[Classifier, dict]:
    """The baseline as ``config`` asks: on the run's word clusters, self-trained when there are unlabelled articles.
    Both the baseline candidate and, when --models has none, the transformer's distillation teacher."""
    from .models.baseline import train_baseline

    normalizer = normalizer_for(config.normalizer.preset, **config.normalizer.overrides)
    clusters = word_clusters.clusters if word_clusters else None
    classifier, log = train_baseline(data, config.baseline, normalizer, config.seed, config.low_confidence,
                                     clusters=clusters)
    if unlabelled is not None:
        from .models.self_training import self_train

        classifier, log = self_train(classifier, log, data, unlabelled, config, normalizer, clusters)
    return classifier, log | ({"word_clusters": word_clusters.log} if word_clusters else {})


def distillation_teacher(data: LabelledData, config: TrainConfig, trained: Sequence[Candidate], unlabelled: Articles,
                         word_clusters: RunClusters | None) -> tuple[Classifier, str]:
    """The run's baseline, or, when --models has none, one trained as it would be, only to teach."""
    baseline = next((c.classifier for c in trained if c.name == "baseline"), None)
    if baseline is not None:
        return baseline, "baseline"
    logger.info("distillation: no baseline in --models; training one as the teacher (add baseline to --models to "
                "have it compete too)")
    teacher, log = train_configured_baseline(data, config, unlabelled, word_clusters)
    clusters = f", {word_clusters.log['clusters']} word clusters" if word_clusters else ""
    return teacher, f"baseline trained as teacher (self-training kept {log['self_training']['kept']}{clusters})"


def _train_candidate(name: str, data: LabelledData, config: TrainConfig, run_dir: Path,
                     trained: Sequence[Candidate] = (), unlabelled: Articles | None = None,
                     word_clusters: RunClusters | None = None) -> Candidate:
    started = time.perf_counter()
    if name == "baseline":
        classifier, log = train_configured_baseline(data, config, unlabelled, word_clusters)
    elif name == "transformer":
        from .models.distillation import distillation_for_run
        from .models.transformer_training import train_transformer

        distill = None
        if distills(config, unlabelled):
            teacher, teacher_name = distillation_teacher(data, config, trained, unlabelled, word_clusters)
            distill = distillation_for_run(config, data, teacher, teacher_name, unlabelled)
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


def hold_out_selection(data: LabelledData, config: TrainConfig) -> tuple[LabelledData, Split | None]:
    """With two or more candidates, half of validation (stratified by topic, seeded) is held out to choose between
    them, and every candidate tunes on the other half: the baseline's grid and self-training blend, the transformer's
    early stopping and best checkpoint, the ensemble's weight, every threshold. A score a candidate tuned on is
    optimistic, the more so the more it tuned: on the shared data, the ensemble of the baseline and a distilled
    transformer scored 0.942 on the validation it tuned on against the baseline's 0.933, won, and tested 0.893
    against the baseline's 0.934 (docs/training.md)."""
    if len(config.models) < 2:
        return data, None
    if len(data.validation) < 2 * MIN_SELECTION_ARTICLES:
        logger.warning("validation has %d articles, too few to hold half of them out for choosing between candidates: "
                       "they are compared on the validation they tuned on (optimistic for the transformer and the "
                       "ensemble); compare them on test, or give a validation split of %d articles or more",
                       len(data.validation), 2 * MIN_SELECTION_ARTICLES)
        return data, None
    tuning, selection = stratified_split(data.validation, 0.5, config.seed, "selection")
    logger.info("validation: %d articles to tune on, %d held out to choose between %s", len(tuning), len(selection),
                ", ".join(config.models))
    return dataclasses.replace(data, validation=tuning), selection


def train_candidates(data: LabelledData, config: TrainConfig, run_dir: Path, unlabelled: Articles | None = None,
                     word_clusters: RunClusters | None = None) -> list[Candidate]:
    """Every candidate of ``--models``, trained in the order of CANDIDATES (the baseline can teach the transformer,
    both come before the ensemble that combines them) and returned in the order given."""
    order = sorted(config.models, key=CANDIDATES.index)
    trained: list[Candidate] = []
    for name in order:
        trained.append(_train_candidate(name, data, config, run_dir, trained, unlabelled, word_clusters))
    return sorted(trained, key=lambda c: config.models.index(c.name))


def check_transformer_checkpoint(config: TrainConfig) -> None:
    """Refuse, before any training, a checkpoint the run cannot fine-tune."""
    from .models.hf_common import check_checkpoint_directory, local_checkpoint, looks_like_path

    source = local_checkpoint(config.transformer.model)
    if "transformer" not in config.models or not source:
        return
    if Path(source).is_dir():
        check_checkpoint_directory(source, config.transformer.max_length)
    elif looks_like_path(source):
        raise ConfigError(f"--transformer.model {source}: no such checkpoint directory; build one with `python -m "
                          "training pretrain` (docs/encoders.md), give a hub id such as aubmindlab/bert-base-arabertv02, "
                          "or leave it empty for a compact encoder trained in the run")


def ensure_writable(directory: Path) -> None:
    """Fail before hours of training, not after, when the output cannot be written."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".write-probe-{os.getpid()}"
    probe.write_bytes(b"probe")
    probe.unlink()


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Best macro-F1 on the held-out selection articles (else validation) first; a tie goes to the faster predictor."""
    return sorted(candidates, key=lambda c: (-round(chosen_on(c.selection, c.validation)[1], 4), -c.articles_per_second))


def bootstrap_win_share(reference: np.ndarray, challenger: np.ndarray, truth: np.ndarray, seed: int,
                        resamples: int = 1000) -> float:
    """Share of paired bootstrap resamples of the articles in which ``challenger``'s primary-label macro-F1 beats
    ``reference``'s (both given as predicted label ids, ``truth`` likewise)."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        wins += f1_score(truth[rows], challenger[rows], average="macro", zero_division=0) > \
            f1_score(truth[rows], reference[rows], average="macro", zero_division=0)
    return wins / resamples


def choose(ranked: list[Candidate], selection: Split | None, labels: list[str], config: TrainConfig) -> tuple[list[Candidate], dict]:
    """The ranking, with the baseline moved first unless the top candidate clearly beats it on the held-out articles
    (``--selection-confidence``): on a few hundred articles a 1-3 point lead is often luck, and the baseline is the
    faster, steadier model. Returns the ranking and what was decided, for the report."""
    top, baseline = ranked[0], next((c for c in ranked if c.name == "baseline"), None)
    if selection is None or baseline is None or top is baseline or config.selection_confidence <= 0:
        return ranked, {}
    truth = selection.primary_ids(labels)
    share = bootstrap_win_share(baseline.selection_scores.argmax(axis=1), top.selection_scores.argmax(axis=1), truth,
                                config.seed)
    decision = {"challenger": top.name, "win_share": round(share, 3), "required": config.selection_confidence,
                "kept": top.name if share >= config.selection_confidence else "baseline"}
    verdict = (f"{top.name} beats the baseline in {share:.1%} of paired bootstrap resamples of the {len(selection)} "
               f"held-out articles ({top.selection['macro_f1']:.4f} vs {baseline.selection['macro_f1']:.4f})")
    if share >= config.selection_confidence:
        decision["why"] = f"{verdict}: kept"
    else:
        decision["why"] = (f"{verdict}, under the {config.selection_confidence:.0%} required "
                           "(--selection-confidence): the baseline is kept")
        ranked = [baseline] + [c for c in ranked if c is not baseline]
    logger.info("selection: %s", decision["why"])
    return ranked, decision


def refit_baseline(chosen: Candidate, data: LabelledData, config: TrainConfig, run_dir: Path,
                   unlabelled: Articles | None, word_clusters: RunClusters | None) -> Candidate:
    """The baseline, once chosen on the held-out half, retrained with every validation article to tune on: the model
    a baseline-only run trains, so listing more candidates never costs it half of its tuning data (tuned on half,
    it tested 0.923 to 0.934 on the shared data instead of 0.934). It costs one more baseline training, a small share
    of a run with a transformer; a chosen transformer or ensemble keeps the tuning it was compared with, as
    retraining them would cost the run again."""
    logger.info("baseline chosen: retraining it with all %d validation articles to tune on (it was compared tuned on %d)",
                len(data.validation), chosen.validation["articles"])
    refit = _train_candidate("baseline", data, config, run_dir, unlabelled=unlabelled, word_clusters=word_clusters)
    refit.refit = {"compared_tuned_on": chosen.validation["articles"],
                   "compared_validation_macro_f1": chosen.validation["macro_f1"],
                   "compared_selection_macro_f1": chosen.selection["macro_f1"],
                   "compared_train_seconds": round(chosen.train_seconds, 2)}
    refit.selection = chosen.selection  # what it was compared on, for the report
    return refit


def run(config: TrainConfig) -> dict:
    """Train, select, evaluate, save; returns the report (also written to ``<out>/report.json``)."""
    run_dir = Path(config.out)
    check(config)
    check_transformer_checkpoint(config)
    if config.promote != "if-better" and not config.register:
        logger.warning("--promote %s does nothing without --register: this run's model is not put in the store",
                       config.promote)
    if config.unlabelled:  # before hours of training, not after
        from .data.unlabelled import refuse_reserved

        refuse_reserved(config.unlabelled)
    refuse_non_empty(run_dir, config.overwrite, "choose another --out, or add --overwrite to replace this run")
    created = not run_dir.exists()
    ensure_writable(run_dir)
    try:
        return train_in(run_dir, config)
    except BaseException:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # refused before anything was written (data, unlabelled articles): no empty run directory
        raise


def train_in(run_dir: Path, config: TrainConfig) -> dict:
    """The run itself, in a checked, writable ``run_dir``: data, candidates, selection, test, artefacts, report."""
    started = time.perf_counter()
    expected_labels = None
    if config.register:  # retraining a served name: a label it does not know must be declared (--data.labels)
        from .registry import served_labels

        expected_labels = served_labels(config.model_name)
    data = load_data(config.data, seed=config.seed, expected_labels=expected_labels, named=config.data.named_columns())
    logger.info("data validated:\n%s", describe(data))
    data_seconds = time.perf_counter() - started

    unlabelled = None
    if config.unlabelled:  # read once, against every labelled article: self-training and distillation share them
        from .data.unlabelled import read_unlabelled

        unlabelled = read_unlabelled(config.unlabelled, config.data, data)
    tuning, selection = hold_out_selection(data, config)
    word_clusters = clusters_for_run(config, tuning, unlabelled, distills(config, unlabelled))  # once a run
    candidates = train_candidates(tuning, config, run_dir, unlabelled, word_clusters)
    if selection is not None:
        for candidate in candidates:
            scores = candidate.classifier.predict_scores(selection.texts, selection.titles)
            candidate.selection_scores = np.asarray(scores)
            candidate.selection = evaluate_scores(scores, selection, data.label_names, data.multi_label,
                                                  candidate.classifier.thresholds)
            logger.info("%s: selection macro-F1 %.4f", candidate.name, candidate.selection["macro_f1"])
    ranked, decision = choose(rank(candidates), selection, data.label_names, config)
    if selection is not None and ranked[0].name == "baseline":
        chosen = ranked[0]
        refit = refit_baseline(chosen, data, config, run_dir, unlabelled, word_clusters)
        candidates = [refit if c is chosen else c for c in candidates]
        ranked = [refit] + ranked[1:]
    winner = ranked[0]
    test_scores = winner.classifier.predict_scores(data.test.texts, data.test.titles)
    test = evaluate_scores(test_scores, data.test, data.label_names, data.multi_label, winner.classifier.thresholds)
    logger.info("winner %s: test macro-F1 %.4f, accuracy %.4f", winner.name, test["macro_f1"], test["accuracy"])

    if not is_main_process():  # under torchrun every process trains; only rank 0 writes
        return {"best": winner.name, "rank": int(os.environ["RANK"]), "test": test}

    data_info = {"source": config.data.path or "built-in sample corpus", "fingerprint": data.fingerprint,
                 "counts": data.counts(), "multi_label_articles": data.report["multi_label_articles"]}
    from .data.identity import TRAINING_ARTICLES, training_articles

    # ids and content hashes of what every candidate saw, so a later run can tell whether its test split overlaps
    seen = {TRAINING_ARTICLES: training_articles(data)}
    for candidate in sorted(candidates, key=lambda c: c.name == "ensemble"):  # the ensemble saves its members' manifests
        metrics = ({"validation": candidate.validation}
                   | ({"refit": candidate.refit} if candidate.refit else {"selection": candidate.selection} if selection else {})
                   | ({"test": test} if candidate is winner else {}))
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
        "selection": (f"highest macro-F1 on {len(selection)} validation articles no candidate tuned on (each tuned on "
                      f"the other {len(tuning.validation)})" if selection else "highest validation macro-F1")
                     + "; ties go to the higher prediction throughput",
        "candidates": {c.name: {
            "validation": c.validation,
            **({"selection": c.selection} if selection else {}),
            **({"refit": c.refit} if c.refit else {}),
            "train_seconds": round(c.train_seconds, 2),
            "predict_articles_per_second": round(c.articles_per_second, 1),
            "size_bytes": c.size_bytes,
            "artifact": str(c.path),
            "training": c.training,
        } for c in candidates},
        "ranking": [c.name for c in ranked],
        **({"selection_test": decision} if decision else {}),
        "test": test,
        "labels": data.label_names,
        "multi_label": data.multi_label,
        "data": data_info | {"report": data.report},
        "seed": config.seed,
        "config": config.to_dict(),
        "timings": {"data_seconds": round(data_seconds, 2), "total_seconds": round(time.perf_counter() - started, 2)},
    }
    from .evaluation.report import write_reports

    if config.register:
        from .promotion import register_challenger

        write_reports(report, run_dir)  # first the run, complete: an interrupted registration leaves it behind
        write_json_atomic(run_dir / "report.json", report)
        report["registered"] = register_challenger(winner.path, config.model_name, report, data, config.promote)
        logger.debug("%s", report["registered"]["message"])  # the CLI's summary prints it; the report keeps it
    write_reports(report, run_dir)
    write_json_atomic(run_dir / "report.json", report)
    return report
