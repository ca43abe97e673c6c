"""Settings of `python -m training train`, one dataclass per section, each field with its help text.

Defaults < config file (JSON/YAML) < command line; how they are read and checked is ``training/settings.py``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .data.config import (  # the data sections, part of every command's settings
    ColumnsConfig,
    DataConfig,
    LabelledColumnsConfig,
)
from .registry import DEFAULT_NAME
from .settings import ConfigError, check, config_from_args, setting
from .settings import load_config_file as _load_config_file

__all__ = ["ConfigError", "check", "config_from_args", "setting", "load_config_file", "TrainConfig", "DataConfig",
           "ColumnsConfig", "LabelledColumnsConfig", "NormalizerConfig", "BaselineConfig", "CompactEncoderConfig",
           "TransformerConfig", "SelfTrainingConfig", "EnsembleConfig"]


# BentoML's rule for a tag's name (it would lower-case capitals silently, and fail later on anything else).
MODEL_NAME_PATTERN = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"


@dataclass
class NormalizerConfig:
    """Arabic normalisation applied before the baseline's features."""

    preset: Literal["default", "arabert", "minimal"] = setting("default", "Normaliser preset: default, arabert (no letter folding) or minimal.")
    overrides: dict = setting({}, "Per-rule switches over the preset, e.g. {\"unify_ta_marbuta\": false}.")

    def validate(self) -> None:
        from .data.normalize import normalizer_for

        try:
            normalizer_for(self.preset, **self.overrides)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"--normalizer.overrides: {exc}") from None


