"""Pieces shared by fine-tuning and pre-training with the Hugging Face ``Trainer``.

Process topology comes from the launcher's environment (``torchrun`` sets RANK, WORLD_SIZE, LOCAL_WORLD_SIZE),
so these helpers work before any process group exists. torch and transformers are imported lazily.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True in a single process, and on rank 0 under torchrun: the one process that writes artefacts."""
    return rank() == 0


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def idle_cores() -> int:
    """Cores not already busy: the core count minus the 1-minute load average (at least 1)."""
    cores = available_cores()
    try:
        busy = int(round(os.getloadavg()[0]))
    except OSError:  # pragma: no cover - no load average on this platform
        busy = 0
    return max(1, min(cores, cores - busy))


def configure_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads: ``threads`` if given, else the idle cores shared among local DDP ranks.

    Oversubscribing matters on CPUs: with other processes busy, torch's spinning OpenMP workers made a
    2-thread step ~25x slower than a 1-thread one on a shared 2-core machine, hence idle cores, not all.
    """
    import torch

    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    count = threads if threads > 0 else max(1, idle_cores() // local_processes)
    torch.set_num_threads(count)
    return count


def mixed_precision() -> dict[str, bool]:
    """TrainingArguments flags: bf16 on CUDA devices that support it, else fp16 on CUDA, else full precision."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def device_arguments() -> dict[str, bool]:
    """TrainingArguments for this machine: mixed precision and pinned memory on CUDA; on CPU ``use_cpu``, which
    also makes accelerate set up gloo DDP when launched with torchrun (without it, CPU runs stay single-process)."""
    import torch

    if torch.cuda.is_available():
        return {**mixed_precision(), "dataloader_pin_memory": True}
    return {"use_cpu": True, "dataloader_pin_memory": False}


def max_across_ranks(value: float) -> float:
    """The largest ``value`` over all ranks (the value itself outside DDP)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def any_rank(flag: bool) -> bool:
    """True when ``flag`` is true on any rank (so every rank takes the same decision); local value otherwise."""
    return max_across_ranks(1.0 if flag else 0.0) > 0


def time_budget_callback(budget_s: float) -> Any:
    """A TrainerCallback that ends training after ``budget_s`` seconds of this run, evaluating and saving the
    last state first (with ``save_strategy="best"`` the Trainer saves it only if it is the best). The decision
    is shared across ranks so DDP processes stop together."""
    from transformers import TrainerCallback

    class TimeBudgetCallback(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.triggered = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if budget_s > 0 and not control.should_training_stop and any_rank(time.monotonic() - self.started >= budget_s):
                logger.info("time budget of %.0f s reached at step %d; stopping", budget_s, state.global_step)
                self.triggered = True
                control.should_training_stop = True
                control.should_save = args.save_strategy != "no"
                if args.eval_strategy != "no":
                    control.should_evaluate = True
            return control

    return TimeBudgetCallback()


def looks_like_path(source: str) -> bool:
    """A hub id is NAME or ORG/NAME; anything else with a slash, or starting like a path, names a directory."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or os.sep != "/" and os.sep in source


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "spm.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


def local_checkpoint(source: str | None) -> str | None:
    """``source`` with ``~`` expanded when it names a directory (transformers would take it for a hub id)."""
    if source and Path(source).expanduser().is_dir():
        return str(Path(source).expanduser())
    return source


def check_checkpoint_directory(directory: str, max_length: int) -> None:
    """Refuse, before any training, a local checkpoint that cannot be fine-tuned at ``max_length``: no config, no
    tokenizer files (transformers would build an empty tokenizer and every word would become [UNK]), a tokenizer
    of another model, too few positions, or a fine_tuning.json that cannot be used."""
    import json

    from transformers import AutoTokenizer

    from ..config import ConfigError
    from .fine_tuning import read_fine_tuning_file

    path, flag = Path(directory), f"--transformer.model {directory}"
    if not (path / "config.json").is_file():
        raise ConfigError(f"{flag}: no config.json; give the directory `python -m training pretrain` wrote (or a "
                          "checkpoint saved with save_pretrained)")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(f"{flag}: no tokenizer files (tokenizer.json or vocab.txt); copy the directory "
                          "`python -m training pretrain` wrote whole, or the build-tokenizer files into it")
    read_fine_tuning_file(directory)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    try:
        tokenizer_size = len(AutoTokenizer.from_pretrained(directory))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{flag}: cannot load its tokenizer ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    check_compatible(directory, tokenizer_size, config.get("vocab_size"), config.get("max_position_embeddings"),
                     max_length)


def check_compatible(source: str, tokenizer_size: int, vocab_size: Any, positions: Any, max_length: int) -> None:
    """Refuse a tokenizer that does not fit the model's vocabulary, or a ``max_length`` beyond its positions: both
    would fail, or train on [UNK]s, mid-way."""
    from ..config import ConfigError

    if isinstance(vocab_size, int) and not vocab_size // 2 <= tokenizer_size <= vocab_size:
        raise ConfigError(f"--transformer.model {source}: its tokenizer has {tokenizer_size} tokens and the model "
                          f"{vocab_size}; they belong to different checkpoints: keep the tokenizer the encoder was "
                          "pre-trained with beside it")
    if isinstance(positions, int) and max_length > positions:
        raise ConfigError(f"--transformer.max-length {max_length}: {source} has {positions} positions; use "
                          f"--transformer.max-length {positions} or less")
