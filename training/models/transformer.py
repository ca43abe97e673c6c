"""Transformer fine-tuning: any ``AutoModelForSequenceClassification`` checkpoint, or a compact encoder built here.

``train_transformer`` fine-tunes a hub id or local checkpoint directory (or, with no checkpoint, a small
randomly initialised BERT with a WordPiece vocabulary built from the training texts) with the Hugging Face
``Trainer``: AdamW with linear warm-up/decay, evaluation a few times per epoch, the best validation macro-F1
checkpoint kept (``save_strategy="best"``, one checkpoint on disk, deleted afterwards), early stopping, a time
budget, class-weighted loss and bf16/fp16 on CUDA. The same code runs under ``torchrun`` (DDP, gloo on CPU).
Inputs are title + body, normalised with the checkpoint's preset, then head+tail truncated (see truncation.py).
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score

from ..artifact import ArtifactError, Classifier
from ..config import ConfigError, TransformerConfig
from ..data.loading import LabelledData, compose_inputs
from ..data.normalize import ArabicNormalizer
from ..encoders.tokenizer import build_tokenizer, resolve_normalizer
from ..evaluation.metrics import tune_thresholds
from .hf_common import configure_threads, device_arguments, is_main_process, mixed_precision, time_budget_callback
from .truncation import STRATEGIES, encode_articles, special_affixes

logger = logging.getLogger(__name__)

MODEL_DIR = "model"


class TransformerClassifier(Classifier):
    model_type = "transformer"

    def __init__(self, model: Any, tokenizer: Any, normalizer: ArabicNormalizer, *, source: str, source_kind: str,
                 normalizer_preset: str, max_length: int, truncation: str = "head_tail", head_fraction: float = 0.25,
                 batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.model_max_length = max_length  # some Arabic tokenizers report 1e30
        self.normalizer = normalizer
        self.source, self.source_kind, self.normalizer_preset = source, source_kind, normalizer_preset
        self.max_length, self.truncation, self.head_fraction = max_length, truncation, head_fraction
        self.batch_size = batch_size
        self.affixes = special_affixes(tokenizer)
        self.onnx_session: Any = None  # an onnx_export.OnnxScorer once attached: scores without torch
        self.export_onnx = False  # also write int8 ONNX into the artefact when saved

    def encode(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> list[list[int]]:
        """Token ids (special tokens included) of normalised title + body, truncated to max_length."""
        inputs = self.normalizer.transform(compose_inputs(texts, titles))
        return encode_articles(self.tokenizer, inputs, self.max_length, self.truncation, self.head_fraction, self.affixes)

    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        ids = self.encode(texts, titles)
        logits = self._onnx_logits(ids) if self.onnx_session is not None else self._torch_logits(ids)
        return scores_from_logits(logits, self.multi_label)

    def _batches(self, ids: list[list[int]]) -> Any:
        """(rows, input_ids, attention_mask) batches of similar length, longest first."""
        order = np.argsort([-len(row) for row in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            input_ids, mask = pad_batch([ids[r] for r in rows], self.tokenizer.pad_token_id or 0)
            yield rows, input_ids, mask

    def _torch_logits(self, ids: list[list[int]]) -> np.ndarray:
        device = next(self.model.parameters()).device
        logits = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for rows, input_ids, mask in self._batches(ids):
                out = self.model(input_ids=torch.from_numpy(input_ids).to(device), attention_mask=torch.from_numpy(mask).to(device))
                logits[rows] = out.logits.float().cpu().numpy()
        return logits

    def _onnx_logits(self, ids: list[list[int]]) -> np.ndarray:
        """ONNX Runtime scoring of the same token ids (int8 when the artefact carries it)."""
        from .onnx_export import batched_logits

        return batched_logits(self, self.onnx_session, ids)

    def save_model_files(self, directory: Path) -> dict:
        target = directory / MODEL_DIR
        self.model.save_pretrained(str(target), safe_serialization=True)
        self.tokenizer.save_pretrained(str(target))
        onnx = None
        if self.export_onnx:  # into the staging directory, so artifact.save checksums the ONNX files too
            from .onnx_export import ONNX_DIR, export_onnx

            onnx = export_onnx(self, directory / ONNX_DIR)
        return {"directory": MODEL_DIR, "source": self.source, "source_kind": self.source_kind,
                "architecture": type(self.model).__name__, "parameters": int(sum(p.numel() for p in self.model.parameters())),
                "max_length": self.max_length, "truncation": self.truncation, "head_fraction": self.head_fraction,
                "normalizer_preset": self.normalizer_preset, "onnx": onnx}

    @classmethod
    def load_model_files(cls, directory: Path, manifest: dict) -> "TransformerClassifier":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        entries = manifest.get("model", {})
        model_dir = directory / entries.get("directory", MODEL_DIR)
        try:
            normalizer = ArabicNormalizer(**manifest.get("normalizer", {}))
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)
        except (OSError, ValueError, TypeError) as exc:
            raise ArtifactError(f"{directory}: cannot load the transformer ({type(exc).__name__}: {exc}); "
                                "retrain or restore the artefact") from None
        classifier = cls(model, tokenizer, normalizer, source=entries.get("source", ""), source_kind=entries.get("source_kind", ""),
                   normalizer_preset=entries.get("normalizer_preset", "default"), max_length=int(entries["max_length"]),
                   truncation=entries.get("truncation", "head_tail"), head_fraction=float(entries.get("head_fraction", 0.25)),
                   labels=manifest["labels"], multi_label=manifest["multi_label"], thresholds=manifest.get("thresholds"),
                   low_confidence=manifest.get("low_confidence", 0.5))
        from .onnx_export import attach_onnx

        attach_onnx(classifier, directory, entries)  # when the manifest lists int8 ONNX and ARABIC_NEWS_ONNX != "0"
        return classifier

    def describe(self) -> dict:
        return {**super().describe(), "normalizer": self.normalizer.get_params(), "normalizer_preset": self.normalizer_preset}


def scores_from_logits(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded (input_ids, attention_mask) int64 arrays."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return ids, mask


class Collator:
    """Pads encoded articles into a batch; labels are class ids, or float indicator rows when multi-label."""

    def __init__(self, pad_id: int, multi_label: bool) -> None:
        self.pad_id, self.multi_label = pad_id, multi_label

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        ids, mask = pad_batch([r["input_ids"] for r in rows], self.pad_id)
        labels = torch.tensor([r["labels"] for r in rows], dtype=torch.float32 if self.multi_label else torch.long)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask), "labels": labels}


def class_weights(data: LabelledData) -> torch.Tensor:
    """Single-label: n / (labels * count) per class (sklearn's 'balanced'). Multi-label: BCE pos_weight
    negatives / positives per label, clipped to [0.1, 10]."""
    k = len(data.label_names)
    if data.multi_label:
        positives = data.train.indicator(data.label_names).sum(axis=0).astype(float)
        weights = np.clip((len(data.train) - positives) / np.maximum(positives, 1.0), 0.1, 10.0)
    else:
        counts = np.bincount(data.train.primary_ids(data.label_names), minlength=k).astype(float)
        weights = len(data.train) / (k * np.maximum(counts, 1.0))
    return torch.tensor(weights, dtype=torch.float32)


def _weighted_trainer_class() -> type:
    from transformers import Trainer

    class WeightedLossTrainer(Trainer):
        """Cross-entropy (or BCE for multi-label) with per-class weights; a per-batch mean, so the Trainer
        divides it for gradient accumulation."""

        loss_is_scaled_for_ga = False

        def __init__(self, *args: Any, loss_weights: torch.Tensor | None = None, multi_label: bool = False, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.loss_weights, self.multi_label = loss_weights, multi_label

        def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs["logits"].float()
            weights = self.loss_weights.to(logits.device) if self.loss_weights is not None else None
            if self.multi_label:
                loss = F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weights)
            else:
                loss = F.cross_entropy(logits, labels, weight=weights)
            return (loss, outputs) if return_outputs else loss

    return WeightedLossTrainer


def load_checkpoint(source: str, data: LabelledData, max_length: int) -> tuple[Any, Any]:
    """Tokenizer and classification model from a hub id (needs network) or a local directory."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = data.label_names
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
            problem_type="multi_label_classification" if data.multi_label else "single_label_classification",
            ignore_mismatched_sizes=True, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        hint = "" if Path(source).is_dir() else ("; a hub id needs network access (unset HF_HUB_OFFLINE) or a copy in the "
                                                 "Hugging Face cache, otherwise give a local checkpoint directory")
        raise ConfigError(f"--transformer.model {source}: cannot load it ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}){hint}") from None
    if tokenizer.pad_token_id is None:
        raise ConfigError(f"--transformer.model {source}: its tokenizer has no padding token; use an encoder checkpoint")
    tokenizer.model_max_length = max_length
    return tokenizer, model


def build_compact_model(config: TransformerConfig, tokenizer: Any, data: LabelledData) -> Any:
    """A randomly initialised BERT classifier sized by the config (intermediate size 4 x hidden)."""
    from transformers import BertConfig, BertForSequenceClassification

    if config.hidden % config.heads:
        raise ConfigError(f"--transformer.hidden {config.hidden} is not divisible by --transformer.heads {config.heads}")
    labels = data.label_names
    bert = BertConfig(vocab_size=len(tokenizer), hidden_size=config.hidden, num_hidden_layers=config.layers,
                      num_attention_heads=config.heads, intermediate_size=4 * config.hidden,
                      max_position_embeddings=max(512, config.max_length), pad_token_id=tokenizer.pad_token_id,
                      num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                      problem_type="multi_label_classification" if data.multi_label else "single_label_classification")
    return BertForSequenceClassification(bert)


def _default_work_dir() -> Path:
    # Every DDP rank must agree on the checkpoint directory: key it on the rendezvous port torchrun shares.
    key = os.environ.get("MASTER_PORT") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else str(os.getpid())
    return Path(tempfile.gettempdir()) / f"transformer-work-{key}"


def train_transformer(data: LabelledData, config: TransformerConfig, seed: int, low_confidence: float = 0.5,
                      work_dir: str | Path | None = None) -> tuple[TransformerClassifier, dict]:
    """Fine-tune on ``data.train``, keep the best validation macro-F1 state; returns (classifier, training log)."""
    from transformers import AutoTokenizer, EarlyStoppingCallback, TrainingArguments, set_seed

    if config.truncation not in STRATEGIES:
        raise ConfigError(f"--transformer.truncation {config.truncation!r}: expected one of {', '.join(STRATEGIES)}")
    started = time.perf_counter()
    threads = configure_threads(config.threads)
    set_seed(seed)
    work = Path(work_dir) if work_dir else _default_work_dir()
    compact = not config.model
    source = config.model or "compact"
    try:
        preset, normalizer = resolve_normalizer(config.normalizer_preset, config.model)
    except ValueError as exc:
        raise ConfigError(f"--transformer.normalizer-preset: {exc}") from None
    if not 0.0 <= config.head_fraction <= 1.0:
        raise ConfigError(f"--transformer.head-fraction {config.head_fraction}: expected a share between 0 and 1")
    if not 0.0 <= config.warmup_ratio < 1.0:
        raise ConfigError(f"--transformer.warmup-ratio {config.warmup_ratio}: expected a share in [0, 1)")
    if is_main_process():
        shutil.rmtree(work / "checkpoints", ignore_errors=True)  # leftovers of an interrupted run
    if not compact:  # first, so a wrong id or a missing network fails before any other work
        tokenizer, model = load_checkpoint(config.model, data, config.max_length)
    train_inputs = normalizer.transform(compose_inputs(data.train.texts, data.train.titles))
    valid_inputs = normalizer.transform(compose_inputs(data.validation.texts, data.validation.titles))

    steps_per_epoch = math.ceil(len(data.train) / (config.batch_size * int(os.environ.get("WORLD_SIZE", "1"))))
    optimizer_steps_per_epoch = max(1, steps_per_epoch // max(1, config.gradient_accumulation_steps))
    eval_steps = max(1, optimizer_steps_per_epoch // max(1, config.evals_per_epoch))
    args = TrainingArguments(
        output_dir=str(work / "checkpoints"), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(32, config.batch_size), gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.compact_epochs if compact else config.epochs, max_steps=config.max_steps,
        learning_rate=config.compact_learning_rate if compact else config.learning_rate, weight_decay=config.weight_decay,
        warmup_steps=float(config.warmup_ratio), lr_scheduler_type="linear", eval_strategy="steps", eval_steps=eval_steps,
        save_strategy="best", save_total_limit=1, save_only_model=True, load_best_model_at_end=True,
        metric_for_best_model="macro_f1", greater_is_better=True, logging_steps=max(1, min(50, eval_steps // 2)),
        report_to="none", seed=seed, data_seed=seed, dataloader_num_workers=0, ddp_find_unused_parameters=False,
        **device_arguments())
    compact_info: dict[str, Any] = {}
    if compact:
        tokenizer_dir = work / "compact-tokenizer"
        with args.main_process_first(desc="compact tokenizer"):  # rank 0 builds it, the others then read it
            if is_main_process():
                tokenizer = build_tokenizer(train_inputs, config.vocab_size, model_max_length=config.max_length)
                tokenizer.save_pretrained(str(tokenizer_dir))
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        tokenizer.model_max_length = config.max_length
        set_seed(seed)
        model = build_compact_model(config, tokenizer, data)
        compact_info = {"vocab_size": len(tokenizer), "layers": config.layers, "hidden": config.hidden, "heads": config.heads,
                        "tokenizer_built_from": f"{len(train_inputs)} normalised training articles"}
    affixes = special_affixes(tokenizer)
    train_ids = encode_articles(tokenizer, train_inputs, config.max_length, config.truncation, config.head_fraction, affixes)
    valid_ids = encode_articles(tokenizer, valid_inputs, config.max_length, config.truncation, config.head_fraction, affixes)
    labels = data.label_names
    train_targets = data.train.indicator(labels).astype(float).tolist() if data.multi_label else data.train.primary_ids(labels).tolist()
    valid_targets = data.validation.indicator(labels).astype(float).tolist() if data.multi_label else data.validation.primary_ids(labels).tolist()
    valid_order = np.argsort([-len(ids) for ids in valid_ids], kind="stable")  # less padding while evaluating
    valid_primary = data.validation.primary_ids(labels)[valid_order]
    train_set = [{"input_ids": ids, "labels": y} for ids, y in zip(train_ids, train_targets)]
    valid_set = [{"input_ids": valid_ids[i], "labels": valid_targets[i]} for i in valid_order]

    def compute_metrics(prediction: Any) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted = np.asarray(logits).argmax(axis=1)
        if len(predicted) != len(valid_primary):
            raise RuntimeError(f"evaluation returned {len(predicted)} predictions for {len(valid_primary)} articles")
        return {"macro_f1": float(f1_score(valid_primary, predicted, average="macro", labels=range(len(labels)), zero_division=0)),
                "accuracy": float(accuracy_score(valid_primary, predicted))}

    budget = time_budget_callback(config.time_budget_s)
    patience = config.compact_patience if compact else config.early_stopping_patience
    callbacks = [budget] + ([EarlyStoppingCallback(early_stopping_patience=patience)] if patience > 0 else [])
    trainer = _weighted_trainer_class()(
        model=model, args=args, train_dataset=train_set, eval_dataset=valid_set, data_collator=Collator(tokenizer.pad_token_id, data.multi_label),
        processing_class=tokenizer, compute_metrics=compute_metrics, callbacks=callbacks,
        loss_weights=class_weights(data) if config.class_weighted_loss else None, multi_label=data.multi_label)
    logger.info("fine-tuning %s (%s normaliser) on %d articles: %d steps/epoch, evaluating every %d, %d thread(s), %d process(es)",
                source, preset, len(train_set), optimizer_steps_per_epoch, eval_steps, threads, args.world_size)
    output = trainer.train()
    state = trainer.state
    trainer.accelerator.wait_for_everyone()
    if is_main_process():
        shutil.rmtree(work / "checkpoints", ignore_errors=True)
        shutil.rmtree(work / "compact-tokenizer", ignore_errors=True)
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()

    model = trainer.model
    classifier = TransformerClassifier(
        model, tokenizer, normalizer, source=source, source_kind="compact" if compact else ("local" if Path(source).is_dir() else "hub"),
        normalizer_preset=preset, max_length=config.max_length, truncation=config.truncation, head_fraction=config.head_fraction,
        batch_size=config.predict_batch_size, labels=labels, multi_label=data.multi_label, low_confidence=low_confidence)
    classifier.export_onnx = config.export_onnx
    if data.multi_label:
        scores = classifier.predict_scores(data.validation.texts, data.validation.titles)
        classifier.thresholds = np.asarray(tune_thresholds(scores, data.validation.indicator(labels)), dtype=float)

    evaluations = [{"step": e["step"], "epoch": round(e.get("epoch", 0), 3), "macro_f1": round(e["eval_macro_f1"], 4)}
                   for e in state.log_history if "eval_macro_f1" in e]
    losses = [{"step": e["step"], "loss": round(e["loss"], 4)} for e in state.log_history if "loss" in e]
    stopped = ("time_budget" if budget.triggered else "max_steps" if config.max_steps > 0 and state.global_step >= config.max_steps
               else "epochs" if state.global_step >= state.max_steps else "early_stopping")
    samples = state.global_step * config.batch_size * config.gradient_accumulation_steps * args.world_size
    log = {"source": source, "normalizer_preset": preset, "compact": compact_info or None, "threads": threads,
           "processes": args.world_size, "device": str(args.device), "mixed_precision": next(iter(mixed_precision()), None),
           "steps": state.global_step, "epochs": round(float(state.epoch or 0), 3), "stopped_by": stopped,
           "best_step": state.best_global_step, "best_validation_macro_f1": state.best_metric,
           "train_seconds": round(output.metrics.get("train_runtime", 0.0), 2),
           "train_samples_per_second": round(samples / max(output.metrics.get("train_runtime", 1e-9), 1e-9), 2),
           "train_tokens_truncated": sum(len(ids) >= config.max_length for ids in train_ids),
           "evaluations": evaluations, "losses": losses, "total_seconds": round(time.perf_counter() - started, 2)}
    logger.info("fine-tuned %s: %d steps (%s), best validation macro-F1 %.4f at step %s", source, state.global_step, stopped,
                state.best_metric or float("nan"), state.best_global_step)
    return classifier, log