@dataclass
class BaselineConfig:
    """The TF-IDF linear baseline and its search."""

    classifiers: list[Literal["svm", "logreg"]] = setting(
        ["svm"],
        "Linear models to try: svm (calibrated LinearSVC) and/or logreg (multinomial; ~3x slower to fit and no "
        "better in cross-validation here, see README.md). The order is the preference when scores tie.")
    c_values: list[float] = setting(
        [], "One C grid for every classifier (overrides the per-classifier grids). Empty: svm-c-values and "
        "logreg-c-values, since the two losses need C on different scales.")
    svm_c_values: list[float] = setting([0.5, 1.0, 2.0], "C values tried for svm (centred on the cross-validated best).")
    logreg_c_values: list[float] = setting([4.0, 16.0], "C values tried for logreg.")
    word_ngrams: list[int] = setting([1, 2], "Word n-gram range (min max).")
    char_ngrams: list[int] = setting([2, 4], "Character n-gram range (min max), within word boundaries.")
    min_df: list[int] = setting([2], "Minimum document frequencies to try (each one refits the features).")
    max_df: float = setting(1.0, "Drop n-grams in more than this fraction of training articles (1.0: keep all).")
    max_features: int = setting(300_000, "Cap on each TF-IDF vocabulary (word and char).")
    word_weight: float = setting(1.0, "Weight of the word TF-IDF block in the feature union (0: no word block).")
    char_weight: float = setting(1.0, "Weight of the character TF-IDF block in the feature union (0: no char block).")
    word_clusters: int = setting(
        0, "Word-cluster features (0: off): this many k-means clusters of word vectors learnt from the training and "
        "--unlabelled articles, each article's cluster 1-2-grams one more TF-IDF block. For articles from publishers "
        "absent from training; adds minutes with a large --unlabelled corpus (docs/generalisation.md).")
    cluster_weight: float = setting(0.5, "Weight of the word-cluster block in the feature union.")
    class_weight: Literal["balanced", "none"] | None = setting(
        "balanced", "Class weights for imbalance: balanced or none (logreg needs them; svm scores the same either way).")
    selection: Literal["validation", "validation+train-oof"] = setting(
        "validation+train-oof",
        "What the search maximises: validation (macro-F1 on the validation split) or validation+train-oof "
        "(macro-F1 over validation plus out-of-fold predictions of every training article: free for svm, whose "
        "calibration folds provide them, 3 extra fits per trial for logreg).")
    selection_tolerance: float = setting(
        0.003,
        "Scores within this of the best count as ties, decided by the order of --baseline.classifiers and then "
        "by the middle C of the tied ones.")
    multi_label_strategy: Literal["softmax", "ovr"] = setting(
        "softmax",
        "Multi-label data: softmax (one model of the primary topic; secondary topics are labels over their tuned "
        "thresholds) or ovr (one-vs-rest, one binary model per label).",
    )

    def validate(self) -> None:
        if not self.classifiers:
            raise ConfigError("--baseline.classifiers is empty; give svm and/or logreg")
        if not self.min_df:
            raise ConfigError("--baseline.min-df is empty; give at least one minimum document frequency")
        if self.word_weight < 0 or self.char_weight < 0:
            raise ConfigError("--baseline.word-weight and --baseline.char-weight: expected weights >= 0")
        if self.word_clusters < 0 or self.word_clusters == 1:
            raise ConfigError(f"--baseline.word-clusters {self.word_clusters}: expected 0 (off) or at least 2 clusters, "
                              "such as 1000")
        if self.word_clusters and self.cluster_weight <= 0:
            raise ConfigError(f"--baseline.cluster-weight {self.cluster_weight}: expected a weight above 0, such as 0.5")
        if self.word_weight == 0 and self.char_weight == 0:
            raise ConfigError("--baseline.word-weight and --baseline.char-weight are both 0; keep at least one block")
        for flag, ngrams in (("--baseline.word-ngrams", self.word_ngrams), ("--baseline.char-ngrams", self.char_ngrams)):
            if len(ngrams) != 2 or not 1 <= ngrams[0] <= ngrams[1]:
                raise ConfigError(f"{flag} {' '.join(map(str, ngrams))}: expected MIN MAX with 1 <= MIN <= MAX, such as 1 2")
        if min(self.min_df) < 1 or self.max_features < 1:
            raise ConfigError("--baseline.min-df and --baseline.max-features: expected counts of 1 or more")
        if not 0 < self.max_df <= 1:
            raise ConfigError(f"--baseline.max-df {self.max_df}: expected a fraction in (0, 1], 1.0 to keep every n-gram")
        for flag, grid in (("--baseline.c-values", self.c_values), ("--baseline.svm-c-values", self.svm_c_values),
                           ("--baseline.logreg-c-values", self.logreg_c_values)):
            if any(c <= 0 for c in grid):
                raise ConfigError(f"{flag} {' '.join(map(str, grid))}: C is the inverse regularisation strength and "
                                  "must be above 0, such as 0.5 1 2")
        for kind in self.classifiers:
            if not (self.c_values or {"svm": self.svm_c_values, "logreg": self.logreg_c_values}[kind]):
                raise ConfigError(f"--baseline.{kind}-c-values is empty; give at least one C (or --baseline.c-values)")


