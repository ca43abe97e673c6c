"""Does a model score differently on validation than on test, beyond what chance explains?

For each model, against a reference model (the baseline): macro-F1 on the dataset's validation and test splits,
the model-minus-reference gap on each, and how often a gap difference this large appears when validation + test
are re-split at random into two stratified halves (``--halvings`` times): a small share means the two given splits
differ for this model in a way that chance rarely produces. Accuracy by the rows' ``label_origin`` (section-derived,
annotated, adjudicated: how borderline an article is) shows where a gap lies.

Trained-on articles bias this: a model that tuned on validation (early stopping, weights) looks better there. Give
models whose tuning used at most half of validation, and read the figure with that in mind.

Never reads ../shared/holdout.

    .venv/bin/python benchmarks/bench_split_gap.py --reference RUN/artifacts/baseline RUN/artifacts/transformer
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_baseline import DATASET, data_present, load_rows, run_benchmark  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="artefact directories to examine")
    parser.add_argument("--reference", required=True, help="artefact the gaps are measured against (the baseline)")
    parser.add_argument("--data", default=str(DATASET), help="directory with validation.jsonl and test.jsonl")
    parser.add_argument("--halvings", type=int, default=1000, help="random stratified re-splits of validation + test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the figures as JSON here")
    return parser.parse_args(argv)


def label_ids(model, rows: list[dict], labels: list[str]) -> np.ndarray:
    return np.array([labels.index(p.label) for p in model.predict([r["text"] for r in rows],
                                                                  [r.get("title") or "" for r in rows])])


def gap_figures(predicted: np.ndarray, reference: np.ndarray, truth: np.ndarray, n_validation: int, halvings: int,
                seed: int) -> dict:
    """Macro-F1 of ``predicted`` and its gap to ``reference`` on validation (the first ``n_validation`` rows) and
    on test (the rest), and the share of random stratified halvings with a gap difference at least as large."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedShuffleSplit

    def f1(rows: np.ndarray, which: np.ndarray) -> float:
        return float(f1_score(truth[rows], which[rows], average="macro", zero_division=0))

    def gap(rows: np.ndarray) -> float:
        return f1(rows, predicted) - f1(rows, reference)

    validation, test = np.arange(n_validation), np.arange(n_validation, len(truth))
    observed = gap(validation) - gap(test)
    halves = StratifiedShuffleSplit(n_splits=halvings, test_size=0.5, random_state=seed).split(truth, truth)
    differences = np.array([abs(gap(a) - gap(b)) for a, b in halves])
    return {"validation_macro_f1": round(f1(validation, predicted), 4), "test_macro_f1": round(f1(test, predicted), 4),
            "gap_to_reference": {"validation": round(gap(validation), 4), "test": round(gap(test), 4)},
            "gap_difference": round(observed, 4),
            "random_halvings": {"count": halvings, "sd": round(float(differences.std()), 4),
                                "share_at_least_as_large": round(float(np.mean(differences >= abs(observed) - 1e-12)), 3)}}


def accuracy_by_origin(predicted: np.ndarray, truth: np.ndarray, origins: list[str], n_validation: int) -> dict:
    result: dict = defaultdict(dict)
    for split, rows in (("validation", range(n_validation)), ("test", range(n_validation, len(truth)))):
        for origin in sorted({origins[i] for i in rows}):
            chosen = [i for i in rows if origins[i] == origin]
            result[split][origin] = {"articles": len(chosen), "accuracy": round(float(np.mean(predicted[chosen] == truth[chosen])), 3)}
    return dict(result)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if not data_present(data, DATASET, needs="test.jsonl"):
        return 0
    import training

    rows = load_rows(data)
    examined = rows["validation"] + rows["test"]
    reference = training.load(args.reference)
    labels = list(reference.labels)
    truth = np.array([labels.index(r["label"]) for r in examined])
    origins = [r.get("label_origin") or "unknown" for r in examined]
    n_validation = len(rows["validation"])
    reference_ids = label_ids(reference, examined, labels)
    results = {"reference": args.reference, "reference_by_origin": accuracy_by_origin(reference_ids, truth, origins, n_validation),
               "models": {}}
    for path in args.models:
        predicted = label_ids(training.load(path), examined, labels)
        figures = gap_figures(predicted, reference_ids, truth, n_validation, args.halvings, args.seed)
        figures["by_origin"] = accuracy_by_origin(predicted, truth, origins, n_validation)
        results["models"][path] = figures
        halvings = figures["random_halvings"]
        print(f"{path}\n  validation {figures['validation_macro_f1']:.4f}, test {figures['test_macro_f1']:.4f}; "
              f"gap to the reference: validation {figures['gap_to_reference']['validation']:+.4f}, "
              f"test {figures['gap_to_reference']['test']:+.4f}; a difference this large in "
              f"{halvings['share_at_least_as_large']:.1%} of {halvings['count']} random halvings (sd {halvings['sd']:.4f})")
        for split, by_origin in figures["by_origin"].items():
            print(f"  {split} accuracy by label origin: " + ", ".join(
                f"{o} {m['accuracy']:.3f} (reference {results['reference_by_origin'][split][o]['accuracy']:.3f}, "
                f"{m['articles']})" for o, m in by_origin.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
