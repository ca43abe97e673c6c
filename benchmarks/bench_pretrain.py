"""Compare pre-training objectives at equal CPU budgets: each one pre-trains the same compact encoder on the unlabelled
corpus for --budget seconds, then is fine-tuned on the labelled train split with identical settings; prints test
macro-F1 and times per objective and seed.

A run spec is an objective name, optionally with extra `pretrain` flags after a colon, e.g.
``mlm``, ``electra``, ``mlm-15:--objective mlm --mlm-probability 0.15 --dropout 0.1``. One WordPiece vocabulary
(built once, reused) serves every run. Never reads ../shared/holdout.

    # a quick comparison: 4 minutes each, 1 thread, 1 seed
    .venv/bin/python benchmarks/bench_pretrain.py --budget 240 --seeds 13 --runs mlm electra
    # the issue's comparison: 30 CPU-minutes x 2 seeds x objectives (hours on a 2-core machine)
    .venv/bin/python benchmarks/bench_pretrain.py --budget 1800 --seeds 13 14 --runs mlm electra
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_baseline import DATASET, SHARED, data_present, run_command  # noqa: E402

CORPUS = SHARED / "corpora" / "arabic-news-unlabelled.jsonl.gz"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--data", default=str(DATASET), help="labelled splits")
    parser.add_argument("--runs", nargs="+", default=["mlm", "electra"], help="objective[:extra pretrain flags]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[13])
    parser.add_argument("--budget", type=float, default=240.0, help="seconds of pre-training per run")
    parser.add_argument("--finetune-budget", type=float, default=0.0, help="seconds of fine-tuning per run (0: all "
                        "--finetune-epochs; a time limit gives runs on a busier machine fewer steps)")
    parser.add_argument("--finetune-epochs", type=float, default=3.0)
    parser.add_argument("--finetune-lr", type=float, default=5e-4)
    parser.add_argument("--max-length", type=int, default=128, help="fine-tuning tokens per article")
    parser.add_argument("--docs", type=int, default=20000, help="corpus rows for the vocabulary and pre-training")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default="/tmp/bench_pretrain", help="tokenizer, encoders, runs and the datasets cache")
    parser.add_argument("--out", default="/tmp/bench_pretrain.json")
    parser.add_argument("--reuse", action="store_true", help="fine-tune encoders already pre-trained in --work")
    args = parser.parse_args()
    if "holdout" in Path(args.data).parts or "holdout" in Path(args.corpus).parts:
        parser.error("../shared/holdout is reserved for final evaluation; benchmark on the labelled splits")
    return args


def main() -> int:
    args = parse_args()
    if not (data_present(args.data, DATASET) and data_present(args.corpus, CORPUS, needs="", flag="--corpus")):
        return 0  # checked first: a wrong path must not cost a pre-training budget
    work, cache = Path(args.work), str(Path(args.work) / "datasets-cache")
    tokenizer = work / f"wordpiece-{args.vocab_size}-{args.docs}"
    if not (tokenizer / "tokenizer.json").is_file():
        run_command(["build-tokenizer", "--corpus", args.corpus, "--vocab-size", str(args.vocab_size), "--max-docs",
                    str(args.docs), "--out", str(tokenizer), "--cache-dir", cache])
    results = []
    for seed in args.seeds:
        for spec in args.runs:
            name, _, extra = spec.partition(":")
            flags = shlex.split(extra) or ["--objective", name]
            encoder = work / f"{name}-seed{seed}"
            if not (args.reuse and (encoder / "pretrain_summary.json").is_file()):
                run_command(["pretrain", "--corpus", args.corpus, "--tokenizer", str(tokenizer), "--out", str(encoder),
                            "--max-docs", str(args.docs), "--time-budget-s", str(args.budget), "--seed", str(seed),
                            "--threads", str(args.threads), "--cache-dir", cache, "--overwrite", *flags])
            pretrained = json.loads((encoder / "pretrain_summary.json").read_text())
            run_dir = work / f"run-{name}-seed{seed}"
            started = time.perf_counter()
            run_command(["train", "--data", args.data, "--models", "transformer", "--transformer.model", str(encoder),
                        "--transformer.max-length", str(args.max_length), "--transformer.epochs", str(args.finetune_epochs),
                        "--transformer.learning-rate", str(args.finetune_lr), "--transformer.early-stopping-patience", "0",
                        "--transformer.time-budget-s", str(args.finetune_budget), "--transformer.threads",
                        str(args.threads), "--seed", str(seed), "--out", str(run_dir), "--overwrite"])
            report = json.loads((run_dir / "report.json").read_text())
            results.append({"run": name, "flags": flags, "seed": seed, "test_macro_f1": round(report["test"]["macro_f1"], 4),
                            "validation_macro_f1": round(report["candidates"]["transformer"]["validation"]["macro_f1"], 4),
                            "pretrain_steps": pretrained["steps"], "pretrain_seconds": pretrained["seconds_this_run"],
                            "pretrain_eval_loss": pretrained["eval_loss"], "tokens_seen": pretrained["tokens_seen_this_run"],
                            "finetune_seconds": round(time.perf_counter() - started, 1),
                            "load_average": round(os.getloadavg()[0], 1)})
            Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2), encoding="utf-8")
    limit = f"at most {args.finetune_budget:.0f} s of " if args.finetune_budget > 0 else ""
    print(f"\npre-training {args.budget:.0f} s per run, {args.threads} thread(s), {args.docs} corpus rows; fine-tuning "
          f"{limit}{args.finetune_epochs} epochs at lr {args.finetune_lr}, max length {args.max_length}")
    print(f"{'run':<12} {'seed':>4} {'test F1':>8} {'val F1':>7} {'steps':>6} {'eval loss':>9} {'fine-tune s':>11} {'load':>5}")
    for r in results:
        print(f"{r['run']:<12} {r['seed']:>4} {r['test_macro_f1']:>8.4f} {r['validation_macro_f1']:>7.4f} "
              f"{r['pretrain_steps']:>6} {r['pretrain_eval_loss']:>9.3f} {r['finetune_seconds']:>11} {r['load_average']:>5}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))
