"""Compact encoder tooling: tokenizer building, block packing, MLM pre-training (falling loss, resume, --init)."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from training.cli import main
from training.data.loading import DataError
from training.encoders.pretrain import CONTINUATION, SPECIAL, WORD_START, pack_blocks, word_offsets


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, sample_data) -> Path:
    """A gzip JSONL corpus made of the sample articles (title + text)."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for split in sample_data.splits():
            for title, text in zip(split.titles, split.texts):
                handle.write(json.dumps({"title": title, "text": text}, ensure_ascii=False) + "\n")
        handle.write("\n" + json.dumps({"title": "no body", "text": ""}) + "\n")  # skipped, not an error
    return path


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, corpus) -> Path:
    out = tmp_path_factory.mktemp("tokenizer")
    assert main(["build-tokenizer", "--corpus", str(corpus), "--vocab-size", "1500", "--out", str(out)]) == 0
    return out


def test_build_tokenizer_cli_writes_an_autotokenizer(tokenizer_dir, sample_data):
    from transformers import AutoTokenizer

    from training.data.normalize import normalizer_for
    from training.encoders.tokenizer import read_normalizer_settings, tokenizer_stats

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    assert len(tokenizer) <= 1500
    assert (tokenizer.cls_token, tokenizer.sep_token, tokenizer.pad_token, tokenizer.mask_token, tokenizer.unk_token) == \
        ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
    encoded = tokenizer("مباراة كرة القدم")["input_ids"]
    assert encoded[0] == tokenizer.cls_token_id and encoded[-1] == tokenizer.sep_token_id
    assert read_normalizer_settings(tokenizer_dir)["settings"] == normalizer_for("default").get_params()
    stats = tokenizer_stats(tokenizer, normalizer_for("default").transform(sample_data.test.texts))
    assert stats["tokens_per_word"] < 3 and stats["unk_rate"] < 0.01


def test_corpus_reader_refuses_the_holdout(tmp_path):
    from training.encoders.tokenizer import read_corpus

    holdout = tmp_path / "holdout" / "articles.jsonl"
    holdout.parent.mkdir()
    holdout.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="holdout"):
        list(read_corpus(holdout))
    with pytest.raises(DataError, match="no such corpus"):
        list(read_corpus(tmp_path / "missing.jsonl.gz"))


def test_pack_blocks_and_whole_word_offsets():
    docs = [([10, 11, 12], [WORD_START, CONTINUATION, WORD_START]), ([20, 21], [WORD_START, WORD_START]),
            ([30, 31, 32, 33], [WORD_START, CONTINUATION, CONTINUATION, WORD_START])]
    ids, flags = pack_blocks(iter(docs), seq_len=6, cls_id=1, sep_id=2)
    # stream: 10 11 12 S 20 21 S 30 31 32 33 S -> bodies of 4, the trailing partial body is dropped
    assert ids.tolist() == [[1, 10, 11, 12, 2, 2], [1, 20, 21, 2, 30, 2], [1, 31, 32, 33, 2, 2]]
    assert flags[0].tolist() == [SPECIAL, WORD_START, CONTINUATION, WORD_START, SPECIAL, SPECIAL]
    offsets = word_offsets(flags[0])
    assert offsets[2][0] == offsets[1][1]  # a continuation starts where its word's previous piece ended
    assert offsets[3][0] > offsets[2][1]  # a new word leaves a gap
    assert offsets[0].tolist() == [0, 0] and offsets[4].tolist() == [0, 0]


def test_whole_word_masking_masks_every_piece_of_a_word(tokenizer_dir):
    import torch
    from transformers import AutoTokenizer

    from training.encoders.pretrain import BlockCollator

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    flags = np.array([[SPECIAL] + [WORD_START, CONTINUATION, CONTINUATION] * 10 + [SPECIAL]], dtype=np.uint8)
    ids = np.full(flags.shape, 100, dtype=np.int32)
    collator = BlockCollator(tokenizer, mlm_probability=0.5, whole_word=True)
    torch.manual_seed(0)
    batch = collator([{"input_ids": ids[0], "flags": flags[0]}] * 4)
    masked = (batch["labels"] != -100).numpy()
    words = masked[:, 1:-1].reshape(4, 10, 3)
    assert masked.any() and np.all(words.all(axis=2) == words.any(axis=2))  # all pieces of a word, or none
    assert not masked[:, 0].any() and not masked[:, -1].any()


