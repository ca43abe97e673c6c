"""Benchmark the TF-IDF baseline on the labelled dataset in ../shared: quality, speed, and cross-source transfer.

1. In-domain: ``training.train.run`` (the code path of ``python -m training train --models baseline``) with the
   default configuration on the dataset's train/validation/test split: test macro-F1, per-class F1, the trial
   chosen on validation, training time (the baseline's own, and the whole run).
2. Prediction speed of the saved artefact, loaded as serving loads it: articles/s predicting the whole test
   split in one call, and single-article latency (one call per article, distinct articles, fresh model).
3. Cross-source, both directions: JawharaFM (ids ``ant:``) -> Egyptian press (ids ``egy:``) and back.
   The model is trained on the source's train rows and chosen on its validation rows (same code path,
   same defaults); it is tested on ALL rows of the other source (its train+validation+test). A topic with
   fewer than --min-source-examples primary articles in the source's train+validation or in the other source
   (sport: 1 Egyptian press article in all) can be neither learnt nor measured there: it is removed on both
   sides (articles whose primary topic it is are dropped; as a secondary topic it is removed from `labels`),
   and the scores are macro-F1 over the remaining topics. The in-domain reference for the drop is the same model on the source's own test rows (never used
   for training or selection), over the same topics: drop = in-domain - cross-source.

Never reads ../shared/holdout. Prints a summary and writes JSON (--out); skips cleanly when ../shared is absent.

    .venv/bin/python benchmarks/bench_baseline.py                      # ~3 trainings; a few minutes on 2 cores
    .venv/bin/python benchmarks/bench_baseline.py --skip-cross-source  # in-domain and speed only
    .venv/bin/python benchmarks/bench_baseline.py --config my.yaml     # another baseline configuration
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SHARED = REPO.parent / "shared"
DATASET = SHARED / "datasets" / "arabic-news-topics"
SOURCES = {"ant": "JawharaFM (Tunisia)", "egy": "Egyptian press"}
SPLITS = ("train", "validation", "test")
logger = logging.getLogger("bench_baseline")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATASET), help="directory with train/validation/test.jsonl")
    parser.add_argument("--config", help="training config file (JSON/YAML) to benchmark instead of the defaults")
    parser.add_argument("--work", help="directory for runs and artefacts (default: a temporary directory)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--latency-articles", type=int, default=200, help="articles predicted one call each")
    parser.add_argument("--min-source-examples", type=int, default=10,
                        help="cross-source: topics with fewer primary articles in either source are left out")
    parser.add_argument("--skip-cross-source", action="store_true")
    return parser.parse_args()


def data_present(data: str | Path, default: Path, needs: str = "train.jsonl", flag: str = "--data") -> bool:
    """Whether ``data`` holds ``needs`` (or, with ``needs=""``, exists). A missing default (no ../shared beside the
    repository) is a skip: say so and return False. A missing path the user gave stops with an error (exit 2), so a
    typo never looks like a skipped run."""
    data = Path(data)
    if (data / needs).is_file() if needs else data.exists():
        return True
    if data.resolve() != default.resolve():
        print(f"error: {data / needs if needs else data}: no such file; check {flag}", file=sys.stderr)
        raise SystemExit(2)
    print(f"skipped: {default} is absent (the benchmark needs ../shared beside the repository)")
    return False


def run_benchmark(main: Callable[[], int | None]) -> int:
    """``main()``, with the project's own errors (bad data, artefact, settings) printed as one line and exit 2, as
    ``python -m training`` prints them."""
    from training.cli import USER_ERRORS

    try:
        return main() or 0
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_command(argv: list[str]) -> None:
    """``python -m training ARGV`` in this process; when it fails (it has printed why), stop with its exit status."""
    from training.cli import main

    status = main(argv)
    if status != 0:
        raise SystemExit(status)


def load_rows(data: Path) -> dict[str, list[dict]]:
    return {split: [json.loads(line) for line in (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
                    if line.strip()] for split in SPLITS}


def source_of(row: dict) -> str:
    return str(row["id"]).split(":", 1)[0]


def make_config(args: argparse.Namespace, data_path: Path, out: Path):
    from training.config import TrainConfig, load_config_file

    config = load_config_file(args.config) if args.config else TrainConfig()
    config.models, config.out, config.seed, config.register = ["baseline"], str(out), args.seed, False
    config.data.path = str(data_path)
    return config


def timed_run(config) -> tuple[dict, float, float]:
    from training.train import run

    started, cpu = time.perf_counter(), time.process_time()
    report = run(config)
    return report, time.perf_counter() - started, time.process_time() - cpu


def load_info() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} (1/5 min) on {os.cpu_count()} CPUs"


def macro_f1(truth: list[str], predicted: list[str], labels: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))


# ------------------------------------------------------------------------------------------- in-domain

def in_domain(args: argparse.Namespace, work: Path) -> dict:
    logger.info("in-domain: training on %s (%s)", args.data, load_info())
    report, wall, cpu = timed_run(make_config(args, Path(args.data), work / "in-domain"))
    baseline = report["candidates"]["baseline"]
    test = report["test"]
    return {
        "validation_macro_f1": baseline["validation"]["macro_f1"],
        "test_macro_f1": test["macro_f1"],
        "test_accuracy": test["accuracy"],
        "test_per_class_f1": {label: v["f1"] for label, v in test["per_class"].items()},
        "test_multi_label": test.get("multi_label"),
        "chosen": baseline["training"]["chosen"],
        "trials": baseline["training"]["trials"],
        "train_seconds": baseline["train_seconds"],
        "features_seconds": baseline["training"].get("features_seconds"),
        "run_seconds": round(wall, 2),
        "run_cpu_seconds": round(cpu, 2),
        "load_after_training": load_info(),
        "artifact": report["best_artifact"],
        "report": str(work / "in-domain" / "report.json"),
    }


def speed(artifact: str, rows: list[dict], latency_articles: int) -> dict:
    import numpy as np

    import training

    texts, titles = [r["text"] for r in rows], [r.get("title") or "" for r in rows]
    started = time.perf_counter()
    model = training.load(artifact)
    load_seconds = time.perf_counter() - started
    # single articles first, on the freshly loaded model, each article once (as a server sees them)
    count = min(latency_articles, len(texts))
    latencies, cpu = [], time.process_time()
    for i in range(count):
        began = time.perf_counter()
        model.predict(texts[i:i + 1], titles[i:i + 1])
        latencies.append(time.perf_counter() - began)
    single_cpu = (time.process_time() - cpu) / count
    batch_model = training.load(artifact)  # a fresh copy: nothing remembered from the loop above
    started, cpu = time.perf_counter(), time.process_time()
    batch_model.predict(texts, titles)
    batch_wall, batch_cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies_ms = np.array(latencies) * 1000
    return {
        "load_seconds": round(load_seconds, 2),
        "batch_articles": len(texts),
        "batch_articles_per_second": round(len(texts) / batch_wall, 1),
        "batch_articles_per_cpu_second": round(len(texts) / batch_cpu, 1),
        "single_articles": count,
        "single_latency_ms_median": round(float(np.median(latencies_ms)), 2),
        "single_latency_ms_p95": round(float(np.percentile(latencies_ms, 95)), 2),
        "single_cpu_ms_mean": round(single_cpu * 1000, 2),
        "load": load_info(),
    }


# ---------------------------------------------------------------------------------------- cross-source

def restrict(row: dict, dropped: set[str]) -> dict:
    labels = [label for label in (row.get("labels") or [row["label"]]) if label not in dropped]
    return {**row, "labels": labels}


def write_transfer_data(rows: dict[str, list[dict]], trained_on: Callable[[dict], bool],
                        tested_on: Callable[[dict], bool], min_examples: int, directory: Path) -> dict:
    """A train/validation/test directory for a cross-source figure: train and validation are the
    ``trained_on`` rows of those splits, test is EVERY row (all three splits) ``tested_on`` picks. Topics with
    fewer than ``min_examples`` primary articles on either side are removed on both (see the module docstring).
    Returns the rows written, the topics left out and the trained-on sources' own test rows (same topics),
    unused so far: the in-domain reference."""
    own = {split: [r for r in rows[split] if trained_on(r)] for split in SPLITS}
    other = [r for split in SPLITS for r in rows[split] if tested_on(r)]
    counts = Counter(r["label"] for split in ("train", "validation") for r in own[split])
    target_counts = Counter(r["label"] for r in other)
    all_labels = sorted({r["label"] for split in SPLITS for r in rows[split]})
    dropped = {label for label in all_labels if counts[label] < min_examples or target_counts[label] < min_examples}
    keep = lambda split_rows: [restrict(r, dropped) for r in split_rows if r["label"] not in dropped]  # noqa: E731
    directory.mkdir(parents=True, exist_ok=True)
    files = {"train": keep(own["train"]), "validation": keep(own["validation"]), "test": keep(other)}
    for split, split_rows in files.items():
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in split_rows),
                                                 encoding="utf-8")
    return {"files": files, "dropped": sorted(dropped), "own_test": keep(own["test"])}


def macro_f1_of(artifact: Any, rows: list[dict], labels: list[str]) -> float:
    """Primary-label macro-F1 over ``labels`` of the predictions for ``rows`` of an artefact (path or loaded model)."""
    import training

    model = training.load(artifact) if isinstance(artifact, (str, Path)) else artifact
    predicted = [p.label for p in model.predict([r["text"] for r in rows], [r.get("title") or "" for r in rows])]
    return macro_f1([r["label"] for r in rows], predicted, labels)


def cross_source(args: argparse.Namespace, rows: dict[str, list[dict]], source: str, target: str, work: Path) -> dict:
    directory = work / f"data-{source}-to-{target}"
    written = write_transfer_data(rows, lambda r: source_of(r) == source, lambda r: source_of(r) == target,
                                  args.min_source_examples, directory)
    files, dropped, own_test = written["files"], written["dropped"], written["own_test"]
    logger.info("cross-source %s -> %s: train %d, validation %d, test %d articles; topics left out: %s (%s)",
                source, target, len(files["train"]), len(files["validation"]), len(files["test"]),
                dropped or "none", load_info())
    report, wall, _ = timed_run(make_config(args, directory, work / f"run-{source}-to-{target}"))
    labels = report["labels"]
    # in-domain reference: the same model on the source's own test rows (unused so far), same topics
    in_domain_f1 = macro_f1_of(report["best_artifact"], own_test, labels)
    cross = report["test"]["macro_f1"]
    return {
        "train_source": SOURCES[source], "test_source": SOURCES[target],
        "topics": labels, "topics_left_out": sorted(dropped),
        "articles": {"train": len(files["train"]), "validation": len(files["validation"]),
                     "cross_source_test": len(files["test"]), "in_domain_test": len(own_test)},
        "validation_macro_f1": report["candidates"]["baseline"]["validation"]["macro_f1"],
        "chosen": report["candidates"]["baseline"]["training"]["chosen"],
        "in_domain_macro_f1": round(in_domain_f1, 4),
        "cross_source_macro_f1": round(cross, 4),
        "drop": round(in_domain_f1 - cross, 4),
        "cross_source_per_class_f1": {label: v["f1"] for label, v in report["test"]["per_class"].items()},
        "run_seconds": round(wall, 2),
    }


# ------------------------------------------------------------------------------------------------ main

def main() -> int:
    args = parse_args()
    data = Path(args.data)
    if not data_present(data, DATASET):
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("training.models.baseline", "training.train", "training.data.loading", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        rows = load_rows(data)
        results: dict = {"data": str(data), "cpus": os.cpu_count(), "load_at_start": load_info()}
        results["in_domain"] = in_domain(args, work)
        results["speed"] = speed(results["in_domain"]["artifact"], rows["test"], args.latency_articles)
        if not args.skip_cross_source:
            results["cross_source"] = {f"{s}->{t}": cross_source(args, rows, s, t, work)
                                       for s, t in (("ant", "egy"), ("egy", "ant"))}
            pairs = results["cross_source"].values()
            results["cross_source_mean_macro_f1"] = round(sum(p["cross_source_macro_f1"] for p in pairs) / 2, 4)
            results["cross_source_mean_drop"] = round(sum(p["drop"] for p in pairs) / 2, 4)
        results["load_at_end"] = load_info()
        print_summary(results)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
            print(f"results: {args.out}")
    return 0


def print_summary(results: dict) -> None:
    domain, speed_ = results["in_domain"], results["speed"]
    chosen = domain["chosen"]
    print(f"\n== TF-IDF baseline on {results['data']} ({results['cpus']} CPUs; {results['load_at_start']} at start)")
    print(f"chosen on validation: {chosen['classifier']} C={chosen['C']:g} min_df={chosen['min_df']} "
          f"(validation macro-F1 {domain['validation_macro_f1']:.4f}; {len(domain['trials'])} trials)")
    print(f"test macro-F1 {domain['test_macro_f1']:.4f}  accuracy {domain['test_accuracy']:.4f}"
          + (f"  multi-label micro-F1 {domain['test_multi_label']['micro_f1']:.4f}" if domain["test_multi_label"] else ""))
    print("test F1 per class: " + "  ".join(f"{k} {v:.4f}" for k, v in domain["test_per_class_f1"].items()))
    print(f"training: baseline {domain['train_seconds']:.1f} s (features {domain['features_seconds']:.1f} s), whole run "
          f"{domain['run_seconds']:.1f} s wall / {domain['run_cpu_seconds']:.1f} s CPU; {domain['load_after_training']}")
    print(f"prediction: {speed_['batch_articles_per_second']:.0f} articles/s in one batch of {speed_['batch_articles']} "
          f"({speed_['batch_articles_per_cpu_second']:.0f} per CPU-second); single article median "
          f"{speed_['single_latency_ms_median']:.1f} ms, p95 {speed_['single_latency_ms_p95']:.1f} ms, "
          f"{speed_['single_cpu_ms_mean']:.1f} ms CPU; model load {speed_['load_seconds']:.1f} s; {speed_['load']}")
    for name, pair in results.get("cross_source", {}).items():
        print(f"cross-source {pair['train_source']} -> {pair['test_source']}: macro-F1 {pair['cross_source_macro_f1']:.4f} "
              f"on {pair['articles']['cross_source_test']} articles; in-domain {pair['in_domain_macro_f1']:.4f} on "
              f"{pair['articles']['in_domain_test']}; drop {pair['drop']:+.4f}  (topics {', '.join(pair['topics'])}"
              + (f"; left out: {', '.join(pair['topics_left_out'])}" if pair["topics_left_out"] else "") + ")")
    if "cross_source_mean_macro_f1" in results:
        print(f"cross-source mean macro-F1 {results['cross_source_mean_macro_f1']:.4f}, mean drop "
              f"{results['cross_source_mean_drop']:+.4f}")
    print(results["load_at_end"] + " at end")


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
