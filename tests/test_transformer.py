"""Transformer fine-tuning: truncation, normaliser choice, settings chosen for the checkpoint, plateau-aware early
stopping, the loss, compact encoder, local checkpoints, distillation, artefacts, DDP.

Everything runs offline on tiny models: checkpoints are built here with ``save_pretrained`` and loaded through
the same ``from_pretrained`` path a hub id takes.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.config import DataConfig, TransformerConfig
from training.data.loading import load_data
from training.models.truncation import encode_articles, keep_tokens, split_budget

REPO = Path(__file__).resolve().parents[1]


def tiny_config(**overrides) -> TransformerConfig:
    """A configuration small enough for a test: short sequences, few steps, no early stop surprises."""
    config = TransformerConfig(max_length=64, batch_size=8, evals_per_epoch=1, threads=0, predict_batch_size=16)
    for key, value in overrides.items():
        if key in ("vocab_size", "layers", "hidden", "heads"):
            setattr(config.compact, key, value)
        else:
            setattr(config, key, value)
    return config


def make_checkpoint(directory: Path, texts: list[str], *, vocab_size: int = 600, hidden: int = 32, layers: int = 1,
                    max_positions: int = 128, seed: int = 13) -> Path:
    """A tiny randomly initialised BERT checkpoint (model + tokenizer) saved like a hub repository; ``seed`` drives
    its initialisation (unseeded, it depended on what earlier tests had drawn from torch's generator)."""
    from transformers import BertConfig, BertForMaskedLM, set_seed

    from training.encoders.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(texts, vocab_size=vocab_size)
    tokenizer.model_max_length = int(1e30)  # like several Arabic hub tokenizers
    set_seed(seed)
    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                                       num_attention_heads=2, intermediate_size=2 * hidden,
                                       max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def single_label_data(sample_data):
    return load_data(DataConfig(multi_label="no"), seed=13)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, sample_data) -> Path:
    from training.data.normalize import normalizer_for

    texts = normalizer_for("default").transform(sample_data.train.texts)
    return make_checkpoint(tmp_path_factory.mktemp("tiny-bert"), texts)


@pytest.fixture(scope="session")
def compact_run(tmp_path_factory, sample_data):
    """The compact encoder (tokenizer built from the training texts) trained on the multi-label sample corpus."""
    from training.models.transformer_training import train_transformer

    config = tiny_config(batch_size=16, vocab_size=4000, epochs=12, early_stopping_patience=0, max_steps=200)
    classifier, log = train_transformer(sample_data, config, seed=13, work_dir=tmp_path_factory.mktemp("work") / "w")
    return classifier, log


# ----------------------------------------------------------------------------------------- truncation

def test_keep_tokens_head_tail_keeps_exactly_the_ends():
    tokens = list(range(100))
    assert keep_tokens(tokens, 10, "head_tail", 0.3) == [0, 1, 2, 93, 94, 95, 96, 97, 98, 99]
    assert keep_tokens(tokens, 10, "head", 0.3) == list(range(10))
    assert keep_tokens(tokens, 10, "head_tail", 0.0) == list(range(90, 100))
    assert keep_tokens(tokens, 10, "head_tail", 1.0) == list(range(10))
    assert keep_tokens(tokens[:7], 10, "head_tail", 0.3) == list(range(7))  # within budget: whole
    assert split_budget(254, 0.25) == (64, 190)  # 63.5 rounds up
    with pytest.raises(ValueError):
        keep_tokens(tokens, 10, "middle")


