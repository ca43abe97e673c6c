"""Torch eager vs ONNX Runtime fp32 vs int8 for a transformer artefact: throughput and macro-F1.

    .venv/bin/python benchmarks/bench_onnx.py ARTIFACT_DIR [--data /work/shared/datasets/arabic-news-topics]
        [--threads 1] [--articles 256] [--out result.json]

Exports into a temporary copy of the artefact (the artefact itself is not changed), then on the test split:
throughput in articles/s at batch 32 and batch 1 (tokenisation included, the same token ids for every
backend, best of --repeats runs), and macro-F1 / accuracy of the primary label for torch and int8. The
machine's load average is recorded next to the figures: on a shared CPU they move with it. ``--profile``
adds ONNX Runtime's own profile of both ONNX models on the timed articles: the share of kernel time per
operator type (what int8 speeds up, the matrix products, and what it leaves as it is).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from bench_baseline import DATASET, data_present  # noqa: E402


def throughput(score, texts, titles, batch: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            score(texts[i:i + batch], titles[i:i + batch])
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def operator_shares(path: Path, feeds: list[dict], threads: int) -> dict[str, float]:
    """Share of ONNX Runtime kernel time per operator type over ``feeds`` (its profiler's node events)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for feed in feeds:
        session.run(None, feed)
    totals: dict[str, float] = {}
    for event in json.loads(Path(session.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"]
    whole = sum(totals.values()) or 1.0
    return {op: round(100 * t / whole, 1) for op, t in sorted(totals.items(), key=lambda kv: -kv[1]) if 100 * t / whole >= 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("--data", default=str(DATASET), help="labelled dataset directory (its test split is scored)")
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--articles", type=int, default=256, help="test articles timed at batch 32 (batch 1: a quarter)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    parser.add_argument("--profile", action="store_true", help="also report ONNX Runtime's kernel time per operator type")
    args = parser.parse_args()
    if not data_present(args.data, DATASET, needs="test.jsonl"):
        return 0

    import torch
    from sklearn.metrics import accuracy_score, f1_score

    import training
    from training.config import DataConfig
    from training.data.loading import load_data
    from training.models.onnx_export import (
        FP32_FILE,
        INT8_FILE,
        ONNX_DIR,
        OnnxScorer,
        add_onnx_to_artifact,
        onnx_scores,
    )
    from training.registry import locate

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    try:
        data = load_data(DataConfig(path=args.data), seed=13)  # before the export: a wrong path stops at once
        copy = work / "artifact"
        shutil.copytree(locate(args.artifact)[1], copy)
        entry = add_onnx_to_artifact(copy)
        classifier = training.load(copy, backend="torch")
        test = data.test
        texts, titles = list(test.texts), list(test.titles)
        fp32 = OnnxScorer(copy / ONNX_DIR / FP32_FILE, threads=args.threads)
        int8 = OnnxScorer(copy / ONNX_DIR / INT8_FILE, threads=args.threads)
        backends = {"torch": classifier.predict_scores,
                    "onnx_fp32": lambda t, h: onnx_scores(classifier, fp32, t, h),
                    "onnx_int8": lambda t, h: onnx_scores(classifier, int8, t, h)}
        result = {"artifact": str(Path(args.artifact).resolve()), "model": {k: classifier.manifest["model"].get(k) for k in
                  ("source", "architecture", "parameters", "max_length")}, "threads": args.threads,
                  "test_articles": len(texts), "sizes_bytes": {"torch_safetensors": sum(p.stat().st_size for p in (copy / "model").glob("*.safetensors")),
                  "onnx_fp32": (copy / ONNX_DIR / FP32_FILE).stat().st_size, "onnx_int8": (copy / ONNX_DIR / INT8_FILE).stat().st_size},
                  "load_before": os.getloadavg(), "throughput_articles_per_s": {}, "quality": {}}
        n32, n1 = min(args.articles, len(texts)), max(8, min(args.articles, len(texts)) // 4)
        for name, score in backends.items():
            score(texts[:8], titles[:8])  # warm-up
            result["throughput_articles_per_s"][name] = {
                "batch_32": round(throughput(score, texts[:n32], titles[:n32], 32, args.repeats), 1),
                "batch_1": round(throughput(score, texts[:n1], titles[:n1], 1, args.repeats), 1)}
            print(name, result["throughput_articles_per_s"][name], flush=True)
        truth = test.primary_ids(classifier.labels)
        scores = {name: backends[name](texts, titles) for name in ("torch", "onnx_int8")}
        for name, s in scores.items():
            predicted = s.argmax(axis=1)
            result["quality"][name] = {"macro_f1": round(float(f1_score(truth, predicted, labels=range(len(classifier.labels)),
                                                                        average="macro", zero_division=0)), 4),
                                       "accuracy": round(float(accuracy_score(truth, predicted)), 4)}
        result["quality"]["int8_argmax_agreement"] = round(float((scores["torch"].argmax(1) == scores["onnx_int8"].argmax(1)).mean()), 4)
        result["quality"]["int8_max_abs_score_diff"] = round(float(np.abs(scores["torch"] - scores["onnx_int8"]).max()), 4)
        result["quality"]["macro_f1_loss_points"] = round(100 * (result["quality"]["torch"]["macro_f1"] - result["quality"]["onnx_int8"]["macro_f1"]), 2)
        tp = result["throughput_articles_per_s"]
        result["speedup_int8_vs_torch"] = {b: round(tp["onnx_int8"][b] / tp["torch"][b], 2) for b in ("batch_32", "batch_1")}
        result["speedup_fp32_vs_torch"] = {b: round(tp["onnx_fp32"][b] / tp["torch"][b], 2) for b in ("batch_32", "batch_1")}
        if args.profile:
            feeds = [{"input_ids": ids, "attention_mask": mask}
                     for _, ids, mask in classifier.batches(classifier.encode(texts[:n32], titles[:n32]))]
            result["operator_time_percent"] = {name: operator_shares(copy / ONNX_DIR / file, feeds, args.threads)
                                               for name, file in (("onnx_fp32", FP32_FILE), ("onnx_int8", INT8_FILE))}
        result["load_after"] = os.getloadavg()
        result["export"] = {k: entry.get(k) for k in ("opset", "exporter", "quantization", "export_seconds")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))
