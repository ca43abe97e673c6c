"""Self-training of the baseline from unlabelled articles (`train --unlabelled`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import training
from training.cli import main
from training.config import BaselineConfig, TrainConfig
from training.data.normalize import normalizer_for
from training.models.baseline import PseudoLabelled, train_baseline
from training.models.self_training import quotas, select_pseudo_labels

FAST = BaselineConfig(classifiers=["logreg"], c_values=[4.0], selection="validation")


def test_quotas_follow_the_training_counts_with_a_floor() -> None:
    # 500 of 1,000 training articles are 'other': half of the 100 wanted; a label never seen gets none
    assert quotas(np.array([100, 500, 400, 0]), total=100, floor=15).tolist() == [15, 50, 40, 0]


def test_most_confident_articles_per_label_in_a_stable_order() -> None:
    scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05], [0.45, 0.55], [0.9, 0.1]])
    rows, labels = select_pseudo_labels(scores, wanted=np.array([2, 5]), min_confidence=0.56)
    # label 0: rows 3 (0.95), then 0 and 5 tie at 0.9 and the earlier row wins; label 1: only row 2 reaches 0.56
    assert rows.tolist() == [3, 0, 2] and labels.tolist() == [0, 0, 1]


def test_pseudo_labels_are_weighted(sample_data) -> None:
    """Wrong pseudo-labels at full weight hurt; at a tiny weight the model is the gold-only one."""
    normalizer = normalizer_for("default")
    gold, _ = train_baseline(sample_data, FAST, normalizer, seed=13)
    texts = [f"{text} خبر" for text in sample_data.train.texts]  # not copies, same topics
    sport = sample_data.label_names.index("sport")
    wrong = np.full(len(texts), sport)
    heavy, _ = train_baseline(sample_data, FAST, normalizer, 13, pseudo=PseudoLabelled(texts, [""] * len(texts), wrong, 1.0))
    light, _ = train_baseline(sample_data, FAST, normalizer, 13, pseudo=PseudoLabelled(texts, [""] * len(texts), wrong, 1e-4))
    valid = sample_data.validation
    sport_share = lambda model: float((model.predict_scores(valid.texts, valid.titles).argmax(1) == sport).mean())  # noqa: E731
    assert sport_share(heavy) > sport_share(gold) + 0.2
    assert abs(sport_share(light) - sport_share(gold)) < 0.05


@pytest.mark.slow
def test_train_with_unlabelled_articles(sample_data, tmp_path: Path) -> None:
    unlabelled = tmp_path / "unlabelled.jsonl"
    rows = [{"id": f"u{i}", "title": title, "text": f"{text} (نقلا عن وكالات)"}
            for i, (title, text) in enumerate(zip(sample_data.train.titles, sample_data.train.texts))]
    copies = [{"id": f"v{i}", "title": t, "text": x}  # exact copies of validation articles: never used
              for i, (t, x) in enumerate(zip(sample_data.validation.titles, sample_data.validation.texts))]
    unlabelled.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows + copies), encoding="utf-8")
    config = TrainConfig(out=str(tmp_path / "run"), unlabelled=str(unlabelled), baseline=FAST)
    config.self_training.articles, config.self_training.min_per_label, config.self_training.weights = 60, 10, [0.3]

    from training.train import run

    report = run(config)
    log = report["candidates"]["baseline"]["training"]["self_training"]
    assert log["unlabelled_articles"] == len(rows)  # the validation copies were dropped
    trials = {t["weight"]: t["macro_f1"] for t in log["blend"]["weight_trials"]}
    assert set(trials) == {1.0, 0.7, 0.5, 0.3, 0.0}  # gold alone, blends, self-trained alone: best on validation kept
    best = max(trials.values())
    assert log["kept"] in ("gold only", "self-trained") or log["kept"].startswith("blend, gold weight")
    kept_weight = {"gold only": 1.0, "self-trained": 0.0}.get(log["kept"]) or float(log["kept"].rsplit(" ", 1)[1])
    assert trials[kept_weight] == best
    model = training.load(report["best_artifact"])  # whatever was kept saves, loads and predicts
    assert model.predict([sample_data.test.texts[0]])[0].label in sample_data.label_names
    added = log["trials"][0]["added"]
    assert set(added) == set(sample_data.label_names) and 0 < sum(added.values()) <= 60 + 10 * len(added)
    assert "## Self-training (baseline)" in (tmp_path / "run" / "report.md").read_text(encoding="utf-8")


def test_the_reserved_holdout_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    holdout = tmp_path / "holdout"
    holdout.mkdir()
    (holdout / "articles.jsonl").write_text('{"text": "نص"}\n', encoding="utf-8")
    assert main(["train", "--out", str(tmp_path / "run"), "--unlabelled", str(holdout / "articles.jsonl")]) == 2
    assert "reserved for final evaluation" in capsys.readouterr().err
    assert not (tmp_path / "run" / "report.json").exists()
