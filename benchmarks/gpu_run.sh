#!/usr/bin/env bash
# One GPU, about 8 minutes: build a vocabulary on the unlabelled corpus, pre-train a larger encoder than a CPU can
# (8 x 256 by default), fine-tune it with distillation beside the baseline and their ensemble, print the figures.
# Everything goes through the CLI; bf16 (or fp16) is switched on by the CLI itself whenever CUDA is present. Nothing
# depends on this script: the CPU path stays the default and is what the tests run.
#
#   bash benchmarks/gpu_run.sh                      # on a GPU machine, from the repository root
#   GPU_RUN_SMOKE=1 bash benchmarks/gpu_run.sh      # seconds-long check of the same steps on a CPU
#
# Settings (environment): DATA, CORPUS, OUT, PYTHON, SEED, LAYERS, HIDDEN, HEADS, VOCAB, DOCS, PRETRAIN_S, FINETUNE_S.
# Never reads ../shared/holdout (the CLI refuses it anyway).
set -euo pipefail

SHARED=${SHARED:-../shared}
DATA=${DATA:-$SHARED/datasets/arabic-news-topics}
TEST=${TEST:-$DATA/test.jsonl}
CORPUS=${CORPUS:-$SHARED/corpora/arabic-news-unlabelled.jsonl.gz}
OUT=${OUT:-/tmp/gpu-run}
PYTHON=${PYTHON:-.venv/bin/python}
SEED=${SEED:-13}
LAYERS=${LAYERS:-8} HIDDEN=${HIDDEN:-256} HEADS=${HEADS:-4}
VOCAB=${VOCAB:-16000} DOCS=${DOCS:-84538}
PRETRAIN_S=${PRETRAIN_S:-210} FINETUNE_S=${FINETUNE_S:-120}
PRETRAIN_BATCH=${PRETRAIN_BATCH:-128} FINETUNE_BATCH=${FINETUNE_BATCH:-64} DISTILL=${DISTILL:-20000}
if [[ -n "${GPU_RUN_SMOKE:-}" ]]; then  # the same steps, tiny, on a CPU
  LAYERS=2 HIDDEN=32 HEADS=2 VOCAB=500 DOCS=200 PRETRAIN_S=5 FINETUNE_S=10 PRETRAIN_BATCH=8 FINETUNE_BATCH=8 DISTILL=50
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 BENTOML_DO_NOT_TRACK=true TOKENIZERS_PARALLELISM=false

"$PYTHON" - <<'EOF'
import torch
print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (no CUDA: expect CPU speed)")
EOF
rm -rf "$OUT" && mkdir -p "$OUT"
started=$SECONDS
"$PYTHON" -m training build-tokenizer --corpus "$CORPUS" --max-docs "$DOCS" --vocab-size "$VOCAB" \
    --out "$OUT/wordpiece" --cache-dir "$OUT/datasets-cache"
"$PYTHON" -m training pretrain --corpus "$CORPUS" --tokenizer "$OUT/wordpiece" --out "$OUT/encoder" \
    --objective mlm --encoder.layers "$LAYERS" --encoder.hidden "$HIDDEN" --encoder.heads "$HEADS" \
    --max-docs "$DOCS" --batch-size "$PRETRAIN_BATCH" --time-budget-s "$PRETRAIN_S" --seed "$SEED" \
    --cache-dir "$OUT/datasets-cache"
"$PYTHON" -m training train --data "$DATA" --unlabelled "$CORPUS" --models baseline,transformer,ensemble \
    --self-training.max-unlabelled "$DISTILL" --transformer.model "$OUT/encoder" --transformer.max-length 256 \
    --transformer.batch-size "$FINETUNE_BATCH" --transformer.distill-articles "$DISTILL" \
    --transformer.time-budget-s "$FINETUNE_S" --seed "$SEED" --out "$OUT/run"
"$PYTHON" -m training evaluate "$OUT"/run/artifacts/* --data "$TEST" --out "$OUT/evaluation"
"$PYTHON" - "$OUT" $((SECONDS - started)) <<'EOF'
import json, sys
out, seconds = sys.argv[1], sys.argv[2]
pretrained = json.load(open(f"{out}/encoder/pretrain_summary.json"))
report = json.load(open(f"{out}/run/report.json"))
print(f"\nencoder: {pretrained['encoder_parameters']:,} parameters, {pretrained['steps']} steps in "
      f"{pretrained['seconds_this_run']} s, eval MLM loss {pretrained['eval_loss']:.3f}")
for name, candidate in report["candidates"].items():
    print(f"{name:<12} validation macro-F1 {candidate['validation']['macro_f1']:.4f}")
print(f"selected: {report['best']}; test figures of every candidate: {out}/evaluation/evaluation.md; {seconds} s in all")
EOF