@dataclass
class CompactEncoderConfig:
    """Architecture of a compact BERT encoder (used by `train` when --transformer.model is empty, and by `pretrain`).

    Intermediate size is 4 x hidden; hidden must be divisible by heads. 2 layers x 128 hidden (~1.5M parameters,
    about 1.1M of them the 8,000-piece embeddings) fine-tunes in minutes on one CPU thread.
    """

    vocab_size: int = setting(8000, "WordPiece vocabulary size built from the training texts.")
    layers: int = setting(2, "Transformer layers.")
    hidden: int = setting(128, "Hidden size (divisible by heads).")
    heads: int = setting(2, "Attention heads.")

    def validate(self) -> None:
        # flag-neutral messages: `train` sets these as --transformer.compact.*, `pretrain` under its own prefix
        for name in ("vocab_size", "layers", "hidden", "heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"compact encoder {name.replace('_', '-')} {getattr(self, name)}: expected a positive integer")
        if self.hidden % self.heads:
            raise ConfigError(f"compact encoder hidden {self.hidden} is not divisible by heads {self.heads}; choose heads "
                              "that divide hidden (e.g. 2 or 4 for 128)")


@dataclass
class TransformerConfig:
    """Fine-tuning a transformer: a checkpoint (hub id or directory) or a compact encoder built here.

    learning_rate, epochs and early_stopping_patience default to None = chosen for the checkpoint: its
    ``fine_tuning.json`` (written by `pretrain`) when present, else a rule on the model's hidden size (see
    training/models/fine_tuning.py and docs/transformer.md). A value given here always wins.
    """

    model: str | None = setting(
        None,
        "Hub id or local checkpoint directory (e.g. aubmindlab/bert-base-arabertv02, CAMeL-Lab/bert-base-arabic-camelbert-mix, "
        "UBC-NLP/MARBERTv2). Empty: a compact encoder (--transformer.compact.*) with a tokenizer built from the "
        "training texts, randomly initialised.",
        common=True)
    normalizer_preset: Literal["auto", "default", "arabert", "minimal"] = setting(
        "auto", "auto (the checkpoint's normalizer.json, else arabert for AraBERT-style ids, else default) or a preset.")
    max_length: int = setting(256, "Tokens per article, including special tokens.")
    truncation: Literal["head_tail", "head"] = setting("head_tail", "head_tail (first and last tokens) or head.")
    head_fraction: float = setting(0.25, "Share of the token budget taken from the head with head_tail truncation.")
    epochs: float | None = setting(
        None, "Training epochs (upper bound; early stopping and budgets may end sooner). Empty: auto, from the "
        "checkpoint's fine_tuning.json or its size (compact encoders need many more passes).", common=True)
    batch_size: int = setting(16, "Per-device batch size.")
    gradient_accumulation_steps: int = setting(1, "Steps to accumulate before an optimiser step.")
    learning_rate: float | None = setting(
        None, "Peak AdamW learning rate. Empty: auto, from the checkpoint's fine_tuning.json or its size "
        "(the table in docs/transformer.md: 1e-3 for a compact encoder from scratch down to 3e-5 past BERT-base).",
        common=True)
    weight_decay: float = setting(0.01, "AdamW weight decay.")
    warmup_ratio: float = setting(0.1, "Linear warm-up share of the total steps.")
    early_stopping_patience: int | None = setting(
        None, "Evaluations without validation macro-F1 improvement before stopping (0: never stop early); counted "
        "only once validation macro-F1 has left its starting plateau. Empty: auto (fine_tuning.json, or by size: "
        "6 for hidden <= 256 down to 2 for BERT-base and larger; docs/transformer.md).", common=True)
    min_train_share: float = setting(
        0.5, "Early stopping never ends a run before this share of its epochs, nor before validation macro-F1 "
             "clearly exceeds predicting one class or guessing (a barely pre-trained encoder can take 5 epochs to start).")
    evals_per_epoch: int = setting(2, "Validation evaluations per epoch (the best one is kept).")
    max_steps: int = setting(-1, "Stop after this many optimiser steps (-1: no limit).")
    time_budget_s: float = setting(0.0, "Stop training after this many seconds (0: no limit).")
    class_weighted_loss: bool = setting(True, "Weight the loss by inverse class frequency.")
    threads: int = setting(0, "torch threads per process (0: the idle cores, i.e. cores minus the load average, "
                             "shared among local DDP processes).")
    compact: CompactEncoderConfig = setting(CompactEncoderConfig(), "Compact encoder built when --transformer.model is empty.")
    distill_articles: int = setting(
        6000, "With train --unlabelled: at most this many unlabelled articles labelled by the baseline teacher's "
              "probabilities and added to the training rows (0: no distillation).")
    distill_temperature: float = setting(
        1.0, "Softening of the teacher's probabilities (p^(1/T), renormalised) for distillation; 1: as they are.")
    distill_weight: float = setting(1.0, "Weight of an unlabelled (teacher-labelled) row's loss relative to a gold row's.")
    predict_batch_size: int = setting(8, "Articles per forward pass at prediction time (sorted by length to cut padding; "
                                        "8 was faster per article than 32 on a 2-core CPU, torch and ONNX alike).")
    export_onnx: bool = setting(False, "Also export an int8 ONNX model into the artefact for fast CPU serving.")

    def validate(self) -> None:
        for name in ("batch_size", "gradient_accumulation_steps", "evals_per_epoch", "predict_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--transformer.{name.replace('_', '-')} {getattr(self, name)}: expected 1 or more")
        if not 0.0 <= self.head_fraction <= 1.0:
            raise ConfigError(f"--transformer.head-fraction {self.head_fraction}: expected a share between 0 and 1")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"--transformer.warmup-ratio {self.warmup_ratio}: expected a share in [0, 1)")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"--transformer.learning-rate {self.learning_rate}: expected a positive number, or leave it empty for auto")
        if self.epochs is not None and not self.epochs > 0:
            raise ConfigError(f"--transformer.epochs {self.epochs}: expected a positive number, or leave it empty for auto")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise ConfigError(f"--transformer.early-stopping-patience {self.early_stopping_patience}: expected 0 (off) or more")
        if not 0.0 <= self.min_train_share <= 1.0:
            raise ConfigError(f"--transformer.min-train-share {self.min_train_share}: expected a share between 0 and 1")
        if self.distill_articles < 0:
            raise ConfigError(f"--transformer.distill-articles {self.distill_articles}: expected 0 (off) or more")
        if not self.distill_temperature > 0:
            raise ConfigError(f"--transformer.distill-temperature {self.distill_temperature}: expected a positive number")
        if self.max_length < 8:  # [CLS] and [SEP] take two; below this an article is a word or two
            raise ConfigError(f"--transformer.max-length {self.max_length}: expected at least 8 tokens (256 is the default)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"--transformer.max-steps {self.max_steps}: expected a positive number of steps, or -1 "
                              "for no limit")
        if self.time_budget_s < 0:
            raise ConfigError(f"--transformer.time-budget-s {self.time_budget_s}: expected seconds, or 0 for no limit")


