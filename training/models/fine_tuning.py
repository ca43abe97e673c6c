"""How a checkpoint is fine-tuned: settings chosen for the checkpoint, plateau-aware early stopping, one loss.

* ``plan_fine_tuning`` picks learning rate, epochs and early-stopping patience: an explicit setting wins, then
  the checkpoint's ``fine_tuning.json`` (written by ``pretrain``), then a rule on the model's hidden size. BERT-base
  defaults (5e-5, patience 2) leave a compact encoder on its starting plateau: a 2x64 encoder fine-tuned with them
  predicted one rare class (validation macro-F1 0.043) and early stopping ended it after 1.5 epochs.
* ``PlateauEarlyStopping`` counts patience only once validation macro-F1 clearly exceeds predicting the majority
  class or guessing, or once a minimum share of the epochs has run, so a slow start is not mistaken for convergence.
* ``soft_target_loss`` is the Trainer's ``compute_loss_func``: every row's label is a target distribution plus a
  row weight, so class-weighted cross-entropy on gold rows and cross-entropy to a teacher's probabilities on
  unlabelled rows are one weighted mean (with one-hot targets it equals ``F.cross_entropy(weight=...)``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from ..config import ConfigError, TransformerConfig

logger = logging.getLogger(__name__)

FINE_TUNING_FILE = "fine_tuning.json"
PLANNED = ("learning_rate", "epochs", "early_stopping_patience")

# (largest hidden size, learning rate, epochs, patience, why); a randomly initialised encoder uses FROM_SCRATCH.
# Small models tolerate (and need) much larger steps than BERT-base, whose published recipes use 2e-5..5e-5 for
# 2-4 epochs; a small or barely pre-trained encoder starts near chance and needs many more passes.
SIZE_RULES = (
    (256, 5e-4, 12.0, 6, "compact pre-trained encoder (hidden <= 256): large steps and many passes"),
    (512, 1e-4, 6.0, 3, "mid-size encoder (hidden <= 512)"),
    (768, 5e-5, 4.0, 2, "BERT-base size encoder (hidden <= 768): the usual BERT fine-tuning recipe"),
    (None, 3e-5, 3.0, 2, "large encoder (hidden > 768): smaller steps to stay stable"),
)
FROM_SCRATCH = (1e-3, 15.0, 6, "compact encoder from scratch: random start, large steps, many passes")


def size_rule(hidden: int) -> tuple:
    """(learning rate, epochs, patience, why) of a pre-trained encoder this wide."""
    return next(rule[1:] for rule in SIZE_RULES if rule[0] is None or hidden <= rule[0])


def hidden_size(model_config: Any) -> int:
    for name in ("hidden_size", "d_model", "dim", "n_embd"):
        if isinstance(getattr(model_config, name, None), int):
            return int(getattr(model_config, name))
    return 768


def read_fine_tuning_file(checkpoint: str | None) -> dict:
    """The checkpoint directory's ``fine_tuning.json`` (keys named like TransformerConfig fields), or {}."""
    if not checkpoint or not (Path(checkpoint) / FINE_TUNING_FILE).is_file():
        return {}
    path = Path(checkpoint) / FINE_TUNING_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON ({exc}); fix or delete it to use the automatic settings") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected an object such as {{\"learning_rate\": 5e-4}}, found {type(values).__name__}")
    if unknown := sorted(set(values) - set(PLANNED)):
        raise ConfigError(f"{path}: unknown field {unknown[0]!r}; rename or remove it (the fields are "
                          f"{', '.join(PLANNED)})")
    found = {}
    for key in PLANNED:
        if values.get(key) is not None:
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{path}: field {key!r} is {value!r}; expected a non-negative number")
            found[key] = int(value) if key == "early_stopping_patience" else float(value)
    return found


def plan_fine_tuning(config: TransformerConfig, hidden: int, from_scratch: bool) -> dict[str, dict]:
    """{setting: {"value": v, "reason": why}} for learning_rate, epochs and early_stopping_patience of a model
    with this hidden size (``from_scratch``: randomly initialised)."""
    if from_scratch:
        *values, why = FROM_SCRATCH
    else:
        *values, why = size_rule(hidden)
    auto = dict(zip(PLANNED, values))
    from_file = read_fine_tuning_file(config.model)
    plan = {}
    for key in PLANNED:
        if getattr(config, key) is not None:
            plan[key] = {"value": getattr(config, key), "reason": f"--transformer.{key.replace('_', '-')}"}
        elif key in from_file:
            plan[key] = {"value": from_file[key], "reason": f"{config.model}/{FINE_TUNING_FILE}"}
        else:
            plan[key] = {"value": auto[key], "reason": f"auto: {why} (hidden {hidden})"}
    logger.info("fine-tuning settings: %s", "; ".join(f"{k} {v['value']} ({v['reason']})" for k, v in plan.items()))
    return plan


