"""Masked-language-model pre-training of a compact Arabic BERT: ``python -m training pretrain``.

The corpus (JSONL or gzip JSONL, title + text) is normalised with the tokenizer's preset, tokenised and packed
into fixed-length blocks (``[CLS] tokens... [SEP]``, documents separated by ``[SEP]``), cached under
``OUT/blocks/`` so a resumed run skips that work. ``DataCollatorForLanguageModeling`` masks 15% of the tokens
(``--whole-word-mask``: every piece of a chosen word). Checkpoints go to ``OUT/checkpoints/`` every
``--save-steps`` (``--resume`` continues from the last one); the loss curve is written to
``OUT/loss_curve.json`` and ``.csv`` as training runs. The finished model and tokenizer are saved into OUT
itself, a normal checkpoint directory that ``--transformer-model OUT`` fine-tunes. ``--init ID_OR_PATH``
continues pre-training an existing checkpoint.

No torch/transformers import at module level (the CLI imports this module at start-up).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.loading import DataError, compose_inputs
from ..models.hf_common import (
    configure_threads,
    device_arguments,
    is_main_process,
    max_across_ranks,
    time_budget_callback,
)
from .tokenizer import read_corpus, resolve_normalizer, write_normalizer_settings

logger = logging.getLogger(__name__)

WORD_START, CONTINUATION, SPECIAL = 1, 0, 2
PLAN_FILE = "pretrain_plan.json"


# ------------------------------------------------------------------------------------------ packing

def pack_blocks(token_streams: Any, seq_len: int, cls_id: int, sep_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate documents (each ``(ids, word_start_flags)``), separated by [SEP], into ``[CLS] ... [SEP]``
    blocks of exactly ``seq_len`` tokens; the last partial block is dropped. Returns (ids, flags) arrays where
    flags mark word starts (1), word continuations (0) and special tokens (2)."""
    body = seq_len - 2
    ids_out: list[np.ndarray] = []
    flags_out: list[np.ndarray] = []
    buffer_ids: list[int] = []
    buffer_flags: list[int] = []
    for ids, flags in token_streams:
        buffer_ids.extend(ids)
        buffer_ids.append(sep_id)
        buffer_flags.extend(flags)
        buffer_flags.append(SPECIAL)
        while len(buffer_ids) >= body:
            ids_out.append(np.array([cls_id] + buffer_ids[:body] + [sep_id], dtype=np.int32))
            flags_out.append(np.array([SPECIAL] + buffer_flags[:body] + [SPECIAL], dtype=np.uint8))
            del buffer_ids[:body], buffer_flags[:body]
    if not ids_out:
        return np.zeros((0, seq_len), np.int32), np.zeros((0, seq_len), np.uint8)
    return np.stack(ids_out), np.stack(flags_out)


def word_offsets(flags: np.ndarray) -> np.ndarray:
    """Synthetic character offsets from word-start flags, as DataCollatorForLanguageModeling's whole-word
    masking expects: a continuation token starts where the previous one ended; a word start leaves a gap;
    special tokens are (0, 0)."""
    starts_word = (flags == WORD_START).astype(np.int64)
    position = np.cumsum(starts_word + 1, axis=-1)  # +1 per token, +1 more (a gap) before each word
    offsets = np.stack([position - 1, position], axis=-1)
    offsets[flags == SPECIAL] = 0
    return offsets


def _documents(tokenizer: Any, corpus: str, normalizer: Any, max_docs: int | None, chunk: int = 500) -> Any:
    """(ids, flags) per normalised corpus article, flags from the fast tokenizer's word ids."""
    rows: list[dict] = []

    def encode(batch: list[dict]) -> Any:
        texts = normalizer.transform(compose_inputs([r["text"] for r in batch], [r.get("title") or "" for r in batch]))
        encoded = tokenizer(texts, add_special_tokens=False, verbose=False)
        for i, ids in enumerate(encoded["input_ids"]):
            words = encoded.word_ids(i) if tokenizer.is_fast else list(range(len(ids)))
            yield ids, [WORD_START if j == 0 or words[j] != words[j - 1] else CONTINUATION for j in range(len(ids))]

    for row in read_corpus(corpus, max_docs):
        rows.append(row)
        if len(rows) == chunk:
            yield from encode(rows)
            rows = []
    if rows:
        yield from encode(rows)


