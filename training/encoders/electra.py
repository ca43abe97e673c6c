"""The models the two pre-training objectives train, and how the fine-tunable encoder is saved.

* ``mlm``: ``BertForMaskedLM`` whose vocabulary projection runs on masked positions only (the loss of the masked
  positions is all MLM uses, so scoring the others is wasted compute: about half of a compact model's step).
* ``electra``: replaced-token detection (Clark et al., 2020). A small generator (``ElectraForMaskedLM`` body,
  ``generator_size`` of the discriminator's width) fills the masked positions with tokens sampled from its own
  predictions; the discriminator (``ElectraForPreTraining``) tells, for *every* token, whether it was replaced.
  Learning from all tokens rather than the masked 15-25% is why it learns more per compute. Generator and
  discriminator share the token, position and type embeddings, and the generator's output projection is the
  shared word-embedding matrix. Only the discriminator is kept: ``AutoModelForSequenceClassification`` loads it.

torch and transformers are imported inside the functions (the CLI imports this package at start-up).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifact import staged_directory, write_json_atomic
from ..data.loading import DataError
from ..settings import setting

FINE_TUNING_DROPOUT = 0.1  # BERT's and ELECTRA's dropout; restored in the saved config when pre-training ran without


def sparse_mlm_class() -> type:
    """BertForMaskedLM that runs the vocabulary projection on masked positions only: same weights and loss."""
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


def _load_init(init: str) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM

    try:
        config = AutoConfig.from_pretrained(init)
        cls = sparse_mlm_class() if config.model_type == "bert" else AutoModelForMaskedLM
        return cls.from_pretrained(init, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise DataError(f"--init {init}: cannot load it ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                        "a hub id needs network access, else give a local checkpoint directory") from None


def build_model(config: Any, tokenizer: Any) -> Any:
    """The model ``config.objective`` trains (``config`` is a PretrainConfig): a new compact encoder of
    ``config.encoder``'s shape, or (``mlm`` only) the ``config.init`` checkpoint continued."""
    if config.init:  # (PretrainConfig.validate allows --init with the mlm objective only)
        model = _load_init(config.init)
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        return model
    shape = config.encoder
    common = dict(vocab_size=len(tokenizer), num_hidden_layers=shape.layers, max_position_embeddings=max(512, config.seq_len),
                  pad_token_id=tokenizer.pad_token_id, hidden_dropout_prob=config.dropout,
                  attention_probs_dropout_prob=config.dropout)
    if config.objective == "mlm":
        from transformers import BertConfig

        return sparse_mlm_class()(BertConfig(hidden_size=shape.hidden, num_attention_heads=shape.heads,
                                             intermediate_size=4 * shape.hidden, **common))
    return electra_pretrainer(shape.hidden, shape.heads, config.generator_size, config.discriminator_weight, common)