@dataclass
class SelfTrainingConfig:
    """Self-training of the baseline on the --unlabelled articles (pseudo-labels from the gold-trained model); the
    gold-only model, the self-trained one or their blend is kept, whichever scores best on validation."""

    rounds: int = setting(1, "Rounds of pseudo-labelling; each round's model labels the next round's articles.")
    articles: int = setting(
        5000, "Pseudo-labelled articles wanted per round, shared among the labels in proportion to the training "
        "label counts; a label's share is then raised to --self-training.min-per-label, and only articles over "
        "--self-training.min-confidence qualify (so the total can be above or below this).")
    min_per_label: int = setting(
        1500, "Fewest pseudo-labelled articles per label (when that many qualify): rare topics need them most "
        "(measured: labels in proportion to the training counts lost 3.6 points across sources).")
    min_confidence: float = setting(
        0.9, "Only articles whose top score reaches this are pseudo-labelled (measured: 0.9 gained 2.7 points "
        "across sources where no floor gained 1.0).")
    weights: list[float] = setting(
        [1.0], "Sample weights of a pseudo-labelled article relative to a gold one; each is tried and the best "
        "student on validation is kept (0.1 to 1.0 measured the same across sources).")
    max_unlabelled: int = setting(0, "Score at most this many unlabelled articles, taken in file order (0: all).")

    def validate(self) -> None:
        if self.rounds < 1 or self.articles < 1:
            raise ConfigError("--self-training.rounds and --self-training.articles: expected 1 or more")
        if self.min_per_label < 0 or self.max_unlabelled < 0:
            raise ConfigError("--self-training.min-per-label and --self-training.max-unlabelled: expected 0 or more")
        if not 0 <= self.min_confidence <= 1:
            raise ConfigError(f"--self-training.min-confidence {self.min_confidence}: expected a score between 0 and 1")
        if not self.weights or not all(0 < w <= 1 for w in self.weights):
            raise ConfigError(f"--self-training.weights: expected weights in (0, 1], found {self.weights}")


