"""Does labelling what ``suggest`` picks teach the baseline more than labelling random articles?

Simulated rounds on ../shared/datasets/arabic-news-topics (never ../shared/holdout): start from a labelled seed
of ``--start`` random training articles (fixed by the seed), the pool is the rest; each round labels ``--step``
articles chosen by ``training.suggest.select`` (labels revealed from the data) or at random, retrains the
baseline with fast settings (svm, C=1, chosen on validation) and reports macro-F1 on:

* in-domain: the test split (all sources), seed and pool from the whole training split;
* cross-source: seed and pool are JawharaFM training rows only, validation its JawharaFM rows; evaluated on
  the Egyptian press (masrawy, elfagr) rows of the training and test splits over diplomacy/other/terrorism.

Run with one thread:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_suggest.py --seeds 13 14
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TQDM_DISABLE", "1")  # one bar per fit would bury the table

from training.config import BaselineConfig, DataConfig  # noqa: E402
from training.data.loading import compose_inputs, load_data  # noqa: E402
from training.data.normalize import normalizer_for  # noqa: E402
from training.data.splits import LabelledData, Split  # noqa: E402
from training.models.baseline import train_baseline  # noqa: E402
from training.suggest import select  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_baseline import DATASET, data_present  # noqa: E402

EGYPTIAN = ("masrawy", "elfagr")
CROSS_LABELS = ["diplomacy", "other", "terrorism"]


def rows_where(split: Split, keep) -> list[int]:
    return [i for i, source in enumerate(split.sources) if keep(source)]


def fit(train: Split, validation: Split, labels: list[str], seed: int):
    data = LabelledData(train, validation, validation, labels, False, "bench")
    config = BaselineConfig(classifiers=["svm"], c_values=[1.0], selection="validation")
    classifier, _ = train_baseline(data, config, normalizer_for("default"), seed)
    return classifier


def macro_f1(classifier, split: Split, labels: list[str]) -> float:
    predicted = [classifier.labels[i] for i in classifier.predict_scores(split.texts, split.titles).argmax(axis=1)]
    return float(f1_score(split.primary, predicted, labels=labels, average="macro", zero_division=0))


def simulate(pool: Split, validation: Split, evaluation: Split, eval_labels: list[str], label_names: list[str],
             seed: int, strategy: str, start: int, step: int, rounds: int) -> list[float]:
    rng = np.random.default_rng(seed)
    labelled = list(rng.choice(len(pool), start, replace=False))  # the same seed set for both strategies
    picker = np.random.default_rng(seed + 1000)
    scores = []
    for round_number in range(rounds + 1):
        classifier = fit(pool.subset(sorted(labelled)), validation, label_names, seed)
        scores.append(macro_f1(classifier, evaluation, eval_labels))
        if round_number == rounds:
            return scores
        taken = set(labelled)
        remaining = [i for i in range(len(pool)) if i not in taken]
        if strategy == "random":
            labelled += list(picker.choice(remaining, step, replace=False))
            continue
        rest = pool.subset(remaining)
        counts = {label: pool.subset(labelled).primary.count(label) for label in label_names}
        picks, _ = select(classifier.predict_scores(rest.texts, rest.titles), compose_inputs(rest.texts, rest.titles),
                          rest.sources, label_names, step, train_counts=counts, seed=seed)
        labelled += [remaining[i] for i in picks]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14])
    parser.add_argument("--start", type=int, default=200)
    parser.add_argument("--step", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    if not data_present(DATASET, DATASET):
        return
    data = load_data(DataConfig(path=str(DATASET)), seed=13)
    labels = data.label_names
    jawhara = lambda source: source == "jawharafm"  # noqa: E731
    egyptian_train = data.train.subset(rows_where(data.train, lambda s: s in EGYPTIAN))
    egyptian_test = data.test.subset(rows_where(data.test, lambda s: s in EGYPTIAN))
    cross_eval = Split("egyptian", egyptian_train.ids + egyptian_test.ids, egyptian_train.titles + egyptian_test.titles,
                       egyptian_train.texts + egyptian_test.texts, egyptian_train.labels + egyptian_test.labels,
                       egyptian_train.sources + egyptian_test.sources)
    cross_eval = cross_eval.subset([i for i, label in enumerate(cross_eval.primary) if label in CROSS_LABELS])
    settings = {
        "in-domain": (data.train, data.validation, data.test, labels),
        "cross-source": (data.train.subset(rows_where(data.train, jawhara)),
                         data.validation.subset(rows_where(data.validation, jawhara)), cross_eval, CROSS_LABELS),
    }
    started = time.perf_counter()
    results: dict[tuple[str, str], list[list[float]]] = {}
    for name, (pool, validation, evaluation, eval_labels) in settings.items():
        for seed in args.seeds:
            for strategy in ("random", "suggest"):
                began = time.perf_counter()
                scores = simulate(pool, validation, evaluation, eval_labels, labels, seed, strategy, args.start,
                                  args.step, args.rounds)
                results.setdefault((name, strategy), []).append(scores)
                print(f"{name:>12} seed {seed} {strategy:>7}: " + " ".join(f"{s:.3f}" for s in scores)
                      + f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    sizes = [args.start + args.step * r for r in range(args.rounds + 1)]
    print(f"\nmacro-F1 by labelled articles, mean over seeds {args.seeds} "
          f"(in-domain: test split, {len(data.test)} articles; cross-source: {len(cross_eval)} Egyptian articles)")
    print("| setting | strategy | " + " | ".join(str(s) for s in sizes) + " |")
    print("|---|---|" + "---:|" * len(sizes))
    for (name, strategy), runs in results.items():
        print(f"| {name} | {strategy} | " + " | ".join(f"{v:.3f}" for v in np.mean(runs, axis=0)) + " |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))
