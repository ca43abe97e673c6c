"""Benchmark the compact encoder against the TF-IDF baseline on the labelled dataset in ../shared.

Steps (each can be skipped):
  1. tokenizers: WordPiece vs BPE vs Unigram built on the unlabelled corpus; tokens per word and [UNK] rate on
     held-out corpus articles and on the labelled validation texts;
  2. pretrain: build a WordPiece vocabulary and MLM-pre-train a compact encoder for --pretrain-budget seconds
     (saved under models/encoders/, reused with --skip-pretrain);
  3. fine-tune (a) the compact encoder from random initialisation (vocabulary from the training split) and
     (b) the pre-trained encoder, same architecture, same budgets; test macro-F1 and training samples/s;
  4. baseline: ``python -m training train --models baseline`` on the same data and split.

Never reads ../shared/holdout. Prints a table and writes JSON (--out).

    .venv/bin/python benchmarks/bench_transformer.py --smoke            # a minute or two, tiny budgets
    nohup .venv/bin/python benchmarks/bench_transformer.py --threads 1 > /tmp/bench_transformer.log 2>&1 &  # ~75 min
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_baseline import DATASET, SHARED, data_present, run_command  # noqa: E402

CORPUS = SHARED / "corpora" / "arabic-news-unlabelled.jsonl.gz"
logger = logging.getLogger("bench_transformer")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATASET))
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--encoder-dir", default=str(REPO / "models" / "encoders" / "bench-compact-4x128"),
                        help="where the pre-trained encoder goes (its vocabulary beside it, DIR-tokenizer)")
    parser.add_argument("--out", default="/tmp/bench_transformer.json")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=16000)
    parser.add_argument("--tokenizer-docs", type=int, default=30000, help="corpus articles for the vocabulary")
    parser.add_argument("--pretrain-docs", type=int, default=20000, help="corpus articles packed for pre-training")
    parser.add_argument("--pretrain-budget", type=float, default=1500.0, help="seconds of MLM pre-training")
    parser.add_argument("--seq-len", type=int, default=128, help="pre-training block length")
    parser.add_argument("--pretrain-lr", type=float, default=1e-3, help="peak MLM learning rate")
    parser.add_argument("--whole-word-mask", action="store_true", help="mask whole words instead of single pieces")
    parser.add_argument("--max-length", type=int, default=128, help="fine-tuning tokens per article")
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the idle cores)")
    parser.add_argument("--patience", type=int, default=0, help="early-stopping patience in evaluations (0: off; the "
                        "validation curve is step-like, so patience stops runs on a plateau)")
    parser.add_argument("--finetune-budget", type=float, default=1500.0, help="seconds per fine-tuning run")
    parser.add_argument("--steps", nargs="+", default=["tokenizers", "pretrain", "finetune", "baseline"],
                        help="any of tokenizers, pretrain, finetune, finetune-pretrained, baseline")
    parser.add_argument("--skip-pretrain", action="store_true", help="reuse --encoder-dir")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets and sizes to check the script")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if args.smoke:
        args.layers, args.hidden, args.heads, args.vocab_size = 1, 64, 2, 2000
        args.tokenizer_docs, args.pretrain_docs, args.pretrain_budget = 500, 300, 20
        args.epochs, args.finetune_budget, args.max_length, args.seq_len = 0.2, 30, 64, 64
        args.encoder_dir, args.out = "/tmp/bench_transformer_smoke/encoder", "/tmp/bench_transformer_smoke.json"
    return args


def compare_tokenizers(args: argparse.Namespace, data) -> list[dict]:
    from training.data.normalize import normalizer_for
    from training.encoders.corpus import corpus_texts
    from training.encoders.tokenizer import build_tokenizer, tokenizer_stats

    normalizer = normalizer_for("default")
    docs = max(200, args.tokenizer_docs // 6)
    train = corpus_texts(args.corpus, normalizer, docs)
    held = corpus_texts(args.corpus, normalizer, 500, skip_docs=80000 if not args.smoke else docs)
    labelled = normalizer.transform([f"{t}\n{x}" for t, x in zip(data.validation.titles, data.validation.texts)])
    rows = []
    for kind in ("wordpiece", "bpe", "unigram"):
        started = time.perf_counter()
        tokenizer = build_tokenizer(train, args.vocab_size // 2, kind)
        rows.append({"kind": kind, "vocab": len(tokenizer), "train_docs": len(train),
                     "build_seconds": round(time.perf_counter() - started, 1),
                     "corpus_heldout": tokenizer_stats(tokenizer, held), "labelled_validation": tokenizer_stats(tokenizer, labelled)})
        logger.info("tokenizer %s: %s", kind, rows[-1])
    return rows


def pretrain(args: argparse.Namespace) -> dict:
    encoder = Path(args.encoder_dir)
    tokenizer = encoder.parent / (encoder.name + "-tokenizer")
    started = time.perf_counter()
    if not (tokenizer / "tokenizer.json").is_file():  # reused when present (delete it to rebuild)
        run_command(["build-tokenizer", "--corpus", args.corpus, "--vocab-size", str(args.vocab_size), "--max-docs",
                     str(args.tokenizer_docs), "--out", str(tokenizer)])
    tokenizer_seconds = time.perf_counter() - started
    run_command(["pretrain", "--corpus", args.corpus, "--tokenizer", str(tokenizer), "--out", str(encoder),
                 "--encoder.layers", str(args.layers), "--encoder.hidden", str(args.hidden), "--encoder.heads", str(args.heads),
                 "--seq-len", str(args.seq_len), "--max-docs", str(args.pretrain_docs),
                 "--time-budget-s", str(args.pretrain_budget), "--seed", str(args.seed), "--learning-rate", str(args.pretrain_lr), "--overwrite"]
                + (["--whole-word-mask"] if args.whole_word_mask else []))
    summary = json.loads((encoder / "pretrain_summary.json").read_text())
    return summary | {"tokenizer_seconds": round(tokenizer_seconds, 1), "total_seconds": round(time.perf_counter() - started, 1)}


def fine_tune(args: argparse.Namespace, data, model: str | None) -> dict:
    from training.config import CompactEncoderConfig, TransformerConfig
    from training.evaluation.metrics import evaluate_scores
    from training.models.transformer_training import train_transformer

    # learning rate left to auto (fine_tuning.json of the pre-trained encoder, or the size rule)
    config = TransformerConfig(model=model, max_length=args.max_length, epochs=args.epochs,
                               early_stopping_patience=args.patience, time_budget_s=args.finetune_budget,
                               compact=CompactEncoderConfig(vocab_size=args.vocab_size, layers=args.layers, hidden=args.hidden,
                                                            heads=args.heads), batch_size=16, threads=args.threads)
    started = time.perf_counter()
    classifier, log = train_transformer(data, config, args.seed, work_dir=Path("/tmp") / f"bench-work-{os.getpid()}")
    seconds = time.perf_counter() - started
    predict_started = time.perf_counter()
    scores = classifier.predict_scores(data.test.texts, data.test.titles)
    predict_seconds = time.perf_counter() - predict_started
    test = evaluate_scores(scores, data.test, data.label_names, data.multi_label, classifier.thresholds)
    return {"model": model or "compact (random init)", "test_macro_f1": round(test["macro_f1"], 4),
            "test_accuracy": round(test["accuracy"], 4), "best_validation_macro_f1": log["best_validation_macro_f1"],
            "steps": log["steps"], "epochs": log["epochs"], "stopped_by": log["stopped_by"],
            "train_samples_per_second": log["train_samples_per_second"], "seconds": round(seconds, 1),
            "predict_articles_per_second": round(len(data.test) / predict_seconds, 1), "threads": log["threads"],
            "evaluations": log["evaluations"]}


def baseline(args: argparse.Namespace) -> dict:
    from training.config import TrainConfig
    from training.train import run

    config = TrainConfig(out=f"/tmp/bench-baseline-{os.getpid()}", models=["baseline"], seed=args.seed)
    config.data.path = args.data
    if args.smoke:
        config.baseline.c_values, config.baseline.classifiers = [4.0], ["logreg"]
    report = run(config)
    candidate = report["candidates"]["baseline"]
    return {"test_macro_f1": round(report["test"]["macro_f1"], 4), "test_accuracy": round(report["test"]["accuracy"], 4),
            "validation_macro_f1": round(candidate["validation"]["macro_f1"], 4), "seconds": candidate["train_seconds"],
            "predict_articles_per_second": candidate["predict_articles_per_second"]}


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if "holdout" in Path(args.data).parts or "holdout" in Path(args.corpus).parts:
        raise SystemExit("the holdout is reserved for final evaluation")
    if not (data_present(args.data, DATASET) and data_present(args.corpus, CORPUS, needs="", flag="--corpus")):
        return 0
    from training.config import DataConfig
    from training.data.loading import load_data

    data = load_data(DataConfig(path=args.data), seed=args.seed)
    if args.smoke:  # a small slice keeps the smoke run short
        data.train = data.train.subset(range(0, len(data.train), 20))
        data.validation = data.validation.subset(range(0, len(data.validation), 5))
        data.test = data.test.subset(range(0, len(data.test), 5))
    results: dict = {"args": vars(args), "train_articles": len(data.train), "test_articles": len(data.test)}
    out = Path(args.out)

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")

    if "tokenizers" in args.steps:
        results["tokenizers"] = compare_tokenizers(args, data)
        save()
    if "pretrain" in args.steps and not args.skip_pretrain:
        results["pretrain"] = pretrain(args)
        save()
    if "finetune" in args.steps:  # finetune-pretrained: only the pre-trained encoder (e.g. another pre-training variant)
        results["random_init"] = fine_tune(args, data, None)
        save()
    if "finetune" in args.steps or "finetune-pretrained" in args.steps:
        results["pretrained"] = fine_tune(args, data, args.encoder_dir)
        save()
    if "baseline" in args.steps:
        results["baseline"] = baseline(args)
        save()

    print("\n== figures ==")
    for row in results.get("tokenizers", []):
        print(f"tokenizer {row['kind']:<9} vocab {row['vocab']:>6}  tokens/word held-out corpus "
              f"{row['corpus_heldout']['tokens_per_word']:.3f} labelled {row['labelled_validation']['tokens_per_word']:.3f}  "
              f"[UNK] {row['labelled_validation']['unk_rate']:.4%}  built in {row['build_seconds']} s")
    if "pretrain" in results:
        p = results["pretrain"]
        print(f"pre-training: {p['steps']} steps of {args.seq_len}-token blocks, {p['tokens_seen_this_run']:,} tokens in {p['seconds_this_run']} s "
              f"({p['blocks_per_second']} blocks/s), eval MLM loss {p['eval_loss']:.3f} -> {args.encoder_dir}")
    for key in ("random_init", "pretrained", "baseline"):
        if key in results:
            r = results[key]
            print(f"{key:<12} test macro-F1 {r['test_macro_f1']:.4f}  accuracy {r['test_accuracy']:.4f}  "
                  f"train {r['seconds']} s" + (f"  {r['train_samples_per_second']} samples/s" if "train_samples_per_second" in r else "")
                  + f"  predict {r['predict_articles_per_second']} articles/s")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))