def majority_macro_f1(class_ids: np.ndarray) -> float:
    """Validation macro-F1 of always predicting the most frequent class: F1 2p/(1+p) on it, 0 on the other classes
    of validation (``metrics.macro_f1``'s label set)."""
    if len(class_ids) == 0:
        return 0.0
    counts = np.bincount(class_ids)
    share = counts.max() / len(class_ids)
    return float(2 * share / (1 + share) / np.count_nonzero(counts))


def plateau_macro_f1(class_ids: np.ndarray) -> float:
    """The validation macro-F1 a run must clearly exceed to have left its starting plateau: twice (and 0.05 over)
    always predicting the majority class, and 0.05 over guessing uniformly at random (1 / classes). Why the last:
    an untrained model's first evaluation, spread over two classes by chance, scored 0.23 on four classes whose
    majority level is 0.11, and early stopping counted from there."""
    majority = majority_macro_f1(class_ids)
    return max(2 * majority, majority + 0.05, 1 / max(1, len(np.unique(class_ids))) + 0.05)


def plateau_early_stopping(patience: int, plateau_level: float, min_epoch: float) -> Any:
    """EarlyStoppingCallback whose patience starts counting once macro-F1 exceeds ``plateau_level`` or the
    run passes ``min_epoch``; before that, evaluations without improvement are expected, not a stop signal."""
    from transformers import EarlyStoppingCallback

    class PlateauEarlyStopping(EarlyStoppingCallback):
        def __init__(self) -> None:
            super().__init__(early_stopping_patience=patience)
            self.armed_at: float | None = None

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict, **kwargs: Any) -> Any:
            value = metrics.get("eval_macro_f1")
            if self.armed_at is None:
                if value is None or (value <= plateau_level and (state.epoch or 0.0) < min_epoch):
                    return control
                self.armed_at = float(state.epoch or 0.0)
                logger.info("early stopping armed at epoch %.2f (validation macro-F1 %.4f, plateau level %.4f)",
                            self.armed_at, value or 0.0, plateau_level)
            return super().on_evaluate(args, state, control, metrics, **kwargs)

    return PlateauEarlyStopping()


def class_weights(class_ids: np.ndarray, labels: int) -> np.ndarray:
    """sklearn's 'balanced' weights n / (classes * count) over the classes present; absent classes weigh 1."""
    weights = np.ones(labels, dtype=np.float64)
    present = np.unique(class_ids)
    if len(present):
        weights[present] = compute_class_weight("balanced", classes=present, y=class_ids)
    return weights


def positive_weights(indicator: np.ndarray) -> np.ndarray:
    """Multi-label BCE pos_weight: negatives / positives per label, clipped to [0.1, 10] (rare labels count more)."""
    positives = indicator.sum(axis=0).astype(float)
    return np.clip((len(indicator) - positives) / np.maximum(positives, 1.0), 0.1, 10.0)


def soft_target_loss(multi_label: bool, pos_weight: np.ndarray | None = None) -> Any:
    """``compute_loss_func(outputs, labels, num_items_in_batch)``: ``labels`` rows are [target distribution
    (or per-label targets when multi-label) ..., row weight]; returns the row-weighted mean loss of the batch."""
    weight_tensor = torch.tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"].float()
        targets, row_weights = labels[:, :-1].float(), labels[:, -1].float()
        if multi_label:
            pos = weight_tensor.to(logits.device) if weight_tensor is not None else None
            per_row = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos, reduction="none").mean(dim=1)
        else:
            per_row = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=1)
        return (row_weights * per_row).sum() / row_weights.sum().clamp_min(1e-12)

    return loss


def target_rows(targets: np.ndarray, row_weights: np.ndarray) -> list[list[float]]:
    """Label rows for ``soft_target_loss``: each target row with its weight appended."""
    return np.hstack([np.asarray(targets, dtype=np.float32), np.asarray(row_weights, dtype=np.float32)[:, None]]).tolist()
