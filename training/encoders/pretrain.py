"""Pre-training of a compact Arabic encoder on unlabelled text: ``python -m training pretrain``.

Objectives (``--objective``): ``mlm``, masked-language modelling with the "cramming" choices (Geiping &
Goldstein, 2022: loss on masked positions only, lr 1e-3 on a one-cycle schedule, i.e. linear warm-up then linear
decay to zero, short blocks, dropout as --dropout), or ``electra``, replaced-token detection (see electra.py).

The corpus goes through ``datasets``: ``load_dataset`` reads it, ``Dataset.map`` normalises it (the tokenizer's
preset), tokenises it and packs it into ``[CLS] tokens... [SEP]`` blocks of ``--seq-len`` (documents separated by
[SEP], like run_mlm.py's group_texts), each step cached by datasets so a resumed or repeated run skips it.
``DataCollatorForLanguageModeling`` masks the blocks. Checkpoints go to ``OUT/checkpoints/`` (``--resume``
continues from the last one); the loss curve is written to ``OUT/loss_curve.json`` and ``.csv`` as training runs.
The finished encoder (the ELECTRA discriminator, or the MLM model) and tokenizer are saved into OUT itself, with
``fine_tuning.json`` (learning_rate, epochs, early_stopping_patience) that ``train`` reads when fine-tuning it.

No torch/transformers import at module level (the CLI imports this module at start-up).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..artifact import refuse_non_empty, write_json_atomic, write_text_atomic
from ..config import CompactEncoderConfig, ConfigError, setting
from ..data.loading import DataError
from ..models.hf_common import (
    configure_threads,
    device_arguments,
    is_main_process,
    local_checkpoint,
    max_across_ranks,
    time_budget_callback,
)
from . import electra
from .corpus import CorpusColumns, fingerprint, normalised_corpus
from .tokenizer import load_pretraining_tokenizer, resolve_normalizer

logger = logging.getLogger(__name__)

WORD_START, CONTINUATION, SPECIAL = 1, 0, 2
PLAN_FILE = "pretrain_plan.json"


@dataclass
class PretrainConfig:
    """Settings of `python -m training pretrain`."""

    corpus: str = setting("", "Unlabelled articles: JSON Lines (.jsonl, .jsonl.gz), CSV or Parquet with a text column and "
                          "optionally a title column (see --data.*); required. ../shared/holdout is refused.", common=True)
    out: str = setting("", "Output checkpoint directory (fine-tune it with --transformer.model OUT); required.", common=True)
    tokenizer: str | None = setting(None, "Tokenizer directory (from build-tokenizer); default: the --init checkpoint's.",
                                    common=True)
    objective: Literal["mlm", "electra"] = setting(
        "mlm", "mlm (masked-language modelling) or electra (replaced-token detection; the discriminator is saved).",
        common=True)
    init: str | None = setting(None, "Hub id or checkpoint to continue pre-training with mlm (domain adaptation); "
                               "--encoder.* is then ignored.")
    encoder: CompactEncoderConfig = setting(CompactEncoderConfig(), "Shape of a new encoder (vocabulary: the tokenizer's).")
    seq_len: int = setting(128, "Tokens per packed block (short blocks: more steps per CPU-minute).")
    batch_size: int = setting(32, "Blocks per device and step.")
    gradient_accumulation_steps: int = setting(1, "Steps to accumulate before an optimiser step.")
    learning_rate: float = setting(1e-3, "Peak AdamW learning rate of the one-cycle schedule.")
    weight_decay: float = setting(0.01, "AdamW weight decay.")
    warmup_ratio: float = setting(0.06, "Linear warm-up share of the steps (then linear decay to zero).")
    mlm_probability: float = setting(0.15, "Share of tokens masked (electra: replaced by the generator).")
    dropout: float = setting(0.1, "Hidden and attention dropout while pre-training (the saved encoder fine-tunes with "
                             "0.1 either way).")
    whole_word_mask: bool = setting(False, "Mask every piece of a chosen word together (needs a fast tokenizer).")
    generator_size: float = setting(0.25, "electra: generator width as a share of the encoder's hidden size.")
    discriminator_weight: float = setting(50.0, "electra: weight of the replaced-token-detection loss (ELECTRA's 50).")
    max_steps: int = setting(0, "Optimiser steps (0: from --time-budget-s, else one epoch).", common=True)
    time_budget_s: float = setting(0.0, "Stop after this many seconds of training in this run; without --max-steps "
                                   "the schedule is sized to fit it.", common=True)
    max_docs: int | None = setting(None, "Use only the first N corpus rows.", common=True)
    eval_blocks: int = setting(128, "Blocks held out for the validation loss.")
    save_steps: int = setting(0, "Checkpoint (and evaluate) every N steps (0: ~10 per run).")
    normalizer_preset: Literal["auto", "default", "arabert", "minimal"] = setting(
        "auto", "auto (the tokenizer's normalizer.json, else by id) or a preset.")
    resume: bool = setting(False, "Continue from the last checkpoint in OUT/checkpoints.", common=True)
    overwrite: bool = setting(False, "Start afresh in a non-empty OUT: its checkpoints are deleted and its encoder "
                              "replaced when the new one is saved; without it, or --resume, such an OUT is refused.",
                              common=True)
    seed: int = setting(13, "One seed for initialisation, masking, sampling and order.")
    threads: int = setting(0, "torch threads (0: the idle cores).")
    cache_dir: str | None = setting(None, "datasets cache for the corpus, its normalised text and packed blocks "
                                    "(default: datasets' own, ~/.cache/huggingface/datasets).")
    fine_tuning: electra.FineTuningAdvice = setting(electra.FineTuningAdvice(), "Recommended fine-tuning settings.")
    data: CorpusColumns = setting(CorpusColumns(), "Corpus columns.")

    def validate(self) -> None:
        if not self.corpus or not self.out:
            raise ConfigError("pretrain: --corpus FILE and --out DIR are required")
        if not self.tokenizer and not self.init:
            raise ConfigError("pretrain: give --tokenizer DIR (build one with `python -m training build-tokenizer`) "
                              "or --init CHECKPOINT")
        if self.resume and self.overwrite:
            raise ConfigError("pretrain: --resume continues OUT's run and --overwrite replaces it; give one of them")
        if self.init and self.objective != "mlm":
            raise ConfigError(f"--init {self.init}: continued pre-training uses --objective mlm (an existing checkpoint "
                              "has no ELECTRA generator); drop --init or use --objective mlm")
        for name, low, high in (("mlm_probability", 0.0, 1.0), ("dropout", -1e-9, 1.0), ("generator_size", 0.0, 1.0)):
            if not low < getattr(self, name) < high:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected a share between 0 and 1")
        if self.seq_len < 8 or self.batch_size < 1:
            raise ConfigError(f"--seq-len {self.seq_len} / --batch-size {self.batch_size}: expected >= 8 and >= 1")
        for name in ("max_steps", "save_steps", "time_budget_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected 0 (see --help) or more")
        if self.max_docs is not None and self.max_docs < 1:
            raise ConfigError(f"--max-docs {self.max_docs}: expected a positive number of articles, or leave it out")


# ------------------------------------------------------------------------------------------ packing

def tokenize_batch(batch: dict, tokenizer: Any) -> dict:
    """``input_ids`` and word-start ``flags`` (from the fast tokenizer's word ids) of each normalised text."""
    encoded = tokenizer(batch["text"], add_special_tokens=False, verbose=False)
    flags = []
    for i, ids in enumerate(encoded["input_ids"]):
        words = encoded.word_ids(i) if tokenizer.is_fast else list(range(len(ids)))
        flags.append([WORD_START if j == 0 or words[j] != words[j - 1] else CONTINUATION for j in range(len(ids))])
    return {"input_ids": encoded["input_ids"], "flags": flags}


def group_blocks(batch: dict, seq_len: int, cls_id: int, sep_id: int) -> dict:
    """run_mlm.py's group_texts for BERT blocks: concatenate the batch's documents, each followed by [SEP], and cut
    ``[CLS] body [SEP]`` blocks of exactly ``seq_len`` tokens; the batch's last partial block is dropped. Flags mark
    word starts (1), continuations (0) and special tokens (2)."""
    body = seq_len - 2
    ids = [token for doc in batch["input_ids"] for token in (*doc, sep_id)]
    flags = [flag for doc in batch["flags"] for flag in (*doc, SPECIAL)]
    whole = len(ids) // body * body
    return {"input_ids": [[cls_id, *ids[i:i + body], sep_id] for i in range(0, whole, body)],
            "flags": [[SPECIAL, *flags[i:i + body], SPECIAL] for i in range(0, whole, body)]}


def packed_blocks(config: PretrainConfig, tokenizer: Any, normalizer: Any) -> Any:
    """The corpus as packed blocks (a ``datasets.Dataset`` of input_ids/flags, numpy-formatted), every step cached
    by datasets under a fingerprint of the corpus, normaliser, tokenizer vocabulary and block length."""
    from datasets import Features, Sequence, Value

    texts = normalised_corpus(config.corpus, normalizer, config.max_docs, config.cache_dir, columns=config.data)
    vocabulary = fingerprint(sorted(tokenizer.get_vocab().items()), tokenizer.is_fast)
    tokens = texts.map(tokenize_batch, batched=True, remove_columns=["text"], fn_kwargs={"tokenizer": tokenizer},
                       features=Features({"input_ids": Sequence(Value("int32")), "flags": Sequence(Value("int8"))}),
                       new_fingerprint=fingerprint("tokenize", texts._fingerprint, vocabulary), desc="tokenising")
    blocks = tokens.map(group_blocks, batched=True, fn_kwargs={"seq_len": config.seq_len, "cls_id": tokenizer.cls_token_id,
                                                                "sep_id": tokenizer.sep_token_id},
                        new_fingerprint=fingerprint("blocks", tokens._fingerprint, config.seq_len), desc="packing")
    if len(blocks) < 2:
        raise DataError(f"{config.corpus}: only {len(blocks)} block(s) of {config.seq_len} tokens; give more text or a "
                        "shorter --seq-len")
    return blocks.with_format("numpy")


def word_offsets(flags: np.ndarray) -> np.ndarray:
    """Synthetic character offsets from word-start flags, as DataCollatorForLanguageModeling's whole-word
    masking expects: a continuation token starts where the previous one ended; a word start leaves a gap;
    special tokens are (0, 0)."""
    starts_word = (flags == WORD_START).astype(np.int64)
    position = np.cumsum(starts_word + 1, axis=-1)  # +1 per token, +1 more (a gap) before each word
    offsets = np.stack([position - 1, position], axis=-1)
    offsets[flags == SPECIAL] = 0
    return offsets


class BlockCollator:
    """Stacks equal-length blocks and masks them with ``DataCollatorForLanguageModeling.torch_mask_tokens``
    (80/10/10 mask/random/keep; whole words: every piece of a chosen word, all [MASK]), passing the special-token
    mask and, for whole-word masking, word offsets derived from the flags."""

    def __init__(self, tokenizer: Any, mlm_probability: float, whole_word: bool) -> None:
        from transformers import DataCollatorForLanguageModeling

        # whole-word masking replaces every chosen piece with [MASK] (the library's only mode for it)
        replace = {"mask_replace_prob": 1.0, "random_replace_prob": 0.0} if whole_word else {}
        self.masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, whole_word_mask=whole_word,
                                                      **replace)
        self.whole_word = whole_word

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        ids = torch.from_numpy(np.stack([r["input_ids"] for r in rows]).astype(np.int64))
        flags = np.stack([r["flags"] for r in rows])
        special = torch.from_numpy(flags == SPECIAL)
        inputs, labels = self.masker.torch_mask_tokens(ids, special_tokens_mask=special,
                                                       offset_mapping=word_offsets(flags) if self.whole_word else None)
        return {"input_ids": inputs, "attention_mask": torch.ones_like(inputs), "labels": labels}


