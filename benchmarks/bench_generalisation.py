"""How well does a model trained on some publishers classify another's articles? Cross-source figures through
the real training code path (``training.train.run`` with a ``TrainConfig``), per seed and as mean ± spread.

(a) JawharaFM -> Egyptian press: trained on JawharaFM's train rows, chosen on its validation rows, tested on ALL
    Egyptian press rows (masrawy ~637 + elfagr ~263, every split), per-class F1 included (terrorism above all).
(b) Leave one source out: for each publisher with at least --min-source-rows rows (jawharafm ~4,900, masrawy
    ~637, elfagr ~263), trained on the others' train/validation rows, tested on all of its rows.
(c) In domain: the full dataset's own split (test macro-F1, and per source from the run report).

Topics too rare on either side (fewer than --min-source-examples primary articles; sport has 1 Egyptian press
article) are removed on both sides, as in bench_baseline.py (``write_transfer_data``, shared); (a) and (b)
are macro-F1 over the remaining topics. Each cross-source run also gives its in-domain reference: the same
model on the trained-on sources' own test rows (never used for training or selection), same topics.

Never reads ../shared/holdout. Writes JSON with --out; skips cleanly when ../shared is absent.

    .venv/bin/python benchmarks/bench_generalisation.py --out results.json              # baseline, seed 13
    .venv/bin/python benchmarks/bench_generalisation.py --seeds 13 14 15 --out r.json    # mean ± spread
    .venv/bin/python benchmarks/bench_generalisation.py --models baseline,transformer,ensemble --config my.yaml
    .venv/bin/python benchmarks/bench_generalisation.py --unlabelled ../shared/corpora/arabic-news-unlabelled.jsonl.gz
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
from bench_baseline import (  # noqa: E402
    DATASET,
    REPO,
    SPLITS,
    data_present,
    load_info,
    load_rows,
    macro_f1_of,
    run_benchmark,
    write_transfer_data,
)

sys.path.insert(0, str(REPO))
logger = logging.getLogger("bench_generalisation")

TUNISIAN, EGYPTIAN = {"jawharafm"}, {"masrawy", "elfagr"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATASET), help="directory with train/validation/test.jsonl (with `source`)")
    parser.add_argument("--config", help="training config file (JSON/YAML); its data path, out and seed are set here")
    parser.add_argument("--models", default=None,
                        help="candidates, e.g. baseline,transformer,ensemble (default: the config's, else baseline)")
    parser.add_argument("--unlabelled", default=None, help="unlabelled articles for the runs (TrainConfig.unlabelled)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13], help="one full set of runs per seed")
    parser.add_argument("--min-source-rows", type=int, default=200, help="(b): publishers with fewer rows are not left out")
    parser.add_argument("--min-source-examples", type=int, default=10,
                        help="topics with fewer primary articles on either side are left out of that figure")
    parser.add_argument("--only", nargs="+", choices=("transfer", "leave-one-out", "in-domain"),
                        default=["transfer", "leave-one-out", "in-domain"], help="figures to compute")
    parser.add_argument("--work", help="directory for data, runs and artefacts (default: a temporary directory)")
    parser.add_argument("--out", help="write the results as JSON here")
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace, data: Path, out: Path, seed: int):
    from training.config import TrainConfig, check, load_config_file

    config = load_config_file(args.config) if args.config else TrainConfig()
    if args.models:
        config.models = [m.strip() for m in args.models.split(",") if m.strip()]
    config.out, config.seed, config.register, config.overwrite = str(out), seed, False, True
    config.data.path = str(data)
    if args.unlabelled:
        config.unlabelled = args.unlabelled
    return check(config)


def train(args: argparse.Namespace, data: Path, out: Path, seed: int) -> tuple[dict, float]:
    from training.train import run

    started = time.perf_counter()
    report = run(make_config(args, data, out, seed))
    return report, time.perf_counter() - started


def transfer(args: argparse.Namespace, rows: dict, trained_on: set[str], tested_on: set[str], name: str,
             work: Path, seed: int) -> dict:
    """Train on ``trained_on`` publishers, test on every row of ``tested_on``: one cross-source figure."""
    written = write_transfer_data(rows, lambda r: r.get("source") in trained_on, lambda r: r.get("source") in tested_on,
                                  args.min_source_examples, work / f"data-{name}")
    files = written["files"]
    logger.info("%s (seed %d): train %d, validation %d, test %d articles; topics left out: %s (%s)", name, seed,
                len(files["train"]), len(files["validation"]), len(files["test"]), written["dropped"] or "none", load_info())
    report, seconds = train(args, work / f"data-{name}", work / f"run-{name}-{seed}", seed)
    labels, test = report["labels"], report["test"]
    candidates = candidate_figures(report, files["test"], written["own_test"])
    return {
        "trained_on": sorted(trained_on), "tested_on": sorted(tested_on), "best": report["best"],
        "topics": labels, "topics_left_out": written["dropped"],
        "articles": {"train": len(files["train"]), "validation": len(files["validation"]),
                     "cross_source_test": len(files["test"]), "in_domain_test": len(written["own_test"]),
                     "test_by_source": dict(Counter(r.get("source") for r in files["test"]))},
        "validation_macro_f1": round(report["candidates"][report["best"]]["validation"]["macro_f1"], 4),
        "cross_source_macro_f1": round(test["macro_f1"], 4),
        "cross_source_per_class_f1": {label: round(v["f1"], 4) for label, v in test["per_class"].items()},
        "cross_source_per_source": {s: round(m["macro_f1"], 4) for s, m in test.get("per_source", {}).items()},
        "in_domain_macro_f1": candidates[report["best"]]["in_domain_macro_f1"],
        "candidates": candidates,
        "run_seconds": round(seconds, 1),
    }


def in_domain(args: argparse.Namespace, rows: dict, work: Path, seed: int) -> dict:
    logger.info("in-domain (seed %d): the full split (%s)", seed, load_info())
    report, seconds = train(args, Path(args.data), work / f"run-in-domain-{seed}", seed)
    test = report["test"]
    return {"best": report["best"], "test_macro_f1": round(test["macro_f1"], 4), "test_accuracy": round(test["accuracy"], 4),
            "test_per_class_f1": {label: round(v["f1"], 4) for label, v in test["per_class"].items()},
            "test_per_source_macro_f1": {s: round(m["macro_f1"], 4) for s, m in test.get("per_source", {}).items()},
            "candidates": candidate_figures(report, rows["test"]),
            "run_seconds": round(seconds, 1)}


def candidate_figures(report: dict, test_rows: list[dict], own_test_rows: list[dict] | None = None) -> dict:
    """Every candidate's macro-F1 on the test rows (and on the trained-on sources' own test rows), not only the
    selected one's: what each of baseline, transformer and ensemble would have scored. Reporting only, after
    selection; nothing here feeds back into training."""
    import training

    figures = {}
    for name, candidate in report["candidates"].items():
        model = training.load(candidate["artifact"])
        figures[name] = {"test_macro_f1": round(macro_f1_of(model, test_rows, report["labels"]), 4)}
        if own_test_rows is not None:
            figures[name]["in_domain_macro_f1"] = round(macro_f1_of(model, own_test_rows, report["labels"]), 4)
    return figures


def one_seed(args: argparse.Namespace, rows: dict, work: Path, seed: int) -> dict:
    results: dict = {}
    if "transfer" in args.only:
        results["jawharafm->egyptian_press"] = transfer(args, rows, TUNISIAN, EGYPTIAN, "jawharafm-to-egyptian", work, seed)
    if "leave-one-out" in args.only:
        sizes = Counter(r.get("source") for split in SPLITS for r in rows[split])
        for source, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
            if source and size >= args.min_source_rows:
                results[f"leave-out:{source}"] = transfer(args, rows, set(sizes) - {source, None, ""}, {source},
                                                          f"without-{source}", work, seed)
    if "in-domain" in args.only:
        results["in_domain"] = in_domain(args, rows, work, seed)
    return results


def summarise(per_seed: dict[int, dict]) -> dict:
    """Mean, sample standard deviation (the spread over seeds) and range of every figure."""
    def stats(values: list[float]) -> dict:
        return {"mean": round(statistics.fmean(values), 4), "spread": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
                "min": min(values), "max": max(values)}

    runs = list(per_seed.values())
    summary = {}
    for name, first in runs[0].items():
        key = "test_macro_f1" if name == "in_domain" else "cross_source_macro_f1"
        per_class_key = "test_per_class_f1" if name == "in_domain" else "cross_source_per_class_f1"
        summary[name] = {"macro_f1": stats([run[name][key] for run in runs]),
                         "per_class_f1": {label: stats([run[name][per_class_key][label] for run in runs])
                                          for label in first[per_class_key]}}
        if name != "in_domain":
            summary[name]["in_domain_macro_f1"] = stats([run[name]["in_domain_macro_f1"] for run in runs])
        if len(first.get("candidates", {})) > 1:
            summary[name]["candidates"] = {
                candidate: {key: stats([run[name]["candidates"][candidate][key] for run in runs]) for key in scores}
                for candidate, scores in first["candidates"].items()}
    return summary


def print_summary(results: dict) -> None:
    print(f"\n== generalisation: models {results['models']}, seeds {results['seeds']} ({results['cpus']} CPUs; "
          f"{results['load_at_start']} at start, {results['load_at_end']} at end; {results['seconds']:.0f} s)")
    for name, figure in results["summary"].items():
        m = figure["macro_f1"]
        line = f"{name:<34} macro-F1 {m['mean']:.4f} ± {m['spread']:.4f}"
        if "in_domain_macro_f1" in figure:
            line += f"  (in-domain reference {figure['in_domain_macro_f1']['mean']:.4f})"
        print(line + "  per class: " + "  ".join(f"{label} {v['mean']:.3f}" for label, v in figure["per_class_f1"].items()))
        for candidate, scores in figure.get("candidates", {}).items():
            print(f"  {candidate:<32} " + "  ".join(f"{key} {value['mean']:.4f} ± {value['spread']:.4f}"
                                                  for key, value in scores.items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if "holdout" in data.resolve().parts:
        print("bench_generalisation: refusing to read a holdout directory; it is reserved for final evaluation")
        return 2
    if not data_present(data, DATASET):
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("training", "datasets", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-generalisation-") as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        rows = load_rows(data)
        results: dict = {"data": str(data), "models": args.models or "config default", "unlabelled": args.unlabelled,
                         "config": args.config, "seeds": args.seeds, "cpus": os.cpu_count(), "load_at_start": load_info()}
        results["per_seed"] = {seed: one_seed(args, rows, work / f"seed-{seed}", seed) for seed in args.seeds}
        results["summary"] = summarise(results["per_seed"])
        results["load_at_end"], results["seconds"] = load_info(), round(time.perf_counter() - started, 1)
        print_summary(results)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
            print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
