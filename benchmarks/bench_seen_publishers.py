"""How well the default baseline does on the Egyptian press articles once it HAS seen their publishers: the
reference that the cross-source proxy (JawharaFM only -> the Egyptian press) is read against.

K-fold over the Egyptian press articles (masrawy + elfagr, every split; sport left out as in the proxy): the
model is trained on JawharaFM's training rows plus K-1 folds of them and tests the held-out fold, so every
Egyptian article is predicted once by a model that learnt from about (K-1)/K of its publishers' labelled articles.
Features and model are the default baseline's (word + character TF-IDF, calibrated LinearSVC at C = 1, the value
the default search picks), as in bench_adaptation.py. Never reads ../shared/holdout.

    .venv/bin/python benchmarks/bench_seen_publishers.py --seeds 13 14 15   # ~1 minute a seed on 2 cores
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_adaptation import docs_of  # noqa: E402
from bench_baseline import DATASET, SPLITS, data_present, load_rows, run_benchmark  # noqa: E402

EGYPTIAN = ("masrawy", "elfagr")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATASET), help="labelled dataset directory (train/validation/test.jsonl)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[13], help="one fold assignment per seed")
    parser.add_argument("--out", help="write the figures as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from training.config import BaselineConfig
    from training.data.unlabelled import refuse_reserved
    from training.models.baseline import build_features, build_linear_model

    args = parse_args(argv)
    refuse_reserved(args.data)
    if not all(data_present(args.data, DATASET, needs=f"{split}.jsonl") for split in SPLITS):
        return 0
    rows = load_rows(Path(args.data))
    egyptian = [r for split in SPLITS for r in rows[split] if r.get("source") in EGYPTIAN and r["label"] != "sport"]
    jawharafm = [r for r in rows["train"] if r.get("source") == "jawharafm" and r["label"] != "sport"]
    labels = sorted({r["label"] for r in jawharafm})
    egyptian_docs, jawharafm_docs = docs_of(egyptian), docs_of(jawharafm)
    y = np.array([labels.index(r["label"]) for r in egyptian])
    y_jawharafm = np.array([labels.index(r["label"]) for r in jawharafm])
    sources = np.array([r["source"] for r in egyptian])
    results: dict = {"articles": len(egyptian), "jawharafm_training_articles": len(jawharafm), "folds": args.folds,
                     "labels": labels, "per_seed": {}}
    for seed in args.seeds:
        predicted = np.empty(len(y), dtype=int)
        for train, test in StratifiedKFold(args.folds, shuffle=True, random_state=seed).split(egyptian_docs, y):
            features = build_features(BaselineConfig(), 2)
            X = features.fit_transform(jawharafm_docs + [egyptian_docs[i] for i in train])
            model = build_linear_model("svm", 1.0, "balanced", False, seed).fit(X, np.r_[y_jawharafm, y[train]])
            predicted[test] = model.predict(features.transform([egyptian_docs[i] for i in test]))
        figure = {"macro_f1": round(f1_score(y, predicted, average="macro"), 4),
                  "per_class_f1": dict(zip(labels, np.round(f1_score(y, predicted, average=None), 4).tolist())),
                  "per_source_macro_f1": {name: round(f1_score(y[sources == name], predicted[sources == name],
                                                               average="macro", labels=range(len(labels))), 4)
                                          for name in EGYPTIAN}}
        results["per_seed"][seed] = figure
        print(f"seed {seed}: Egyptian press with its publishers seen, {args.folds}-fold: macro-F1 {figure['macro_f1']:.4f}"
              f"  per class {figure['per_class_f1']}  per source {figure['per_source_macro_f1']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))