def test_time_budget_schedule_decays_to_zero_at_the_estimated_end():
    from training.encoders.pretrain import TimeHorizon

    horizon = TimeHorizon(100.0, {"warmup_steps": 10, "seconds_per_step": 1.0, "estimate": 100})
    assert horizon.factor(0) == 0 and horizon.factor(5) == 0.5 and horizon.factor(10) == 1.0
    assert horizon.factor(55) == pytest.approx(0.5) and horizon.factor(100) == 0 and horizon.factor(150) == 0
    horizon.total = 200  # the machine got faster: more steps fit, the decay stretches
    assert horizon.factor(100) == pytest.approx(100 / 190)


def test_sparse_mlm_head_matches_the_full_head():
    """Scoring masked positions only gives BertForMaskedLM's loss; with the Trainer's num_items_in_batch the loss
    is a sum over that count (what its gradient-accumulation and DDP scaling expect)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from training.encoders.pretrain import sparse_mlm_class

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    sparse = sparse_mlm_class()(config).eval()
    full = BertForMaskedLM(config).eval()
    full.load_state_dict(sparse.state_dict())
    ids = torch.randint(5, 50, (3, 12))
    labels = torch.full_like(ids, -100)
    labels[:, [2, 5, 7]] = ids[:, [2, 5, 7]]
    with torch.no_grad():
        expected = full(input_ids=ids, labels=labels).loss
        assert torch.isclose(sparse(input_ids=ids, labels=labels).loss, expected, atol=1e-5)
        summed = sparse(input_ids=ids, labels=labels, num_items_in_batch=torch.tensor(18)).loss
    assert torch.isclose(summed, expected * 9 / 18, atol=1e-5)


@pytest.mark.slow
def test_pretrain_loss_falls_resumes_and_fine_tunes(corpus, tokenizer_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from training.encoders.tokenizer import read_normalizer_settings

    out = tmp_path / "encoder"
    common = ["pretrain", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--out", str(out), "--layers", "1",
              "--hidden", "64", "--heads", "2", "--seq-len", "64", "--batch-size", "16", "--learning-rate", "3e-3",
              "--max-steps", "40", "--save-steps", "20", "--eval-blocks", "16", "--warmup-ratio", "0.05", "--whole-word-mask"]
    # a first run cut short by its time budget leaves a checkpoint; --resume finishes the planned 40 steps
    assert main(common + ["--time-budget", "0.01"]) == 0
    first = json.loads((out / "pretrain_summary.json").read_text())
    assert first["stopped_by_time_budget"] and first["steps"] < 40
    assert list((out / "checkpoints").glob("checkpoint-*"))
    assert main(common + ["--resume"]) == 0
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["steps"] == 40 and summary["whole_word_mask"] is True
    with (out / "loss_curve.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert len(losses) >= 20 and rows[0]["step"] == "1"
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3, losses
    assert read_normalizer_settings(out)["preset"] == "default"
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    # the output is a normal checkpoint: the classifier loads its encoder weights
    model = AutoModelForSequenceClassification.from_pretrained(str(out), num_labels=4)
    assert model.config.hidden_size == 64

    # --init: continued pre-training of an existing checkpoint (its own tokenizer)
    adapted = tmp_path / "adapted"
    assert main(["pretrain", "--corpus", str(corpus), "--init", str(out), "--out", str(adapted), "--seq-len", "64",
                 "--batch-size", "8", "--max-steps", "3", "--no-whole-word-mask"]) == 0
    assert json.loads((adapted / "pretrain_summary.json").read_text())["init"] == str(out)
    assert (adapted / "model.safetensors").is_file() and (adapted / "tokenizer.json").is_file()