def test_encode_articles_head_tail_on_a_real_tokenizer():
    from training.encoders.tokenizer import build_tokenizer

    words = [f"w{i}" for i in range(40)]
    tokenizer = build_tokenizer([" ".join(words)] * 3, vocab_size=200, min_frequency=1)
    (ids,) = encode_articles(tokenizer, [" ".join(words)], max_length=12, strategy="head_tail", head_fraction=0.25)
    # budget 10 = 12 - [CLS] - [SEP]; head round(2.5) = 3 (half up), tail 7
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "w0", "w1", "w2"] + [f"w{i}" for i in range(33, 40)] + ["[SEP]"]
    (head_only,) = encode_articles(tokenizer, [" ".join(words)], max_length=12, strategy="head")
    assert tokenizer.convert_ids_to_tokens(head_only) == ["[CLS]"] + words[:10] + ["[SEP]"]
    (short,) = encode_articles(tokenizer, ["w1 w2"], max_length=12)
    assert tokenizer.convert_ids_to_tokens(short) == ["[CLS]", "w1", "w2", "[SEP]"]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_long_texts_tokenised_by_their_ends_give_the_whole_texts_tokens(kind, sample_data):
    """Only the ends of a long text are tokenised; the kept ids must equal those of tokenising it whole."""
    import random

    from training.encoders.tokenizer import build_tokenizer
    from training.models.truncation import special_affixes, splits_at_whitespace

    texts = list(sample_data.train.texts)
    tokenizer = build_tokenizer(texts, vocab_size=1500, kind=kind)
    assert splits_at_whitespace(tokenizer)
    rng = random.Random(13)
    corpus = " ".join(texts)
    long_word = "".join(rng.choice("ابتثجحخدذرزسشصضطظعغفقكلمنهوي") for _ in range(3000))
    articles = [corpus[:n] for n in (50, 700, 3000, 20_000, 100_000)]
    articles += [long_word, f"{long_word} {corpus[:5000]} {long_word}",  # words far longer than the guess per token
                 corpus[:8000].replace(" ", "\n\t", 300), "\u001c".join(corpus[:6000].split(" ")),
                 " " + corpus[:9000] + "  ", "كلمة " * 4000]
    prefix, suffix = special_affixes(tokenizer)
    for max_length in (8, 64, 256):
        for strategy, fraction in (("head_tail", 0.25), ("head_tail", 0.0), ("head_tail", 1.0), ("head", 0.25)):
            got = encode_articles(tokenizer, articles, max_length, strategy, fraction)
            budget = max_length - len(prefix) - len(suffix)
            whole = tokenizer(articles, add_special_tokens=False, truncation=False)["input_ids"]
            expected = [prefix + keep_tokens(ids, budget, strategy, fraction) + suffix for ids in whole]
            for article, g, e in zip(articles, got, expected):
                assert g == e, (kind, max_length, strategy, fraction, len(article))


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_a_vocabulary_depends_on_the_texts_alone(kind, sample_data):
    """`tokenizers`' own WordPiece/BPE trainer numbered its ``##`` pieces in hash-map order, so the same texts gave a
    different vocabulary (and a different fine-tuned model) on every build; and the pieces must spell the words."""
    from training.data.normalize import normalizer_for
    from training.encoders.tokenizer import build_tokenizer

    texts = normalizer_for("default").transform(sample_data.train.texts) + ["عاجل\U0001F600 \U0001F600x اب\u06a4ت"] * 3
    first, second = (build_tokenizer(texts, vocab_size=1500, kind=kind) for _ in range(2))
    assert first.get_vocab() == second.get_vocab()
    assert first(texts[:20])["input_ids"] == second(texts[:20])["input_ids"]
    assert any(piece.startswith("##") for piece in first.get_vocab()) and "[MASK]" in first.all_special_tokens
    for word in texts[0].split()[:30] + ["الارهابيين", "عاجل\U0001F600", "\U0001F600x", "\u06a4"]:  # ڤ: inside words only
        pieces = first.tokenize(word)
        assert "[UNK]" not in pieces and pieces[0][:2] != "##", (word, pieces)
        assert "".join(p.removeprefix("##") for p in pieces) == word.lower(), (word, pieces)


def test_normalizer_preset_follows_the_checkpoint(tmp_path):
    from training.encoders.tokenizer import resolve_normalizer, write_normalizer_settings

    assert resolve_normalizer("auto", "aubmindlab/bert-base-arabertv02")[0] == "arabert"
    assert resolve_normalizer("auto", "UBC-NLP/MARBERTv2")[0] == "default"
    assert resolve_normalizer("auto", None)[0] == "default"
    assert resolve_normalizer("minimal", "aubmindlab/bert-base-arabertv02")[0] == "minimal"
    write_normalizer_settings(tmp_path, "arabert", {"unify_alef": False, "unify_ta_marbuta": False})
    preset, normalizer = resolve_normalizer("auto", str(tmp_path))
    assert preset == "arabert" and normalizer.get_params()["unify_alef"] is False


