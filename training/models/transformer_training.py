"""Fine-tuning a transformer classifier: any ``AutoModelForSequenceClassification`` checkpoint, or a compact encoder.

``train_transformer`` fine-tunes a hub id or local checkpoint directory (or, with no checkpoint, a small
randomly initialised BERT with a WordPiece vocabulary built from the training texts) with the Hugging Face
``Trainer``: AdamW with linear warm-up/decay, evaluation a few times per epoch, the best validation macro-F1
checkpoint kept (``save_strategy="best"``, one checkpoint on disk, deleted afterwards), plateau-aware early
stopping, a time budget, class-weighted loss, optional distillation from a teacher's probabilities over
unlabelled articles (training rows only), and bf16/fp16 on CUDA. Learning rate, epochs and patience follow the
checkpoint (fine_tuning.py). The same code runs under ``torchrun`` (DDP, gloo on CPU).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score

from ..config import ConfigError, TransformerConfig, check
from ..data.loading import compose_inputs
from ..data.splits import LabelledData
from ..encoders.tokenizer import build_tokenizer, resolve_normalizer
from ..evaluation.metrics import macro_f1, tune_thresholds
from .fine_tuning import (
    class_weights,
    hidden_size,
    plan_fine_tuning,
    plateau_early_stopping,
    plateau_macro_f1,
    positive_weights,
    soft_target_loss,
    target_rows,
)
from .hf_common import (
    check_compatible,
    configure_threads,
    device_arguments,
    is_main_process,
    local_checkpoint,
    mixed_precision,
    time_budget_callback,
    world_size,
)
from .onnx_export import export_onnx
from .transformer import TransformerClassifier
from .truncation import encode_articles, special_affixes

if TYPE_CHECKING:
    from .distillation import DistillationSet

logger = logging.getLogger(__name__)


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
    check_compatible(source, len(tokenizer), model.config.vocab_size,
                     getattr(model.config, "max_position_embeddings", None), max_length)
    tokenizer.model_max_length = max_length
    return tokenizer, model


def build_compact_model(config: TransformerConfig, tokenizer: Any, data: LabelledData) -> Any:
    """A randomly initialised BERT classifier sized by ``config.compact`` (intermediate size 4 x hidden)."""
    from transformers import BertConfig, BertForSequenceClassification

    compact, labels = config.compact, data.label_names
    compact.validate()
    bert = BertConfig(vocab_size=len(tokenizer), hidden_size=compact.hidden, num_hidden_layers=compact.layers,
                      num_attention_heads=compact.heads, intermediate_size=4 * compact.hidden,
                      max_position_embeddings=max(512, config.max_length), pad_token_id=tokenizer.pad_token_id,
                      num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                      problem_type="multi_label_classification" if data.multi_label else "single_label_classification")
    return BertForSequenceClassification(bert)


def _default_work_dir() -> Path:
    # Every DDP rank must agree on the checkpoint directory: key it on the rendezvous port torchrun shares.
    key = os.environ.get("MASTER_PORT") if world_size() > 1 else str(os.getpid())
    return Path(tempfile.gettempdir()) / f"transformer-work-{key}"


def _gold_rows(data: LabelledData, split: Any, weights: np.ndarray | None) -> list[list[float]]:
    """Loss targets of a labelled split: one-hot (or indicator) rows with their class weight appended."""
    labels = data.label_names
    if data.multi_label:
        return target_rows(split.indicator(labels), np.ones(len(split)))
    ids = split.primary_ids(labels)
    return target_rows(np.eye(len(labels))[ids], weights[ids] if weights is not None else np.ones(len(split)))


def train_transformer(data: LabelledData, config: TransformerConfig, seed: int, low_confidence: float = 0.5,
                      work_dir: str | Path | None = None,
                      distill: "DistillationSet | None" = None) -> tuple[TransformerClassifier, dict]:
    """Fine-tune on ``data.train`` (plus ``distill``'s teacher-labelled articles, training rows only), keep the
    best validation macro-F1 state; returns (classifier, training log). ``work_dir`` holds checkpoints while it
    runs and is cleared afterwards, also when it fails, so a failed run leaves nothing behind."""
    work = Path(work_dir) if work_dir else _default_work_dir()
    try:
        return _fine_tune(data, config, seed, low_confidence, work, distill)
    finally:
        if is_main_process():
            shutil.rmtree(work / "checkpoints", ignore_errors=True)
            shutil.rmtree(work / "compact-tokenizer", ignore_errors=True)
            if work.is_dir() and not any(work.iterdir()):
                work.rmdir()


def _fine_tune(data: LabelledData, config: TransformerConfig, seed: int, low_confidence: float, work: Path,
               distill: "DistillationSet | None") -> tuple[TransformerClassifier, dict]:
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    check(config)
    started = time.perf_counter()
    threads = configure_threads(config.threads)
    set_seed(seed)
    checkpoint = local_checkpoint(config.model)
    compact = not checkpoint
    source = checkpoint or "compact"
    try:
        preset, normalizer = resolve_normalizer(config.normalizer_preset, checkpoint)
    except ValueError as exc:
        raise ConfigError(f"--transformer.normalizer-preset: {exc}") from None
    if is_main_process():
        shutil.rmtree(work / "checkpoints", ignore_errors=True)  # leftovers of an interrupted run
    if not compact:  # first, so a wrong id or a missing network fails before any other work
        tokenizer, model = load_checkpoint(checkpoint, data, config.max_length)
    train_inputs = normalizer.transform(compose_inputs(data.train.texts, data.train.titles))
    valid_inputs = normalizer.transform(compose_inputs(data.validation.texts, data.validation.titles))
    distill_inputs = normalizer.transform(compose_inputs(distill.texts, distill.titles)) if distill else []
    train_rows = len(train_inputs) + len(distill_inputs)

    world = world_size()
    optimizer_steps_per_epoch = max(1, -(-train_rows // (config.batch_size * world)) // max(1, config.gradient_accumulation_steps))
    eval_steps = max(1, optimizer_steps_per_epoch // max(1, config.evals_per_epoch))
    plan = plan_fine_tuning(config, config.compact.hidden if compact else hidden_size(model.config), from_scratch=compact)
    epochs, patience = plan["epochs"]["value"], int(plan["early_stopping_patience"]["value"])
    args = TrainingArguments(
        output_dir=str(work / "checkpoints"), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(32, config.batch_size), gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=epochs, max_steps=config.max_steps, learning_rate=plan["learning_rate"]["value"],
        weight_decay=config.weight_decay, warmup_steps=float(config.warmup_ratio), lr_scheduler_type="linear",
        eval_strategy="steps", eval_steps=eval_steps, save_strategy="best", save_total_limit=1, save_only_model=True,
        load_best_model_at_end=True, metric_for_best_model="macro_f1", greater_is_better=True,
        logging_steps=max(1, min(50, eval_steps // 2)), report_to="none", seed=seed, data_seed=seed,
        dataloader_num_workers=0, ddp_find_unused_parameters=False, **device_arguments())
    compact_info: dict[str, Any] = {}
    if compact:
        tokenizer_dir = work / "compact-tokenizer"
        with args.main_process_first(desc="compact tokenizer"):  # rank 0 builds it, the others then read it
            if is_main_process():
                built = build_tokenizer(train_inputs, config.compact.vocab_size, model_max_length=config.max_length)
                built.save_pretrained(str(tokenizer_dir))
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        tokenizer.model_max_length = config.max_length
        set_seed(seed)
        model = build_compact_model(config, tokenizer, data)
        compact_info = {"vocab_size": len(tokenizer), "layers": config.compact.layers, "hidden": config.compact.hidden,
                        "heads": config.compact.heads, "tokenizer_built_from": f"{len(train_inputs)} normalised training articles"}
    affixes = special_affixes(tokenizer)

    def encode(inputs: list[str]) -> list[list[int]]:
        return encode_articles(tokenizer, inputs, config.max_length, config.truncation, config.head_fraction, affixes)

    train_ids, valid_ids, distill_ids = encode(train_inputs), encode(valid_inputs), encode(distill_inputs)
    labels = data.label_names
    primary = data.train.primary_ids(labels)
    weights = class_weights(primary, len(labels)) if config.class_weighted_loss and not data.multi_label else None
    pos_weight = positive_weights(data.train.indicator(labels)) if config.class_weighted_loss and data.multi_label else None
    train_targets = _gold_rows(data, data.train, weights)
    if distill:
        train_targets += target_rows(distill.probabilities, np.full(len(distill), config.distill_weight))
    valid_order = np.argsort([-len(ids) for ids in valid_ids], kind="stable")  # less padding while evaluating
    valid_targets = _gold_rows(data, data.validation, weights)
    valid_primary = data.validation.primary_ids(labels)[valid_order]
    train_set = [{"input_ids": ids, "labels": y} for ids, y in zip(train_ids + distill_ids, train_targets)]
    valid_set = [{"input_ids": valid_ids[i], "labels": valid_targets[i]} for i in valid_order]

    def compute_metrics(prediction: Any) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted = np.asarray(logits).argmax(axis=1)
        if len(predicted) != len(valid_primary):
            raise RuntimeError(f"evaluation returned {len(predicted)} predictions for {len(valid_primary)} articles")
        return {"macro_f1": macro_f1(valid_primary, predicted),
                "accuracy": float(accuracy_score(valid_primary, predicted))}

    budget = time_budget_callback(config.time_budget_s)
    plateau = plateau_macro_f1(valid_primary)
    stopper = plateau_early_stopping(patience, plateau, config.min_train_share * epochs) if patience > 0 else None
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=valid_set,
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                      compute_loss_func=soft_target_loss(data.multi_label, pos_weight), compute_metrics=compute_metrics,
                      callbacks=[budget] + ([stopper] if stopper else []))
    trainer.loss_is_scaled_for_ga = False  # the loss is a per-batch mean: let the Trainer divide it for accumulation
    logger.info("fine-tuning %s (%s normaliser) on %d articles (%d teacher-labelled): %d steps/epoch, evaluating every %d, "
                "%d thread(s), %d process(es)", source, preset, len(train_set), len(distill_ids), optimizer_steps_per_epoch,
                eval_steps, threads, args.world_size)
    output = trainer.train()
    state = trainer.state
    trainer.accelerator.wait_for_everyone()

    classifier = TransformerClassifier(
        trainer.model, tokenizer, normalizer, source=source,
        source_kind="compact" if compact else ("local" if Path(source).is_dir() else "hub"), normalizer_preset=preset,
        max_length=config.max_length, truncation=config.truncation, head_fraction=config.head_fraction,
        batch_size=config.predict_batch_size, labels=labels, multi_label=data.multi_label, low_confidence=low_confidence)
    classifier.onnx_exporter = export_onnx if config.export_onnx else None
    if data.multi_label:
        scores = classifier.predict_scores(data.validation.texts, data.validation.titles)
        classifier.thresholds = np.asarray(tune_thresholds(scores, data.validation.indicator(labels)), dtype=float)

    evaluations = [{"step": e["step"], "epoch": round(e.get("epoch", 0), 3), "macro_f1": round(e["eval_macro_f1"], 4)}
                   for e in state.log_history if "eval_macro_f1" in e]
    losses = [{"step": e["step"], "loss": round(e["loss"], 4)} for e in state.log_history if "loss" in e]
    left_plateau = state.best_metric is not None and state.best_metric > plateau
    if not left_plateau:
        logger.warning("the fine-tuned model did not learn the topics: its best validation macro-F1 %.4f is not above "
                       "%.4f, what predicting one topic or guessing scores; give it more epochs (--transformer.epochs), "
                       "a pre-trained checkpoint (--transformer.model) or more labelled articles",
                       state.best_metric or 0.0, plateau)
    stopped = ("time_budget" if budget.triggered else "max_steps" if config.max_steps > 0 and state.global_step >= config.max_steps
               else "epochs" if state.global_step >= state.max_steps else "early_stopping")
    samples = state.global_step * config.batch_size * config.gradient_accumulation_steps * args.world_size
    log = {"source": source, "normalizer_preset": preset, "compact": compact_info or None, "threads": threads,
           "processes": args.world_size, "device": str(args.device), "mixed_precision": next(iter(mixed_precision()), None),
           "fine_tuning": plan, "early_stopping": {"plateau_macro_f1": round(plateau, 4), "min_epoch": config.min_train_share * epochs,
                                                   "armed_at_epoch": getattr(stopper, "armed_at", None),
                                                   "left_plateau": left_plateau},
           "distillation": distill.describe() if distill else None,
           "steps": state.global_step, "epochs": round(float(state.epoch or 0), 3), "stopped_by": stopped,
           "best_step": state.best_global_step, "best_validation_macro_f1": state.best_metric,
           "train_seconds": round(output.metrics.get("train_runtime", 0.0), 2),
           "train_samples_per_second": round(samples / max(output.metrics.get("train_runtime", 1e-9), 1e-9), 2),
           "train_tokens_truncated": sum(len(ids) >= config.max_length for ids in train_ids),
           "evaluations": evaluations, "losses": losses, "total_seconds": round(time.perf_counter() - started, 2)}
    logger.info("fine-tuned %s: %d steps (%s), best validation macro-F1 %.4f at step %s", source, state.global_step, stopped,
                state.best_metric or float("nan"), state.best_global_step)
    return classifier, log
