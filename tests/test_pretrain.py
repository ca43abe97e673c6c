"""Compact encoder tooling: tokenizer building, block packing through datasets, MLM and ELECTRA pre-training
(falling loss, resume, --init, fine_tuning.json, a checkpoint AutoModelForSequenceClassification loads)."""
from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from training.cli import main
from training.data.loading import DataError, compose_inputs
from training.encoders.pretrain import CONTINUATION, SPECIAL, WORD_START, group_blocks, word_offsets


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
def tokenizer_dir(tmp_path_factory, corpus, cache_dir) -> Path:
    out = tmp_path_factory.mktemp("tokenizer")
    assert main(["build-tokenizer", "--corpus", str(corpus), "--vocab-size", "1500", "--out", str(out),
                 "--cache-dir", str(cache_dir)]) == 0
    return out


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """A datasets cache of the test session's own (the corpus, its normalised text and packed blocks)."""
    return tmp_path_factory.mktemp("datasets-cache")


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


def test_corpus_reader_refuses_the_holdout_and_names_bad_lines(tmp_path, capsys):
    from training.encoders.corpus import load_corpus

    holdout = tmp_path / "holdout" / "articles.jsonl"
    holdout.parent.mkdir()
    holdout.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="holdout"):
        load_corpus(holdout)
    with pytest.raises(DataError, match="no such corpus"):
        load_corpus(tmp_path / "missing.jsonl.gz")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "نص"}\n{"text": "نص آخر"\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        load_corpus(broken, cache_dir=str(tmp_path / "cache"))
    capsys.readouterr()
    assert main(["build-tokenizer", "--corpus", str(broken), "--out", str(tmp_path / "tok"),
                 "--cache-dir", str(tmp_path / "cache2")]) == 2
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err and " ERROR " not in err  # one message, not datasets' own as well
    no_text = tmp_path / "no_text.jsonl"
    no_text.write_text('{"body": "نص"}\n', encoding="utf-8")
    assert main(["build-tokenizer", "--corpus", str(no_text), "--out", str(tmp_path / "tok"),
                 "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "no `text` column (found body); name the column that holds the article body with --data.text-column" \
        in capsys.readouterr().err
    assert main(["pretrain", "--corpus", str(no_text), "--out", str(tmp_path / "enc"), "--objective", "bert"]) == 2
    assert "--objective: expected one of mlm, electra" in capsys.readouterr().err
    # a stray value among text: datasets fails on a small file and types the column Json in a large one
    article = json.dumps({"title": "عنوان", "text": "نص " * 50}, ensure_ascii=False)
    for rows, value, kind in ((2, "123", "int"), (2, '["نص"]', "list"), (600, "123", "int"), (600, '{"a": 1}', "dict")):
        stray = tmp_path / f"stray_{rows}_{kind}.jsonl"
        stray.write_text("\n".join([article] * rows + ['{"text": %s}' % value, article]) + "\n", encoding="utf-8")
        assert main(["build-tokenizer", "--corpus", str(stray), "--out", str(tmp_path / "tok"),
                     "--cache-dir", str(tmp_path / "cache")]) == 2
        err = capsys.readouterr().err
        assert f"{stray}" in err and f"line {rows + 1}: column `text` holds {kind}, not text; fix" in err, err
        assert err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "tok").exists()


def test_a_headline_that_is_not_text_reads_as_none(tmp_path):
    """As predict reads it: a number or a list in the title column is no headline, not an error."""
    from training.data.normalize import normalizer_for
    from training.encoders.corpus import corpus_texts

    corpus = tmp_path / "titles.jsonl"
    corpus.write_text('{"title": "عنوان", "text": "نص اول"}\n{"title": 5, "text": "نص ثان"}\n'
                      '{"title": ["x"], "text": "نص ثالث"}\n', encoding="utf-8")
    normalizer = normalizer_for("default")
    assert corpus_texts(corpus, normalizer) == normalizer.transform(
        compose_inputs(["نص اول", "نص ثان", "نص ثالث"], ["عنوان", "", ""]))


def test_empty_corpora_are_named_as_such(tmp_path):
    from training.encoders.corpus import load_corpus

    for name, content in (("empty.jsonl", b""), ("blank.jsonl", b"\n\n"), ("header.csv", b"title,text\n"),
                          ("empty.jsonl.gz", gzip.compress(b""))):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=f"{name}: the corpus is empty; expected one article per line"):
            load_corpus(tmp_path / name, cache_dir=str(tmp_path / "cache"))


def test_outputs_with_earlier_work_are_kept_unless_replaced(corpus, tokenizer_dir, cache_dir, tmp_path, capsys):
    """build-tokenizer replaces its OUT whole and pretrain starts afresh by deleting checkpoints: neither does so
    to a non-empty OUT without --overwrite, and a wrong input stops before OUT is touched."""
    encoder = tmp_path / "encoder"
    (encoder / "checkpoints" / "checkpoint-30").mkdir(parents=True)
    (encoder / "model.safetensors").write_bytes(b"an earlier encoder")
    common = ["--tokenizer", str(tokenizer_dir), "--out", str(encoder), "--cache-dir", str(cache_dir)]

    assert main(["build-tokenizer", "--corpus", str(corpus), "--out", str(encoder), "--cache-dir", str(cache_dir)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {encoder}: not empty; add --overwrite to replace everything in it, or choose another --out"
    a_file = tmp_path / "notes.txt"  # a file is never turned into a directory, --overwrite or not
    a_file.write_text("my notes", encoding="utf-8")
    for command in (["build-tokenizer", "--corpus", str(corpus)],
                    ["pretrain", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir)]):
        assert main([*command, "--out", str(a_file), "--overwrite"]) == 2
        assert capsys.readouterr().err.strip() == f"error: {a_file}: a file, not a directory; choose another --out"
    assert a_file.read_text(encoding="utf-8") == "my notes"
    assert main(["pretrain", "--corpus", str(corpus), *common, "--max-steps", "2"]) == 2
    assert "add --resume to continue it, --overwrite to replace it" in capsys.readouterr().err
    assert main(["pretrain", "--corpus", str(tmp_path / "typo.jsonl"), *common, "--overwrite"]) == 2
    assert "no such corpus file" in capsys.readouterr().err
    wrong_column = tmp_path / "body.jsonl"  # found only once the corpus is read: still before OUT is touched
    wrong_column.write_text('{"body": "نص"}\n' * 3, encoding="utf-8")
    assert main(["pretrain", "--corpus", str(wrong_column), *common, "--overwrite"]) == 2
    assert "text" in capsys.readouterr().err
    assert (encoder / "checkpoints" / "checkpoint-30").is_dir()  # nothing was deleted by the refused runs
    assert main(["pretrain", "--corpus", str(corpus), "--tokenizer", str(tmp_path / "no" / "such" / "tokenizer"),
                 "--out", str(tmp_path / "new")]) == 2
    assert f"--tokenizer {tmp_path / 'no' / 'such' / 'tokenizer'}: no such directory; build a tokenizer" in \
        capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert main(["pretrain", "--corpus", str(corpus), "--tokenizer", str(tmp_path), "--out", str(tmp_path / "new")]) == 2
    assert f"--tokenizer {tmp_path}: no tokenizer in this directory (none of tokenizer.json" in capsys.readouterr().err
    for flag in ("--max-steps", "--save-steps", "--time-budget-s"):
        assert main(["pretrain", "--corpus", str(corpus), *common, flag, "-1"]) == 2
        assert f"{flag} -1" in capsys.readouterr().err

    assert main(["pretrain", "--corpus", str(corpus), *common, "--overwrite", "--encoder.layers", "1",
                 "--encoder.hidden", "32", "--encoder.heads", "2", "--seq-len", "32", "--max-steps", "2"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (encoder / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # readable as the umask allows


def test_corpus_texts_reads_a_window_of_rows(corpus, cache_dir):
    from training.data.normalize import normalizer_for
    from training.encoders.corpus import corpus_texts, load_corpus

    normalizer = normalizer_for("default")
    rows = load_corpus(corpus, max_docs=3, cache_dir=str(cache_dir))
    expected = normalizer.transform(compose_inputs(rows["text"], rows["title"]))
    assert corpus_texts(corpus, normalizer, max_docs=2, skip_docs=1) == expected[1:3]


def test_corpus_columns_are_named_as_for_train(corpus, tokenizer_dir, cache_dir, tmp_path, capsys):
    """A CSV corpus whose body and headline are `article` and `headline`: with --data.text-column and
    --data.title-column, build-tokenizer learns the same vocabulary and pretrain packs the same blocks as from the
    same articles under the default names; without them, the error names the columns found and the flag."""
    from transformers import AutoTokenizer

    from training.encoders.corpus import CorpusColumns, load_corpus
    from training.encoders.pretrain import PretrainConfig, packed_blocks
    from training.encoders.tokenizer import resolve_normalizer

    rows = load_corpus(corpus, cache_dir=str(cache_dir))
    renamed = tmp_path / "renamed.csv"
    with renamed.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "headline", "article"])
        writer.writerows((i, title, text) for i, (title, text) in enumerate(zip(rows["title"], rows["text"])))
    flags = ["--data.text-column", "article", "--data.title-column", "headline"]
    common = ["--corpus", str(renamed), "--vocab-size", "1500", "--cache-dir", str(cache_dir)]
    assert main(["build-tokenizer", *common, "--out", str(tmp_path / "tok"), *flags]) == 0
    assert AutoTokenizer.from_pretrained(str(tmp_path / "tok")).get_vocab() == \
        AutoTokenizer.from_pretrained(str(tokenizer_dir)).get_vocab()

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    _, normalizer = resolve_normalizer("auto", str(tokenizer_dir))
    packed = [np.stack(packed_blocks(PretrainConfig(corpus=str(path), out="unused", tokenizer=str(tokenizer_dir),
                                                    seq_len=32, cache_dir=str(cache_dir), data=columns),
                                     tokenizer, normalizer)[:]["input_ids"])
              for path, columns in ((corpus, CorpusColumns()), (renamed, CorpusColumns("article", "headline")))]
    assert np.array_equal(*packed)

    capsys.readouterr()
    assert main(["build-tokenizer", *common, "--out", str(tmp_path / "tok2")]) == 2
    assert "no `text` column (found id, headline, article); name the column that holds the article body with " \
           "--data.text-column" in capsys.readouterr().err
    assert main(["build-tokenizer", *common, "--out", str(tmp_path / "tok2"), "--data.text-column", "article",
                 "--data.title-column", "heading"]) == 2
    assert "no `heading` column (found id, headline, article); fix --data.title-column" in capsys.readouterr().err
    assert not (tmp_path / "tok2").exists()


def test_group_blocks_and_whole_word_offsets():
    batch = {"input_ids": [[10, 11, 12], [20, 21], [30, 31, 32, 33]],
             "flags": [[WORD_START, CONTINUATION, WORD_START], [WORD_START, WORD_START],
                       [WORD_START, CONTINUATION, CONTINUATION, WORD_START]]}
    blocks = group_blocks(batch, seq_len=6, cls_id=1, sep_id=2)
    # stream: 10 11 12 S 20 21 S 30 31 32 33 S -> bodies of 4, the trailing partial body is dropped
    assert blocks["input_ids"] == [[1, 10, 11, 12, 2, 2], [1, 20, 21, 2, 30, 2], [1, 31, 32, 33, 2, 2]]
    flags = np.array(blocks["flags"])
    assert flags[0].tolist() == [SPECIAL, WORD_START, CONTINUATION, WORD_START, SPECIAL, SPECIAL]
    offsets = word_offsets(flags[0])
    assert offsets[2][0] == offsets[1][1]  # a continuation starts where its word's previous piece ended
    assert offsets[3][0] > offsets[2][1]  # a new word leaves a gap
    assert offsets[0].tolist() == [0, 0] and offsets[4].tolist() == [0, 0]


def test_packing_goes_through_datasets_and_its_cache(corpus, tokenizer_dir, cache_dir):
    """Blocks are a datasets.Dataset of equal-length [CLS] ... [SEP] rows; a second call is served from the cache
    files datasets wrote (same fingerprint), not recomputed."""
    from transformers import AutoTokenizer

    from training.encoders.pretrain import PretrainConfig, packed_blocks
    from training.encoders.tokenizer import resolve_normalizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = PretrainConfig(corpus=str(corpus), out="unused", tokenizer=str(tokenizer_dir), seq_len=32,
                            cache_dir=str(cache_dir))
    _, normalizer = resolve_normalizer("auto", str(tokenizer_dir))
    blocks = packed_blocks(config, tokenizer, normalizer)
    ids = np.stack(blocks[:]["input_ids"])
    assert ids.shape[1] == 32 and len(ids) > 50
    assert (ids[:, 0] == tokenizer.cls_token_id).all() and (ids[:, -1] == tokenizer.sep_token_id).all()
    assert blocks.cache_files and all(Path(f["filename"]).is_relative_to(cache_dir) for f in blocks.cache_files)
    again = packed_blocks(config, tokenizer, normalizer)
    assert again._fingerprint == blocks._fingerprint and again.cache_files == blocks.cache_files
    config.seq_len = 16  # another length is another fingerprint
    assert packed_blocks(config, tokenizer, normalizer)._fingerprint != blocks._fingerprint


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


@pytest.mark.slow  # builds and runs two BERT masked-language models
def test_sparse_mlm_head_matches_the_full_head():
    """Scoring masked positions only gives BertForMaskedLM's loss; with the Trainer's num_items_in_batch the loss
    is a sum over that count (what its gradient-accumulation and DDP scaling expect)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from training.encoders.electra import sparse_mlm_class

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
def test_pretrain_loss_falls_resumes_and_fine_tunes(corpus, tokenizer_dir, cache_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from training.encoders.tokenizer import read_normalizer_settings

    out = tmp_path / "encoder"
    common = ["pretrain", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--out", str(out),
              "--encoder.layers", "1", "--encoder.hidden", "64", "--encoder.heads", "2", "--seq-len", "64",
              "--batch-size", "16", "--learning-rate", "3e-3", "--max-steps", "40", "--save-steps", "20",
              "--eval-blocks", "16", "--warmup-ratio", "0.05", "--whole-word-mask", "--dropout", "0",
              "--cache-dir", str(cache_dir), "--fine-tuning.learning-rate", "4e-4"]
    # a first run cut short by its time budget leaves a checkpoint; --resume finishes the planned 40 steps
    assert main(common + ["--time-budget-s", "0.01"]) == 0
    first = json.loads((out / "pretrain_summary.json").read_text())
    assert first["stopped_by_time_budget"] and first["steps"] < 40
    assert list((out / "checkpoints").glob("checkpoint-*"))
    assert main(common + ["--resume"]) == 0
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["steps"] == 40 and summary["whole_word_mask"] is True and summary["objective"] == "mlm"
    assert main(common + ["--resume", "--max-steps", "20"]) == 2  # the checkpoint is already past 20 steps
    plan = (out / "pretrain_plan.json").read_text()
    assert main(common + ["--resume", "--max-steps", "60", "--objective", "electra"]) == 2  # another model entirely
    assert main(common + ["--resume", "--overwrite"]) == 2  # continue or replace: not both
    assert (out / "pretrain_plan.json").read_text() == plan
    assert json.loads((out / "pretrain_summary.json").read_text())["steps"] == 40
    with (out / "loss_curve.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert len(losses) >= 20 and rows[0]["step"] == "1"
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3, losses
    assert read_normalizer_settings(out)["preset"] == "default"
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    assert config["hidden_dropout_prob"] == 0.1  # pre-trained without dropout, fine-tuned with it
    # given on the command line, the rest from train's size rule for a 64-wide pre-trained encoder
    assert json.loads((out / "fine_tuning.json").read_text()) == {"learning_rate": 4e-4, "epochs": 12.0,
                                                                   "early_stopping_patience": 6}
    # the output is a normal checkpoint: the classifier loads its encoder weights
    model = AutoModelForSequenceClassification.from_pretrained(str(out), num_labels=4)
    assert model.config.hidden_size == 64

    # --init: continued pre-training of an existing checkpoint (its own tokenizer)
    adapted = tmp_path / "adapted"
    assert main(["pretrain", "--corpus", str(corpus), "--init", str(out), "--out", str(adapted), "--seq-len", "64",
                 "--batch-size", "8", "--max-steps", "3", "--no-whole-word-mask", "--cache-dir", str(cache_dir)]) == 0
    assert json.loads((adapted / "pretrain_summary.json").read_text())["init"] == str(out)
    assert (adapted / "model.safetensors").is_file() and (adapted / "tokenizer.json").is_file()


def test_electra_generator_shares_the_embeddings_and_learns_detection():
    """One embedding tensor for generator and discriminator (in the state dict once), and a generator loss that falls
    when trained on a fixed batch (its gradient reaches the shared embeddings through the tied output projection)."""
    import torch

    from training.encoders.electra import electra_pretrainer, generator_shape

    assert generator_shape(256, 4, 0.25) == (64, 1) and generator_shape(128, 2, 0.25) == (32, 1)
    torch.manual_seed(0)
    model = electra_pretrainer(32, 2, 0.25, 50.0, dict(vocab_size=60, num_hidden_layers=1, max_position_embeddings=64,
                                                       pad_token_id=0, hidden_dropout_prob=0.0,
                                                       attention_probs_dropout_prob=0.0))
    assert model.generator.embeddings is model.discriminator.electra.embeddings
    names = list(model.state_dict())
    assert sum("word_embeddings" in n for n in names) == 1 and not any(n.startswith("generator.embeddings.") for n in names)
    ids = torch.randint(5, 60, (8, 16))
    labels = torch.full_like(ids, -100)
    labels[:, ::4] = ids[:, ::4]
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        output = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
        output.loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        losses.append(output.generator_loss.item())
    assert losses[-1] < losses[0] - 0.5, losses


def test_detection_check_tells_a_discriminator_that_learnt_from_one_that_guesses():
    """An untrained discriminator is no better than guessing the replaced share; one trained on the batch is (what
    pretrain's warning rests on). MLM models have no discriminator: None."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from training.encoders.electra import detection_check, electra_pretrainer

    torch.manual_seed(0)
    model = electra_pretrainer(32, 2, 0.25, 50.0, dict(vocab_size=60, num_hidden_layers=1, max_position_embeddings=64,
                                                       pad_token_id=0, hidden_dropout_prob=0.0,
                                                       attention_probs_dropout_prob=0.0))
    ids = torch.randint(5, 60, (8, 16))

    def collate(rows: list[dict]) -> dict:  # every 4th token masked ([MASK] = 4), as the block collator's labels
        rows_ = [row["row"] for row in rows]
        labels = torch.full_like(ids, -100)
        labels[:, 1::4] = ids[:, 1::4]
        inputs = ids.clone()
        inputs[:, 1::4] = 4
        return {"input_ids": inputs[rows_], "attention_mask": torch.ones_like(inputs[rows_]), "labels": labels[rows_]}

    blocks = [{"row": i} for i in range(8)]
    before = detection_check(model, blocks, collate, 4)
    assert not before["learnt"] and before["detection_loss"] > before["guessing_loss"]
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        model(**collate(blocks)).loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    after = detection_check(model, blocks, collate, 4)
    assert after["learnt"] and after["detection_loss"] < 0.5 * after["guessing_loss"], after
    mlm = BertForMaskedLM(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64))
    assert detection_check(mlm, blocks, collate, 4) is None


@pytest.mark.slow
def test_electra_pretrain_writes_a_classifier_loadable_discriminator(corpus, tokenizer_dir, cache_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "electra"
    common = ["pretrain", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--out", str(out), "--objective",
              "electra", "--encoder.layers", "1", "--encoder.hidden", "64", "--encoder.heads", "2", "--seq-len", "32",
              "--batch-size", "8", "--max-steps", "6", "--save-steps", "3", "--eval-blocks", "8", "--mlm-probability",
              "0.25", "--dropout", "0", "--cache-dir", str(cache_dir), "--seed", "3"]
    assert main(common + ["--time-budget-s", "0.01"]) == 0
    assert json.loads((out / "pretrain_summary.json").read_text())["steps"] < 6
    assert main(common + ["--resume"]) == 0  # the pre-trainer's checkpoints (shared embeddings) resume too
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["objective"] == "electra" and summary["steps"] == 6
    assert summary["trained_parameters"] > summary["encoder_parameters"]  # the generator is trained, not kept
    assert set(summary["detection"]) == {"detection_loss", "guessing_loss", "learnt"}  # 6 steps: guessing at best
    assert 0.3 < summary["detection"]["guessing_loss"] < 0.6 and not summary["detection"]["learnt"]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["ElectraForPreTraining"] and config["hidden_dropout_prob"] == 0.1
    assert set(json.loads((out / "fine_tuning.json").read_text())) == {"learning_rate", "epochs", "early_stopping_patience"}
    model = AutoModelForSequenceClassification.from_pretrained(str(out), num_labels=4)
    assert type(model).__name__ == "ElectraForSequenceClassification" and model.config.hidden_size == 64
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    logits = model(**tokenizer(["مباراة كرة القدم"], return_tensors="pt")).logits
    assert logits.shape == (1, 4)


@pytest.mark.slow  # the GPU script's every step, tiny, on this CPU: tokenizer, pre-training, train, evaluate
def test_gpu_script_runs_every_step_in_smoke_mode(tmp_path):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    rows = (repo / "training" / "data" / "sample_data" / "sample_news.jsonl").read_text(encoding="utf-8").splitlines()
    labelled, corpus = tmp_path / "labelled.jsonl", tmp_path / "corpus.jsonl"
    labelled.write_text("\n".join(rows[:220]) + "\n", encoding="utf-8")
    corpus.write_text("".join(json.dumps({"title": row.get("title", ""), "text": row["text"]}, ensure_ascii=False) + "\n"
                              for row in map(json.loads, rows[220:])), encoding="utf-8")
    env = {**os.environ, "GPU_RUN_SMOKE": "1", "PYTHON": sys.executable, "DATA": str(labelled), "TEST": str(labelled),
           "CORPUS": str(corpus), "OUT": str(tmp_path / "gpu-run")}
    done = subprocess.run(["bash", str(repo / "benchmarks" / "gpu_run.sh")], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "selected:" in done.stdout and "ensemble     validation macro-F1" in done.stdout, done.stdout[-2000:]
    summary = json.loads((tmp_path / "gpu-run" / "encoder" / "pretrain_summary.json").read_text())
    assert summary["encoder_parameters"] > 0 and summary["steps"] >= 1
    evaluation = json.loads((tmp_path / "gpu-run" / "evaluation" / "evaluation.json").read_text())
    # every candidate scored on the same test articles (the self-trained baseline is a blend: model type ensemble)
    assert sorted(Path(name).name for name in evaluation["models"]) == ["baseline", "ensemble", "transformer"]