def test_hub_id_without_network_fails_with_a_clear_message(single_label_data):
    from training.config import ConfigError
    from training.models.transformer_training import train_transformer

    config = tiny_config(model="aubmindlab/bert-base-arabertv02-no-such-copy", max_steps=1)
    with pytest.raises(ConfigError, match="network"):
        train_transformer(single_label_data, config, seed=13)


# ------------------------------------------------------------------------------------- compact encoder

@pytest.mark.slow
def test_compact_encoder_learns_the_sample_corpus(compact_run, sample_data):
    from training.evaluation.metrics import evaluate_scores

    classifier, log = compact_run
    assert log["compact"]["vocab_size"] <= 4000 and log["steps"] > 0
    scores = classifier.predict_scores(sample_data.test.texts, sample_data.test.titles)
    metrics = evaluate_scores(scores, sample_data.test, sample_data.label_names, sample_data.multi_label, classifier.thresholds)
    chance = 1 / len(sample_data.label_names)
    assert metrics["accuracy"] > chance + 0.2, (metrics["accuracy"], log["evaluations"])
    assert log["best_validation_macro_f1"] == max(e["macro_f1"] for e in log["evaluations"]) or \
        abs(log["best_validation_macro_f1"] - max(e["macro_f1"] for e in log["evaluations"])) < 1e-3