@dataclass
class EnsembleConfig:
    """The ensemble candidate: a weighted mean of the baseline's and the transformer's probabilities."""

    weights: list[float] = setting(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        "Baseline weights tried on validation macro-F1 (the transformer gets 1 - weight); ties go to the weight "
        "nearest 0.5, then to the one favouring the faster member. 0 and 1 are the members alone, which already "
        "compete as candidates of their own.")

    def validate(self) -> None:
        if not self.weights or any(not 0.0 <= w <= 1.0 for w in self.weights):
            raise ConfigError(f"--ensemble.weights: expected one or more weights between 0 and 1, found {self.weights}")


@dataclass
class TrainConfig:
    """Settings of `python -m training train`."""

    models: list[Literal["baseline", "transformer", "ensemble"]] = setting(
        ["baseline"], "Candidates to train: baseline, transformer and/or ensemble (a weighted mean of the other two).")
    out: str = setting("models/runs/latest", "Run directory: report.json, report.md and one artefact per candidate.")
    overwrite: bool = setting(False, "Replace a non-empty run directory (otherwise a non-empty --out stops the run).")
    unlabelled: str | None = setting(
        None, "Unlabelled articles (JSONL, JSONL.gz, CSV, TSV or Parquet with the --data text/title columns) to learn "
        "from: self-training of the baseline and distillation into the transformer.")
    seed: int = setting(13, "One seed for every split, shuffle and initialisation.")
    register: bool = setting(False, "Save the winner into the BentoML model store.")
    promote: Literal["if-better", "always", "never"] = setting(
        "if-better", "With --register: serve the new version if-better (it scores at least as well as the served one "
        "on this run's test split), always, or never.")
    model_name: str = setting(DEFAULT_NAME, "BentoML model store name for the winner.")
    low_confidence: float = setting(0.5, "Top scores under this are flagged low_confidence at prediction time.")
    selection_confidence: float = setting(
        0.95, "With a held-out selection half: another candidate replaces the baseline only when it beats the "
        "baseline's macro-F1 there in at least this share of 1,000 paired bootstrap resamples (0: the higher score "
        "wins outright). A few hundred articles cannot tell a 1-2 point gap from luck (docs/training.md).")
    data: DataConfig = setting(DataConfig(), "")
    normalizer: NormalizerConfig = setting(NormalizerConfig(), "")
    baseline: BaselineConfig = setting(BaselineConfig(), "")
    transformer: TransformerConfig = setting(TransformerConfig(), "")
    ensemble: EnsembleConfig = setting(EnsembleConfig(), "")
    self_training: SelfTrainingConfig = setting(SelfTrainingConfig(), "")

    def validate(self) -> None:
        if not self.models or len(set(self.models)) != len(self.models):
            raise ConfigError(f"--models {','.join(self.models)}: expected each candidate once, a comma-separated subset "
                              "of baseline, transformer, ensemble")
        if "ensemble" in self.models and not {"baseline", "transformer"} <= set(self.models):
            raise ConfigError("--models ensemble needs baseline and transformer in --models (it combines the members "
                              "trained in the same run), e.g. --models baseline,transformer,ensemble")
        if not 0.0 <= self.selection_confidence <= 1.0:
            raise ConfigError(f"--selection-confidence {self.selection_confidence}: expected a share between 0 and 1")
        if not re.fullmatch(MODEL_NAME_PATTERN, self.model_name):
            raise ConfigError(f"--model-name {self.model_name!r}: a model store name is lowercase letters, digits, '_', "
                              "'-' and '.', starting and ending with a letter or digit, e.g. arabic-news-topics")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_config_file(path: str | Path, config: Any = None) -> Any:
    """Read a JSON or YAML file of settings over ``config`` (a default ``TrainConfig`` when None)."""
    return _load_config_file(path, TrainConfig() if config is None else config)
