"""Pieces shared by fine-tuning and pre-training with the Hugging Face ``Trainer``.

Process topology comes from the launcher's environment (``torchrun`` sets RANK, WORLD_SIZE, LOCAL_WORLD_SIZE),
so these helpers work before any process group exists. torch and transformers are imported lazily.
"""
from __future__ import annotations

import logging
import os
import time
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


def configure_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads: ``threads`` if given, else this machine's cores shared among local ranks."""
    import torch

    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    count = threads if threads > 0 else max(1, available_cores() // max(1, local_processes))
    torch.set_num_threads(count)
    return count


def mixed_precision() -> dict[str, bool]:
    """TrainingArguments flags: bf16 on CUDA devices that support it, else fp16 on CUDA, else full precision."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def any_rank(flag: bool) -> bool:
    """True when ``flag`` is true on any rank (so every rank takes the same decision); local value otherwise."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def time_budget_callback(budget_s: float) -> Any:
    """A TrainerCallback that ends training after ``budget_s`` seconds of this run, evaluating and (if it is
    the best) saving the last state first. The decision is shared across ranks so DDP processes stop together."""
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
                if args.eval_strategy != "no":
                    control.should_evaluate = True
            return control

    return TimeBudgetCallback()