@pytest.mark.slow
def test_multi_label_head_thresholds_and_artefact_round_trip(compact_run, sample_data, tmp_path):
    import training
    from training.artifact import save

    classifier, _ = compact_run
    assert sample_data.multi_label and classifier.model.config.problem_type == "multi_label_classification"
    assert classifier.model.config.id2label == dict(enumerate(sample_data.label_names))
    scores = classifier.predict_scores(sample_data.test.texts, sample_data.test.titles)
    assert scores.shape == (len(sample_data.test), len(sample_data.label_names))
    assert not np.allclose(scores.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    path = save(classifier, tmp_path / "artifact", {"seed": 13})
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model_type"] == "transformer" and manifest["multi_label"] is True
    assert len(manifest["thresholds"]) == len(sample_data.label_names)
    assert np.allclose(manifest["thresholds"], classifier.thresholds, atol=1e-4)
    assert manifest["model"]["source"] == "compact" and manifest["model"]["truncation"] == "head_tail"
    assert manifest["model"]["max_length"] == 64 and manifest["normalizer_preset"] == "default"
    assert manifest["normalizer"] == classifier.normalizer.get_params()
    assert (path / "model" / "model.safetensors").is_file() and (path / "model" / "tokenizer.json").is_file()
    loaded = training.load(path)
    assert np.allclose(loaded.predict_scores(sample_data.test.texts, sample_data.test.titles), scores, atol=1e-6)
    one = loaded.predict([sample_data.test.texts[0]], [sample_data.test.titles[0]])[0]
    assert one.label in sample_data.label_names and set(one.scores) == set(sample_data.label_names)
    assert loaded.predict_scores([]).shape == (0, len(sample_data.label_names))


# ------------------------------------------------------------------------------------ local checkpoint

@pytest.mark.slow
def test_local_checkpoint_through_a_training_run(tiny_checkpoint, tmp_path, monkeypatch):
    """``--transformer.model DIR --transformer.export-onnx`` end to end: train.run -> artefact with int8 ONNX ->
    training.load scores with ONNX Runtime, single-label softmax, close to the same artefact scored by torch."""
    import training
    from training.config import TrainConfig
    from training.models.onnx_export import OnnxScorer
    from training.train import run

    config = TrainConfig(out=str(tmp_path / "run"), models=["transformer"])
    config.data.multi_label = "no"
    config.transformer = tiny_config(model=str(tiny_checkpoint), max_steps=6, learning_rate=1e-3, export_onnx=True)
    report = run(config)
    artefact = Path(report["candidates"]["transformer"]["artifact"])
    manifest = json.loads((artefact / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["source"] == str(tiny_checkpoint) and manifest["model"]["source_kind"] == "local"
    assert manifest["training"]["steps"] == 6 and manifest["training"]["stopped_by"] == "max_steps"
    assert not (tmp_path / "run" / "transformer-work").exists()  # no checkpoints left behind
    umask = os.umask(0)
    os.umask(umask)
    weights = list(artefact.rglob("*.safetensors"))
    assert weights and all(w.stat().st_mode & 0o777 == 0o666 & ~umask for w in weights)  # safetensors writes 0600
    loaded = training.load(artefact)  # auto: the int8 ONNX model, torch weights not even read
    assert loaded.tokenizer.model_max_length == 64  # not the checkpoint's 1e30
    assert loaded.batch_size == 16  # --transformer.predict-batch-size holds for the saved model too
    assert loaded.backend == "onnx" and loaded.model is None and isinstance(loaded.onnx_session, OnnxScorer)
    scores = loaded.predict_scores(["مباراة كرة القدم انتهت بفوز الفريق"], ["رياضة"])
    assert np.isclose(scores.sum(), 1.0)
    # the export happened inside the run, before the artefact was sealed: listed, checksummed, and used
    onnx = manifest["model"]["onnx"]
    assert {onnx["fp32"], onnx["int8"]} <= set(manifest["files"]) and (artefact / onnx["int8"]).is_file()
    with_torch = training.load(artefact, backend="torch")
    assert with_torch.backend == "torch" and with_torch.onnx_session is None
    assert with_torch.model.config.problem_type == "single_label_classification"
    monkeypatch.setenv("ARABIC_NEWS_ONNX", "0")  # the operator's switch for "auto"
    assert training.load(artefact).backend == "torch"
    texts = ["مباراة كرة القدم انتهت بفوز الفريق", "اجتماع وزراء الخارجية لبحث التعاون", "هجوم إرهابي في المدينة"]
    np.testing.assert_allclose(loaded.predict_scores(texts), with_torch.predict_scores(texts), atol=0.15)
    # the run records the settings it chose and why
    plan = manifest["training"]["fine_tuning"]
    assert plan["learning_rate"] == {"value": 1e-3, "reason": "--transformer.learning-rate"}
    assert plan["epochs"]["reason"].startswith("auto: compact pre-trained encoder")


# ----------------------------------------------------------------------------------------------- DDP

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unusable_checkpoints_are_refused_before_training(tiny_checkpoint, tmp_path, single_label_data):
    """A checkpoint that would train a useless model, or fail mid-way, is refused before the baseline trains."""
    from training.config import ConfigError, TrainConfig, check
    from training.encoders.tokenizer import build_tokenizer
    from training.train import run

    def refused(checkpoint: Path, max_length: int = 64) -> str:
        config = TrainConfig(out=str(tmp_path / "run"), models=["baseline", "transformer"])
        config.transformer = tiny_config(model=str(checkpoint), max_length=max_length)
        with pytest.raises(ConfigError) as error:
            run(config)
        assert not (tmp_path / "run").exists()  # refused before anything was trained or written
        return str(error.value)

    def copy(name: str) -> Path:
        return Path(shutil.copytree(tiny_checkpoint, tmp_path / name))

    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_checkpoint, no_tokenizer, ignore=shutil.ignore_patterns("tokenizer*", "vocab*"))
    assert "no tokenizer files (tokenizer.json or vocab.txt)" in refused(no_tokenizer)
    assert refused(tiny_checkpoint, max_length=200) == (
        f"--transformer.max-length 200: {tiny_checkpoint} has 128 positions; use --transformer.max-length 128 or less")
    other_tokenizer = copy("other-tokenizer")
    build_tokenizer(single_label_data.train.texts[:50], vocab_size=120).save_pretrained(str(other_tokenizer))
    assert "tokenizer has" in refused(other_tokenizer) and "they belong to different checkpoints" in refused(other_tokenizer)
    misspelt = copy("misspelt")
    (misspelt / "fine_tuning.json").write_text('{"lr": 0.1}', encoding="utf-8")
    assert "unknown field 'lr'; rename or remove it (the fields are learning_rate, epochs" in refused(misspelt)
    with pytest.raises(ConfigError, match="at least 8 tokens"):
        check(tiny_config(max_length=0))
    with pytest.raises(ConfigError, match="--transformer.max-steps 0"):
        check(tiny_config(max_steps=0))


def test_a_model_that_learnt_nothing_is_reported(tiny_checkpoint, tmp_path, single_label_data, caplog):
    """One optimiser step leaves the model at its starting plateau: the log says so and how to fix it."""
    from training.models.transformer_training import train_transformer

    with caplog.at_level("WARNING", logger="training.models.transformer_training"):
        _, log = train_transformer(single_label_data, tiny_config(model=str(tiny_checkpoint), max_steps=1), seed=13,
                                   work_dir=tmp_path / "work")
    assert log["early_stopping"]["left_plateau"] is False, log["evaluations"]
    assert "did not learn the topics" in caplog.text and "--transformer.epochs" in caplog.text


def test_a_checkpoint_under_the_home_directory(tiny_checkpoint, tmp_path, single_label_data, monkeypatch):
    """``~/encoder`` is a directory, not a hub id (transformers would not expand it)."""
    from training.models.transformer_training import train_transformer

    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(tiny_checkpoint, tmp_path / "encoder")
    classifier, log = train_transformer(single_label_data, tiny_config(model="~/encoder", max_steps=1), seed=13,
                                        work_dir=tmp_path / "work")
    assert classifier.source == str(tmp_path / "encoder") and classifier.source_kind == "local"


@pytest.mark.slow
def test_two_process_torchrun_fine_tune(tiny_checkpoint, tmp_path):
    """``torchrun --nproc_per_node 2 -m training train``: gloo DDP on CPU, one artefact written by rank 0."""
    import training

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
         "-m", "training", "train", "--models", "transformer", "--transformer.model", str(tiny_checkpoint),
         "--transformer.max-steps", "4", "--transformer.max-length", "64", "--transformer.batch-size", "8",
         "--transformer.learning-rate", "1e-3", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count("best: transformer") == 1  # only rank 0 reports
    manifest = json.loads((out / "artifacts" / "transformer" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["processes"] == 2 and manifest["training"]["steps"] == 4
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["best"] == "transformer"
    assert not (out / "transformer-work").exists()
    loaded = training.load(out / "artifacts" / "transformer")
    assert loaded.predict(["نص عن مباراة كرة القدم"])[0].label in loaded.labels


# ------------------------------------------------------------------- settings chosen for the checkpoint

def test_fine_tuning_settings_follow_the_checkpoint(tmp_path):
    from training.config import ConfigError
    from training.models.fine_tuning import plan_fine_tuning

    def values(plan):
        return tuple(plan[key]["value"] for key in ("learning_rate", "epochs", "early_stopping_patience"))

    config = TransformerConfig()
    assert values(plan_fine_tuning(config, 128, from_scratch=True)) == (1e-3, 15.0, 6)
    assert values(plan_fine_tuning(config, 64, from_scratch=False)) == (5e-4, 12.0, 6)
    assert values(plan_fine_tuning(config, 768, from_scratch=False)) == (5e-5, 4.0, 2)
    assert values(plan_fine_tuning(config, 1024, from_scratch=False))[0] == 3e-5
    # the checkpoint's fine_tuning.json (written by pretrain) beats the size rule; an explicit setting beats both
    (tmp_path / "fine_tuning.json").write_text(json.dumps({"learning_rate": 2e-4, "epochs": 7}))
    config = TransformerConfig(model=str(tmp_path), early_stopping_patience=0, epochs=3.0)
    plan = plan_fine_tuning(config, 64, from_scratch=False)
    assert values(plan) == (2e-4, 3.0, 0)
    assert plan["learning_rate"]["reason"].endswith("fine_tuning.json") and plan["epochs"]["reason"] == "--transformer.epochs"
    (tmp_path / "fine_tuning.json").write_text('{"learning_rate": "fast"}')
    with pytest.raises(ConfigError, match="fine_tuning.json: field 'learning_rate'"):
        plan_fine_tuning(config, 64, from_scratch=False)


def test_compact_section_flags_and_auto_defaults_on_the_command_line():
    import argparse

    from training.config import TrainConfig
    from training.settings import ConfigError, add_config_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TrainConfig)
    config = config_from_args(parser.parse_args(["--transformer.compact.layers", "3", "--transformer.epochs", "5"]), TrainConfig())
    assert config.transformer.compact.layers == 3 and config.transformer.epochs == 5.0
    assert config.transformer.learning_rate is None and config.transformer.early_stopping_patience is None  # auto
    with pytest.raises(ConfigError, match="not divisible by heads 3"):
        config_from_args(parser.parse_args(["--transformer.compact.heads", "3"]), TrainConfig())
    with pytest.raises(ConfigError, match="--transformer.learning-rate"):
        config_from_args(parser.parse_args(["--transformer.learning-rate", "-1"]), TrainConfig())


def test_early_stopping_waits_for_the_run_to_leave_its_plateau():
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from training.models.fine_tuning import majority_macro_f1, plateau_early_stopping, plateau_macro_f1

    assert majority_macro_f1(np.array([0, 0, 1, 2])) == pytest.approx(2 * 0.5 / 1.5 / 3)  # class 3 is not in it
    assert plateau_macro_f1(np.array([0, 0, 0, 0, 1, 1, 2, 3])) == pytest.approx(2 * (2 * 0.5 / 1.5 / 4))  # one class
    assert plateau_macro_f1(np.array([0, 1, 2, 3] * 3)) == pytest.approx(0.25 + 0.05)  # guessing: 2 x 0.1 is below it
    args = TrainingArguments(output_dir="unused", metric_for_best_model="macro_f1", greater_is_better=True, report_to="none")
    callback = plateau_early_stopping(patience=2, plateau_level=0.2, min_epoch=5.0)
    state, control = TrainerState(), TrainerControl()
    state.best_metric = 0.1
    for epoch in (1, 2, 3, 4):  # stuck at the starting plateau: never stops
        state.epoch = epoch
        callback.on_evaluate(args, state, control, {"eval_macro_f1": 0.1})
        assert not control.should_training_stop and callback.early_stopping_patience_counter == 0
    state.epoch, state.best_metric = 4.5, 0.5
    callback.on_evaluate(args, state, control, {"eval_macro_f1": 0.5})  # left the plateau: counting starts
    assert callback.armed_at == 4.5
    for _ in range(2):
        callback.on_evaluate(args, state, control, {"eval_macro_f1": 0.4})
    assert control.should_training_stop


def test_loss_matches_weighted_cross_entropy_and_accepts_soft_targets():
    import torch
    import torch.nn.functional as F

    from training.models.fine_tuning import class_weights, soft_target_loss, target_rows

    weights = class_weights(np.array([0, 0, 0, 1, 2, 2]), 4)
    assert np.allclose(weights[:3], [6 / 9, 2.0, 1.0]) and weights[3] == 1.0  # sklearn 'balanced'; absent class 1
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    gold = np.array([0, 1, 2, 2, 0])
    labels = torch.tensor(target_rows(np.eye(4)[gold], weights[gold]))
    loss = soft_target_loss(multi_label=False)({"logits": logits}, labels)
    expected = F.cross_entropy(logits, torch.tensor(gold), weight=torch.tensor(weights, dtype=torch.float32))
    assert torch.isclose(loss, expected, atol=1e-6)
    soft = np.full((1, 4), 0.25)  # a teacher's uniform distribution: the loss is the cross-entropy to it
    loss = soft_target_loss(multi_label=False)({"logits": logits[:1]}, torch.tensor(target_rows(soft, [1.0])))
    assert torch.isclose(loss, -F.log_softmax(logits[:1], dim=-1).mean(), atol=1e-6)


@pytest.mark.slow
def test_default_flags_fine_tune_a_barely_pretrained_compact_encoder(tmp_path, single_label_data):
    """The reported failure: a 2x64 encoder with a 4000 vocabulary and (almost) no pre-training, fine-tuned with
    default flags on a few hundred articles, predicted one class (macro-F1 0.043) under BERT-base defaults."""
    from training.data.normalize import normalizer_for
    from training.evaluation.metrics import evaluate_scores
    from training.models.transformer_training import train_transformer

    texts = normalizer_for("default").transform(single_label_data.train.texts)
    checkpoint = make_checkpoint(tmp_path / "encoder", texts, vocab_size=4000, hidden=64, layers=2, max_positions=512)
    config = TransformerConfig(model=str(checkpoint), threads=1)  # every fine-tuning setting left to auto
    classifier, log = train_transformer(single_label_data, config, seed=13, work_dir=tmp_path / "work")
    test = single_label_data.test
    scores = classifier.predict_scores(test.texts, test.titles)
    metrics = evaluate_scores(scores, test, single_label_data.label_names, False, classifier.thresholds)
    chance = 1 / len(single_label_data.label_names)
    assert log["fine_tuning"]["learning_rate"]["value"] == 5e-4, log["fine_tuning"]
    assert len(set(scores.argmax(axis=1))) > 1 and log["early_stopping"]["left_plateau"], log["evaluations"]
    print("regression scenario:", metrics["macro_f1"], log["stopped_by"], log["evaluations"])
    assert metrics["macro_f1"] > chance + 0.2, (metrics["macro_f1"], log["evaluations"], log["stopped_by"])


# ------------------------------------------------------------------------------------------ distillation

def test_teacher_labels_in_the_data_label_order(single_label_data):
    from training.artifact import Classifier
    from training.models.distillation import soften, teacher_labels

    class ReversedLabelTeacher(Classifier):  # a real Classifier whose label order differs from the data's
        model_type = "test"

        def predict_scores(self, texts, titles=None):
            return np.tile(np.linspace(0.1, 0.4, len(self.labels)), (len(texts), 1)) / 1.0

        def save_model_files(self, directory):
            return {}

        @classmethod
        def load_model_files(cls, directory, manifest):
            raise NotImplementedError

    data = single_label_data
    teacher = ReversedLabelTeacher(labels=data.label_names[::-1], multi_label=False)
    result = teacher_labels(teacher, data, ["نص جديد غير موسوم عن الاقتصاد"], [None], temperature=1.0, teacher_name="t")
    assert result.texts == ["نص جديد غير موسوم عن الاقتصاد"]
    raw = np.linspace(0.1, 0.4, 4)
    assert np.allclose(result.probabilities[0], (raw / raw.sum())[::-1])  # reordered to the data's labels
    flatter = soften(np.array([[0.7, 0.2, 0.1]]), 2.0, multi_label=False)
    assert flatter[0, 0] < 0.7 and np.isclose(flatter.sum(), 1.0)


@pytest.mark.slow
def test_train_with_unlabelled_articles_distils_the_baseline(tiny_checkpoint, tmp_path, sample_data):
    """``train --models baseline,transformer --unlabelled FILE``: the baseline labels the file's articles and the
    transformer trains on them plus the gold rows; validation and test keep their gold articles only."""
    from training.config import TrainConfig
    from training.train import run

    unlabelled = tmp_path / "unlabelled.jsonl"
    rows = [{"id": f"u{i}", "title": "", "text": " ".join(reversed(x.split()))}  # new articles, familiar words
            for i, x in enumerate(sample_data.train.texts)]
    rows.insert(0, {"id": "copy", "title": sample_data.test.titles[0] or "", "text": sample_data.test.texts[0]})
    unlabelled.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    config = TrainConfig(out=str(tmp_path / "run"), models=["baseline", "transformer"], unlabelled=str(unlabelled))
    config.data.multi_label = "no"
    config.baseline.c_values, config.baseline.selection = [1.0], "validation"
    config.transformer = tiny_config(model=str(tiny_checkpoint), max_steps=4, distill_articles=len(rows))
    report = run(config)
    log = report["candidates"]["transformer"]["training"]
    assert log["distillation"]["teacher"] == "baseline"
    assert log["distillation"]["articles"] == len(rows) - 1  # the copy of a test article was dropped
    assert log["distillation"]["copies_of_labelled_dropped"] == 1  # and the record says so
    # without a baseline in --models, one is trained as the baseline would be (self-trained, word clusters) to teach
    config.out, config.models, config.baseline.word_clusters = str(tmp_path / "run2"), ["transformer"], 20
    teacher = run(config)["candidates"]["transformer"]["training"]["distillation"]["teacher"]
    assert teacher.startswith("baseline trained as teacher (self-training kept ") and teacher.endswith(" word clusters)")
    config.transformer.distill_articles = 0  # off: no teacher-labelled rows
    config.out = str(tmp_path / "run3")
    assert run(config)["candidates"]["transformer"]["training"]["distillation"] is None