def load_or_build_blocks(out: Path, corpus: str, tokenizer: Any, normalizer: Any, seq_len: int,
                         max_docs: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Packed blocks for this corpus/tokenizer/normaliser/length, cached in ``out/blocks``."""
    key = json.dumps({"corpus": str(Path(corpus).resolve()), "size": Path(corpus).stat().st_size, "seq_len": seq_len,
                      "max_docs": max_docs, "vocab": len(tokenizer), "normalizer": normalizer.get_params(),
                      "tokenizer": hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()},
                     sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache = out / "blocks" / f"blocks-{digest}.npz"
    if cache.is_file():
        with np.load(cache) as saved:
            return saved["ids"], saved["flags"]
    started = time.perf_counter()
    ids, flags = pack_blocks(_documents(tokenizer, corpus, normalizer, max_docs), seq_len, tokenizer.cls_token_id,
                             tokenizer.sep_token_id)
    if len(ids) < 2:
        raise DataError(f"{corpus}: only {len(ids)} block(s) of {seq_len} tokens; give more text or a shorter --seq-len")
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.stem + ".partial.npz")
    np.savez(partial, ids=ids, flags=flags)
    os.replace(partial, cache)
    logger.info("packed %d blocks of %d tokens in %.0f s (cached in %s)", len(ids), seq_len, time.perf_counter() - started, cache)
    return ids, flags


class BlockDataset:
    """Packed blocks: item i is ``{"input_ids", "flags"}`` (equal-length int arrays)."""

    def __init__(self, ids: np.ndarray, flags: np.ndarray) -> None:
        self.ids, self.flags = ids, flags

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.ids[index], "flags": self.flags[index]}


class BlockCollator:
    """Stacks equal-length blocks and masks them with ``DataCollatorForLanguageModeling.torch_mask_tokens``
    (15% of the tokens, 80/10/10 mask/random/keep; whole words: every piece of a chosen word, all [MASK]),
    passing the special-token mask and, for whole-word masking, word offsets derived from the flags."""

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


# ------------------------------------------------------------------------------------------- model

def sparse_mlm_class() -> type:
    """BertForMaskedLM that runs the vocabulary projection on masked positions only (about 15% of tokens):
    same weights and loss, roughly half the compute of a compact model with a 16k vocabulary."""
    from transformers import BertForMaskedLM
    from transformers.loss.loss_utils import fixed_cross_entropy
    from transformers.modeling_outputs import MaskedLMOutput

    class SparseHeadBertForMaskedLM(BertForMaskedLM):
        def forward(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None,
                    labels: Any = None, **kwargs: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            if labels is None:
                return MaskedLMOutput(logits=self.cls(hidden))
            selected = labels != -100
            logits = self.cls(hidden[selected])
            # as transformers' own MLM loss: a sum over num_items_in_batch (masked tokens of the whole accumulated,
            # all-rank batch) when the Trainer passes it, which is what its gradient-accumulation and DDP scaling expect
            loss = fixed_cross_entropy(logits.float(), labels[selected], kwargs.get("num_items_in_batch"))
            return MaskedLMOutput(loss=loss, logits=logits)

    return SparseHeadBertForMaskedLM


def build_mlm_model(args: argparse.Namespace, tokenizer: Any) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, BertConfig

    sparse = sparse_mlm_class()
    if args.init:
        try:
            config = AutoConfig.from_pretrained(args.init)
            cls = sparse if config.model_type == "bert" else AutoModelForMaskedLM
            model = cls.from_pretrained(args.init, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise DataError(f"--init {args.init}: cannot load it ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                            "a hub id needs network access, else give a local checkpoint directory") from None
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        return model
    if args.hidden % args.heads:
        raise DataError(f"--hidden {args.hidden} is not divisible by --heads {args.heads}")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
                        max_position_embeddings=max(512, args.seq_len), pad_token_id=tokenizer.pad_token_id)
    return sparse(config)


def _loss_curve_callback(out: Path) -> Any:
    from transformers import TrainerCallback

    class LossCurve(TrainerCallback):
        """Rewrites OUT/loss_curve.json and .csv at every log (including history restored on --resume)."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            points = [{"step": e.get("step"), "epoch": e.get("epoch"), "loss": e.get("loss"), "eval_loss": e.get("eval_loss"),
                       "learning_rate": e.get("learning_rate")} for e in state.log_history if "loss" in e or "eval_loss" in e]
            (out / "loss_curve.json").write_text(json.dumps(points, indent=1), encoding="utf-8")
            with (out / "loss_curve.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=["step", "epoch", "loss", "eval_loss", "learning_rate"])
                writer.writeheader()
                writer.writerows(points)

    return LossCurve()


def _seconds_per_step(model: Any, collator: Any, dataset: BlockDataset, batch_size: int, accumulation: int) -> float:
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


def _plan(args: argparse.Namespace, plan_file: Path, last: str | None, per_epoch: int, measure: Any) -> dict:
    """Steps, warm-up and checkpoint interval of this run: ``--max-steps``; else sized to ``--time-budget`` from the
    measured step time (the decay then follows the budget, see TimeHorizon); else one epoch. A resumed run keeps
    the plan it started with."""
    if last is not None and plan_file.is_file():
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
        if args.max_steps > 0:
            plan.update(estimate=args.max_steps, max_steps=args.max_steps, budgeted=False)
        elif plan.get("budgeted") and args.time_budget <= 0:
            raise DataError("--resume: this run was planned by time; give --time-budget SECONDS for the rest, or --max-steps N")
        return plan
    budgeted = args.max_steps <= 0 and args.time_budget > 0
    seconds = max_across_ranks(measure()) if budgeted else 0.0  # every rank must plan the same schedule
    estimate = args.max_steps if args.max_steps > 0 else max(10, int(args.time_budget / seconds)) if budgeted else per_epoch
    if budgeted:
        logger.info("about %.2f s per step: %d steps fit the %.0f s budget", seconds, estimate, args.time_budget)
    plan = {"estimate": estimate, "max_steps": 4 * estimate if budgeted else estimate, "budgeted": budgeted,
            "seconds_per_step": seconds, "warmup_steps": int(args.warmup_ratio * estimate),
            "save_steps": args.save_steps or max(10, math.ceil(estimate / 10))}
    if is_main_process():
        plan_file.write_text(json.dumps(plan), encoding="utf-8")
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


# --------------------------------------------------------------------------------------------- CLI

def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="JSON Lines corpus (.jsonl or .jsonl.gz) with text and optional title")
    parser.add_argument("--tokenizer", help="tokenizer directory (from build-tokenizer); default: the --init checkpoint's")
    parser.add_argument("--out", required=True, help="output checkpoint directory (fine-tune it with --transformer-model OUT)")
    parser.add_argument("--init", help="hub id or checkpoint directory to continue pre-training (domain adaptation); "
                        "--layers/--hidden/--heads are then ignored")
    parser.add_argument("--layers", type=int, default=4, help="transformer layers of a new encoder")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size of a new encoder (intermediate: 4x)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads of a new encoder")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per packed block")
    parser.add_argument("--batch-size", type=int, default=32, help="blocks per device and step")
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak AdamW learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.06, help="linear warm-up share of the steps")
    parser.add_argument("--mlm-probability", type=float, default=0.15)
    parser.add_argument("--whole-word-mask", action=argparse.BooleanOptionalAction, default=False,
                        help="mask every piece of a chosen word together (needs a fast tokenizer). Off by default: in a "
                        "25-minute CPU budget, token masking at lr 1e-3 gave a far better encoder than whole-word masking "
                        "at 5e-4 (docs/transformer.md)")
    parser.add_argument("--max-steps", type=int, default=0, help="optimiser steps (0: from --time-budget, else one epoch)")
    parser.add_argument("--time-budget", type=float, default=0.0, help="stop after this many seconds of training in this "
                        "run; without --max-steps the schedule is sized to fit it")
    parser.add_argument("--max-docs", type=int, default=None, help="use only the first N corpus articles")
    parser.add_argument("--eval-blocks", type=int, default=128, help="blocks held out for the validation MLM loss")
    parser.add_argument("--save-steps", type=int, default=0, help="checkpoint (and evaluate) every N steps (0: ~10 per run)")
    parser.add_argument("--normalizer-preset", default="auto", help="auto (the tokenizer's normalizer.json, else by id) "
                        "or default/arabert/minimal")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the idle cores)")