def generator_shape(hidden: int, heads: int, size: float) -> tuple[int, int]:
    """(hidden, heads) of the generator: ``size`` x the discriminator's width, 64-wide heads as in ELECTRA (at
    least one head, and a width the heads divide)."""
    width = max(8, int(round(hidden * size)))
    gen_heads = max(1, min(heads, width // 64))
    return width - width % gen_heads, gen_heads


def electra_pretrainer(hidden: int, heads: int, generator_size: float, discriminator_weight: float, common: dict) -> Any:
    import torch
    import torch.nn.functional as F
    from transformers import ElectraConfig, ElectraForPreTraining, ElectraModel
    from transformers.models.electra.modeling_electra import ElectraGeneratorPredictions
    from transformers.utils import ModelOutput

    discriminator = ElectraForPreTraining(ElectraConfig(embedding_size=hidden, hidden_size=hidden, num_attention_heads=heads,
                                                        intermediate_size=4 * hidden, **common))
    gen_hidden, gen_heads = generator_shape(hidden, heads, generator_size)
    gen_config = ElectraConfig(embedding_size=hidden, hidden_size=gen_hidden, num_attention_heads=gen_heads,
                               intermediate_size=4 * gen_hidden, **common)

    class ElectraPretrainer(torch.nn.Module):
        """Generator + discriminator; ``forward(input_ids, attention_mask, labels)`` as the MLM collator gives them
        (labels: the original token at masked positions, -100 elsewhere). Loss: generator MLM loss +
        ``discriminator_weight`` x replaced-token-detection loss (ELECTRA's 50)."""

        def __init__(self) -> None:
            super().__init__()
            self.discriminator = discriminator
            self.generator = ElectraModel(gen_config)
            self.generator_head = ElectraGeneratorPredictions(gen_config)
            self.generator_bias = torch.nn.Parameter(torch.zeros(gen_config.vocab_size))
            # share the embeddings without registering them twice: one tensor in the state dict, so the Trainer's
            # safetensors checkpoints (which refuse shared tensors) and --resume work unchanged
            del self.generator._modules["embeddings"]
            object.__setattr__(self.generator, "embeddings", discriminator.electra.embeddings)

        def forward(self, input_ids: Any, attention_mask: Any = None, labels: Any = None) -> Any:
            # no **kwargs on purpose: the Trainer then averages the loss over gradient-accumulation steps itself
            masked = labels != -100
            original = torch.where(masked, labels, input_ids)
            hidden_states = self.generator(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            word_embeddings = self.discriminator.electra.embeddings.word_embeddings.weight
            logits = F.linear(self.generator_head(hidden_states[masked]), word_embeddings, self.generator_bias)
            generator_loss = F.cross_entropy(logits.float(), labels[masked])
            with torch.no_grad():  # ELECTRA samples from the generator (temperature 1); no gradient through sampling
                sampled = torch.multinomial(torch.softmax(logits.float(), dim=-1), 1).squeeze(-1)
            corrupted = input_ids.clone()
            corrupted[masked] = sampled
            replaced = (corrupted != original).float()
            scores = self.discriminator(input_ids=corrupted, attention_mask=attention_mask).logits
            keep = attention_mask.bool() if attention_mask is not None else torch.ones_like(replaced, dtype=torch.bool)
            detection_loss = F.binary_cross_entropy_with_logits(scores[keep].float(), replaced[keep])
            loss = generator_loss + discriminator_weight * detection_loss
            return ModelOutput(loss=loss, generator_loss=generator_loss.detach(), detection_loss=detection_loss.detach(),
                               replaced_share=replaced[keep].mean().detach())

    return ElectraPretrainer()


def detection_check(model: Any, blocks: Any, collator: Any, batch_size: int) -> dict | None:
    """Has the ELECTRA discriminator learnt anything? Its detection loss on the held-out ``blocks`` against the loss
    of always guessing the replaced share (the binary entropy of that share): a discriminator still at that level
    fine-tunes worse than a random encoder (measured: docs/encoders.md). None for an MLM model."""
    import math

    import torch

    if not hasattr(model, "discriminator"):
        return None
    losses, shares = [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(blocks), batch_size):
            batch = {k: v.to(next(model.parameters()).device)
                     for k, v in collator([blocks[i] for i in range(start, min(start + batch_size, len(blocks)))]).items()}
            output = model(**batch)
            losses.append(float(output.detection_loss))
            shares.append(float(output.replaced_share))
    share = min(max(sum(shares) / max(len(shares), 1), 1e-9), 1 - 1e-9)
    trivial = -(share * math.log(share) + (1 - share) * math.log(1 - share))
    loss = sum(losses) / max(len(losses), 1)
    return {"detection_loss": round(loss, 4), "guessing_loss": round(trivial, 4), "learnt": loss < 0.9 * trivial}


def fine_tunable_part(model: Any) -> Any:
    """What fine-tuning starts from: the discriminator of an ELECTRA pre-trainer, else the model itself."""
    return getattr(model, "discriminator", model)


def save_encoder(model: Any, out: Path) -> dict:
    """Save the fine-tunable encoder into ``out`` (``save_pretrained``), with fine-tuning dropout in its config and
    the plain transformers class recorded (the sparse-head class is an implementation detail). Returns its config."""
    encoder = fine_tunable_part(model)
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if getattr(encoder.config, name, FINE_TUNING_DROPOUT) == 0.0:  # pre-trained without dropout: fine-tune with it
            setattr(encoder.config, name, FINE_TUNING_DROPOUT)
    encoder.save_pretrained(str(out), safe_serialization=True)
    config_file = out / "config.json"
    saved = json.loads(config_file.read_text(encoding="utf-8"))
    if type(encoder).__name__ == "SparseHeadBertForMaskedLM":
        saved["architectures"] = ["BertForMaskedLM"]
        config_file.write_text(json.dumps(saved, indent=2, ensure_ascii=False), encoding="utf-8")
    return saved


@dataclass
class FineTuningAdvice:
    """Fine-tuning settings recorded in the checkpoint's fine_tuning.json (read by `train`); empty: by model size."""

    learning_rate: float | None = setting(None, "Peak learning rate to fine-tune this encoder with.")
    epochs: float | None = setting(None, "Fine-tuning epochs (upper bound).")
    early_stopping_patience: int | None = setting(None, "Evaluations without improvement before stopping (0: never).")


def fine_tuning_advice(given: Any, hidden: int) -> dict:
    """fine_tuning.json's values: what was set in ``given`` (--fine-tuning.*), else the size rule `train` applies
    to a pre-trained encoder of this width (training/models/fine_tuning.py), written down so the checkpoint says it."""
    from ..models.fine_tuning import size_rule

    learning_rate, epochs, patience, _why = size_rule(hidden)
    return {"learning_rate": given.learning_rate if given.learning_rate is not None else learning_rate,
            "epochs": given.epochs if given.epochs is not None else epochs,
            "early_stopping_patience": given.early_stopping_patience if given.early_stopping_patience is not None else patience}


def _publish(out: Path, write: Any) -> None:
    """Fill a staging directory with ``write(staging)`` and move its files into ``out`` (which keeps checkpoints/)."""
    with staged_directory(out / "final", "partial") as staging:
        write(staging)
    for file in (out / "final").iterdir():
        file.replace(out / file.name)
    (out / "final").rmdir()


def write_checkpoint(model: Any, tokenizer: Any, out: Path, preset: str, normalizer_params: dict, advice: dict) -> None:
    """The finished checkpoint in OUT: encoder, tokenizer, normalizer.json and fine_tuning.json, all or nothing."""
    from ..models.fine_tuning import FINE_TUNING_FILE  # the file train reads
    from .tokenizer import write_normalizer_settings

    def write(staging: Path) -> None:
        save_encoder(model, staging)
        tokenizer.save_pretrained(str(staging))
        write_normalizer_settings(staging, preset, normalizer_params)
        write_json_atomic(staging / FINE_TUNING_FILE, advice)

    _publish(out, write)