# -------------------------------------------------------------------------------------- training

def _loss_curve_callback(out: Path) -> Any:
    from transformers import TrainerCallback

    class LossCurve(TrainerCallback):
        """Rewrites OUT/loss_curve.json and .csv at every log (including history restored on --resume)."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            points = [{"step": e.get("step"), "epoch": e.get("epoch"), "loss": e.get("loss"), "eval_loss": e.get("eval_loss"),
                       "learning_rate": e.get("learning_rate")} for e in state.log_history if "loss" in e or "eval_loss" in e]
            write_json_atomic(out / "loss_curve.json", points)
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=["step", "epoch", "loss", "eval_loss", "learning_rate"])
            writer.writeheader()
            writer.writerows(points)
            write_text_atomic(out / "loss_curve.csv", text.getvalue())

    return LossCurve()


def _seconds_per_step(model: Any, collator: Any, dataset: Any, batch_size: int, accumulation: int) -> float:
    """Measured forward+backward time of one optimiser step (two timed batches after a warm-up one)."""
    batch = collator([dataset[i % len(dataset)] for i in range(batch_size)])
    model.train()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        model(**batch).loss.backward()
        times.append(time.perf_counter() - started)
    model.zero_grad(set_to_none=True)
    return min(times[1:]) * accumulation * 1.1  # optimiser step and logging overhead


def _plan(config: PretrainConfig, plan_file: Path, last: str | None, per_epoch: int, measure: Any) -> dict:
    """Steps, warm-up and checkpoint interval of this run: ``--max-steps``; else sized to ``--time-budget-s`` from the
    measured step time (the decay then follows the budget, see TimeHorizon); else one epoch. A resumed run keeps
    the plan it started with."""
    if last is not None and plan_file.is_file():
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
        if plan.get("objective", config.objective) != config.objective:  # another model: its checkpoint cannot load
            raise DataError(f"--resume: {plan_file.parent} was pre-trained with --objective {plan['objective']}; resume "
                            f"it with that objective, or start afresh with --overwrite")
        if config.max_steps > 0:
            done = int(Path(last).name.rsplit("-", 1)[-1])  # Trainer names checkpoints checkpoint-STEP
            if config.max_steps <= done:
                raise DataError(f"--resume: the checkpoint {last} is at step {done}, already at or past --max-steps "
                                f"{config.max_steps}; give more steps, or leave --resume out to start afresh")
            plan.update(estimate=config.max_steps, max_steps=config.max_steps, budgeted=False)
            if is_main_process():
                write_json_atomic(plan_file, plan)
        elif plan.get("budgeted") and config.time_budget_s <= 0:
            raise DataError("--resume: this run was planned by time; give --time-budget-s SECONDS for the rest, or --max-steps N")
        return plan
    budgeted = config.max_steps <= 0 and config.time_budget_s > 0
    seconds = max_across_ranks(measure()) if budgeted else 0.0  # every rank must plan the same schedule
    estimate = config.max_steps if config.max_steps > 0 else max(10, int(config.time_budget_s / seconds)) if budgeted else per_epoch
    if budgeted:
        logger.info("about %.2f s per step: %d steps fit the %.0f s budget", seconds, estimate, config.time_budget_s)
    plan = {"objective": config.objective, "estimate": estimate, "max_steps": 4 * estimate if budgeted else estimate, "budgeted": budgeted,
            "seconds_per_step": seconds, "warmup_steps": int(config.warmup_ratio * estimate),
            "save_steps": config.save_steps or max(10, math.ceil(estimate / 10))}
    if is_main_process():
        write_json_atomic(plan_file, plan)
    return plan


def _time_horizon_class() -> type:
    from transformers import TrainerCallback

    class TimeHorizon(TrainerCallback):
        """Linear warm-up, then a linear decay that reaches zero when the time budget runs out: the steps that fit
        are re-estimated every step from the measured pace (the same value on every rank), so a machine that
        speeds up or slows down still ends its budget with a decayed learning rate."""

        def __init__(self, budget_s: float, plan: dict) -> None:
            self.budget, self.warmup = budget_s, plan["warmup_steps"]
            self.pace = max(plan["seconds_per_step"], 1e-6)
            self.total = plan["estimate"]
            self.started, self.first_step = time.monotonic(), 0

        def factor(self, step: int) -> float:  # LambdaLR multiplier, as transformers' linear schedule
            if step < self.warmup:
                return step / max(1, self.warmup)
            return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started, self.first_step = time.monotonic(), state.global_step
            self.total = state.global_step + max(10, int(self.budget / self.pace))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            done = state.global_step - self.first_step
            elapsed = max_across_ranks(time.monotonic() - self.started)
            if done >= 3:
                left = max(0.0, self.budget - elapsed)
                self.total = max(state.global_step + 1, state.global_step + int(left / (elapsed / done)))

    return TimeHorizon


def TimeHorizon(budget_s: float, plan: dict) -> Any:  # noqa: N802 - a class built lazily (transformers import)
    return _time_horizon_class()(budget_s, plan)


def _trainer_class(horizon: Any) -> type:
    from transformers import Trainer

    if horizon is None:
        return Trainer

    class BudgetTrainer(Trainer):
        """Trainer whose learning-rate schedule follows the time budget (TimeHorizon)."""

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            from torch.optim.lr_scheduler import LambdaLR

            if self.lr_scheduler is None:
                self.lr_scheduler = LambdaLR(optimizer or self.optimizer, horizon.factor)
            return self.lr_scheduler

    return BudgetTrainer


# --------------------------------------------------------------------------------------------- run

def run(config: PretrainConfig) -> int:
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(config.out)
    refuse_non_empty(out, config.resume or config.overwrite, "an earlier pre-training? add --resume to continue it, "
                     "--overwrite to replace it, or choose another --out")
    config = replace(config, tokenizer=local_checkpoint(config.tokenizer), init=local_checkpoint(config.init))  # ~ paths
    tokenizer_source = config.tokenizer or config.init
    tokenizer = load_pretraining_tokenizer(tokenizer_source, "--tokenizer" if config.tokenizer else "--init")
    threads = configure_threads(config.threads)
    set_seed(config.seed)
    whole_word = config.whole_word_mask and tokenizer.is_fast
    preset, normalizer = resolve_normalizer(config.normalizer_preset, tokenizer_source)

    checkpoints = out / "checkpoints"
    probe = TrainingArguments(output_dir=str(checkpoints), report_to="none", **device_arguments())  # sets up DDP
    started = time.perf_counter()
    with probe.main_process_first(desc="packing blocks"):  # the whole corpus is read before OUT is touched
        blocks = packed_blocks(config, tokenizer, normalizer)
    logger.info("%d blocks of %d tokens ready in %.0f s", len(blocks), config.seq_len, time.perf_counter() - started)
    out.mkdir(parents=True, exist_ok=True)
    last = get_last_checkpoint(str(checkpoints)) if config.resume and checkpoints.is_dir() else None
    if config.resume and last is None:
        logger.warning("--resume: no checkpoint in %s; starting from the beginning", checkpoints)
    if last is None and checkpoints.is_dir() and is_main_process():
        logger.warning("starting afresh: removing the checkpoints of an earlier run in %s", checkpoints)
        shutil.rmtree(checkpoints)
    held = min(config.eval_blocks, max(1, len(blocks) // 20))
    train_set, eval_set = blocks.select(range(len(blocks) - held)), blocks.select(range(len(blocks) - held, len(blocks)))
    collator = BlockCollator(tokenizer, config.mlm_probability, whole_word)
    model = electra.build_model(config, tokenizer)

    world = probe.world_size
    per_epoch = max(1, len(train_set) // (config.batch_size * world * config.gradient_accumulation_steps))
    plan = _plan(config, out / PLAN_FILE, last, per_epoch, lambda: _seconds_per_step(
        model, collator, train_set, config.batch_size, config.gradient_accumulation_steps))
    horizon = TimeHorizon(config.time_budget_s, plan) if plan["budgeted"] else None
    set_seed(config.seed)
    training_args = TrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_steps=plan["max_steps"],
        learning_rate=config.learning_rate, weight_decay=config.weight_decay, warmup_steps=plan["warmup_steps"],
        lr_scheduler_type="linear", logging_steps=max(1, min(50, plan["estimate"] // 50)), eval_strategy="steps",
        eval_steps=plan["save_steps"], save_strategy="steps", save_steps=plan["save_steps"], save_total_limit=2,
        prediction_loss_only=True, remove_unused_columns=False, report_to="none", seed=config.seed, dataloader_num_workers=0,
        ddp_find_unused_parameters=False, **device_arguments())
    budget = time_budget_callback(config.time_budget_s)
    callbacks = [budget, _loss_curve_callback(out)] + ([horizon] if horizon else [])
    trainer = _trainer_class(horizon)(model=model, args=training_args, train_dataset=train_set, eval_dataset=eval_set,
                                      data_collator=collator, processing_class=tokenizer, callbacks=callbacks)
    shape = f"a new {config.encoder.layers}x{config.encoder.hidden} encoder"
    logger.info("pre-training %s (%s) on %d blocks of %d tokens (%d held out): %d steps, %d thread(s), %d process(es), "
                "%s masking of %.0f%%", last or config.init or shape, config.objective, len(train_set), config.seq_len, held,
                plan["estimate"], threads, world, "whole-word" if whole_word else "token", 100 * config.mlm_probability)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last)
    evaluations = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    seconds = time.perf_counter() - started
    if not is_main_process():
        return 0
    encoder = electra.fine_tunable_part(trainer.model)
    advice = electra.fine_tuning_advice(config.fine_tuning, encoder.config.hidden_size)
    electra.write_checkpoint(trainer.model, tokenizer, out, preset, normalizer.get_params(), advice)
    steps_run = trainer.state.global_step - (int(Path(last).name.split("-")[-1]) if last else 0)
    blocks_seen = steps_run * config.batch_size * config.gradient_accumulation_steps * world
    summary = {"corpus": config.corpus, "objective": config.objective, "init": config.init, "tokenizer": tokenizer_source,
               "normalizer_preset": preset, "whole_word_mask": whole_word, "mlm_probability": config.mlm_probability,
               "dropout": config.dropout, "seq_len": config.seq_len, "train_blocks": len(train_set), "eval_blocks": held,
               "steps": trainer.state.global_step, "planned_steps": plan["estimate"], "stopped_by_time_budget": budget.triggered,
               "eval_loss": evaluations[-1] if evaluations else None, "train_loss": output.metrics.get("train_loss"),
               "seconds_this_run": round(seconds, 1), "blocks_per_second": round(blocks_seen / max(seconds, 1e-9), 2),
               "tokens_seen_this_run": blocks_seen * config.seq_len,
               "encoder_parameters": int(sum(p.numel() for p in encoder.parameters())),
               "trained_parameters": int(sum(p.numel() for p in trainer.model.parameters())), "threads": threads,
               "processes": world, "fine_tuning": advice, "seed": config.seed}
    if (detection := electra.detection_check(trainer.model, eval_set, collator, config.batch_size)) is not None:
        summary["detection"] = detection
        if not detection["learnt"]:
            logger.warning("the discriminator has not learnt to detect replaced tokens (held-out detection loss %.3f; "
                           "guessing gives %.3f): this encoder fine-tunes worse than a random one. Pre-train longer, or "
                           "use --objective mlm (measured at 30 CPU-minutes: docs/encoders.md)",
                           detection["detection_loss"], detection["guessing_loss"])
    write_json_atomic(out / "pretrain_summary.json", summary)
    loss = f"{summary['eval_loss']:.3f}" if summary["eval_loss"] is not None else "n/a"
    print(f"pre-trained encoder ({config.objective}): {out}  steps {summary['steps']} (planned {plan['estimate']})  "
          f"eval loss {loss}  ({summary['blocks_per_second']} blocks/s)  loss curve: {out / 'loss_curve.csv'}")
    return 0