def run_pretrain(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(args.out)
    if not args.tokenizer and not args.init:
        raise DataError("give --tokenizer DIR (build one with `python -m training build-tokenizer`) or --init CHECKPOINT")
    threads = configure_threads(args.threads)
    set_seed(args.seed)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_source = args.tokenizer or args.init
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    except (OSError, ValueError) as exc:
        raise DataError(f"{tokenizer_source}: cannot load a tokenizer ({exc}); a hub id needs network access") from None
    if tokenizer.mask_token is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise DataError(f"{tokenizer_source}: the tokenizer lacks [MASK]/[CLS]/[SEP]; build one with build-tokenizer")
    whole_word = args.whole_word_mask and tokenizer.is_fast
    preset, normalizer = resolve_normalizer(args.normalizer_preset, args.tokenizer or args.init)
    if args.normalizer_preset == "auto" and args.init and args.tokenizer:
        preset, normalizer = resolve_normalizer("auto", args.tokenizer)

    checkpoints = out / "checkpoints"
    last = get_last_checkpoint(str(checkpoints)) if args.resume and checkpoints.is_dir() else None
    if args.resume and last is None:
        logger.warning("--resume: no checkpoint in %s; starting from the beginning", checkpoints)
    if last is None and checkpoints.is_dir() and is_main_process():
        logger.warning("starting afresh: removing the checkpoints of an earlier run in %s", checkpoints)
        shutil.rmtree(checkpoints)
    plan_file = out / PLAN_FILE
    probe = TrainingArguments(output_dir=str(checkpoints), report_to="none", **device_arguments())  # sets up DDP
    with probe.main_process_first(desc="packing blocks"):
        ids, flags = load_or_build_blocks(out, args.corpus, tokenizer, normalizer, args.seq_len, args.max_docs)
    held = min(args.eval_blocks, max(1, len(ids) // 20))
    train_set = BlockDataset(ids[:-held], flags[:-held])
    eval_set = BlockDataset(ids[-held:], flags[-held:])
    collator = BlockCollator(tokenizer, args.mlm_probability, whole_word)
    model = build_mlm_model(args, tokenizer)

    world = probe.world_size
    per_epoch = max(1, len(train_set) // (args.batch_size * world * args.gradient_accumulation_steps))
    plan = _plan(args, plan_file, last, per_epoch, lambda: _seconds_per_step(
        model, collator, train_set, args.batch_size, args.gradient_accumulation_steps))
    horizon = TimeHorizon(args.time_budget, plan) if plan["budgeted"] else None
    set_seed(args.seed)
    training_args = TrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps, max_steps=plan["max_steps"],
        learning_rate=args.learning_rate, weight_decay=args.weight_decay, warmup_steps=plan["warmup_steps"],
        lr_scheduler_type="linear", logging_steps=max(1, min(50, plan["estimate"] // 50)), eval_strategy="steps",
        eval_steps=plan["save_steps"], save_strategy="steps", save_steps=plan["save_steps"], save_total_limit=2,
        prediction_loss_only=True, remove_unused_columns=False, report_to="none", seed=args.seed, dataloader_num_workers=0,
        ddp_find_unused_parameters=False, **device_arguments())
    budget = time_budget_callback(args.time_budget)
    callbacks = [budget, _loss_curve_callback(out)] + ([horizon] if horizon else [])
    trainer = _trainer_class(horizon)(model=model, args=training_args, train_dataset=train_set, eval_dataset=eval_set,
                                      data_collator=collator, processing_class=tokenizer, callbacks=callbacks)
    logger.info("pre-training %s on %d blocks of %d tokens (%d held out): %d steps, %d thread(s), %d process(es), %s masking",
                args.init or f"a new {args.layers}x{args.hidden} encoder", len(train_set), args.seq_len, held,
                plan["estimate"], threads, world, "whole-word" if whole_word else "token")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last)
    evaluations = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    seconds = time.perf_counter() - started
    if is_main_process():
        model = trainer.model
        model.save_pretrained(str(out), safe_serialization=True)
        if type(model).__name__ == "SparseHeadBertForMaskedLM":  # same weights and config: record the plain class
            config_file = out / "config.json"
            saved = json.loads(config_file.read_text(encoding="utf-8"))
            saved["architectures"] = ["BertForMaskedLM"]
            config_file.write_text(json.dumps(saved, indent=2, ensure_ascii=False), encoding="utf-8")
        tokenizer.save_pretrained(str(out))
        write_normalizer_settings(out, preset, normalizer.get_params())
        steps_run = trainer.state.global_step - (int(Path(last).name.split("-")[-1]) if last else 0)
        blocks_seen = steps_run * args.batch_size * args.gradient_accumulation_steps * world
        summary = {"corpus": args.corpus, "init": args.init, "tokenizer": tokenizer_source, "normalizer_preset": preset,
                   "whole_word_mask": whole_word, "seq_len": args.seq_len, "train_blocks": len(train_set), "eval_blocks": held,
                   "steps": trainer.state.global_step, "planned_steps": plan["estimate"], "stopped_by_time_budget": budget.triggered,
                   "eval_loss": evaluations[-1] if evaluations else None, "train_loss": output.metrics.get("train_loss"),
                   "seconds_this_run": round(seconds, 1), "blocks_per_second": round(blocks_seen / max(seconds, 1e-9), 2),
                   "tokens_seen_this_run": blocks_seen * args.seq_len, "parameters": int(sum(p.numel() for p in model.parameters())),
                   "threads": threads, "processes": world}
        (out / "pretrain_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        print(f"pre-trained encoder: {out}  steps {summary['steps']} (planned {plan['estimate']})  eval MLM loss "
              f"{summary['eval_loss']:.3f}  ({summary['blocks_per_second']} blocks/s)  loss curve: {out / 'loss_curve.csv'}")
    return 0
