"""Word-cluster features of the baseline (`--baseline.word-clusters`): learnt clusters, the block, a whole run."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

import training
from training.artifact import save
from training.config import BaselineConfig, TrainConfig
from training.data.normalize import normalizer_for
from training.evaluation.explain import explain_linear
from training.models.baseline import build_features, train_baseline
from training.models.word_clusters import ClusterTokens, learn_word_clusters, word_vectors

SPORT = ["كرة", "مباراة", "هدف", "ملعب", "لاعب", "مدرب"]
POLITICS = ["وزير", "سفير", "قمة", "اتفاق", "حكومة", "برلمان"]


def topic_docs(seed: int = 0) -> list[str]:
    """Articles drawn from one topic's words each: words of a topic share their contexts."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=12)) for words in (SPORT, POLITICS) for _ in range(100)]


def test_word_vectors_group_words_used_in_the_same_contexts() -> None:
    rng = np.random.default_rng(0)
    # «هجوم» and «تفجير» share their neighbours; «مباراة» and «هدف» share others: each pair is one cluster
    attack = ["مسلح", "قتلى", "جرحى", "الامن", "انتحاري"]
    match = ["فريق", "لاعب", "ملعب", "الشوط", "الدوري"]
    docs = [" ".join(rng.choice(attack, 4).tolist() + [word] + rng.choice(attack, 4).tolist())
            for word in ("هجوم", "تفجير") for _ in range(20)]
    docs += [" ".join(rng.choice(match, 4).tolist() + [word] + rng.choice(match, 4).tolist())
             for word in ("مباراة", "هدف") for _ in range(20)]
    vocabulary, vectors = word_vectors(docs, dimensions=4, min_df=2, seed=0)
    assert vectors.shape == (len(vocabulary), 4) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    from training.models import word_clusters

    with pytest.MonkeyPatch.context() as patch:  # counted a few articles at a time: the same vectors
        patch.setattr(word_clusters, "CHUNK", 7)
        np.testing.assert_allclose(word_vectors(docs, dimensions=4, min_df=2, seed=0)[1], vectors, atol=1e-5)
    clusters = learn_word_clusters(docs, n_clusters=2, seed=0)
    assert clusters["هجوم"] == clusters["تفجير"] != clusters["مباراة"] == clusters["هدف"]
    assert ClusterTokens(clusters)("هجوم كلمة_مجهولة هدف") == f"c{clusters['هجوم']} c{clusters['هدف']}"


def test_words_of_one_topic_share_a_cluster() -> None:
    clusters = learn_word_clusters(topic_docs(), n_clusters=2, seed=13)
    assert set(clusters) == set(SPORT + POLITICS)
    assert len({clusters[w] for w in SPORT}) == 1 and len({clusters[w] for w in POLITICS}) == 1
    assert clusters[SPORT[0]] != clusters[POLITICS[0]]
    assert learn_word_clusters(topic_docs(), n_clusters=2, seed=13) == clusters  # one seed, one result


def test_an_article_becomes_its_words_clusters() -> None:
    tokens = ClusterTokens({"كرة": 3, "match": 7})
    assert tokens("كرة جديدة MATCH، كرة") == "c3 c7 c3"  # unknown words left out, Latin lower-cased
    assert pickle.loads(pickle.dumps(tokens))("كرة") == "c3"


def test_a_baseline_with_word_clusters_saves_loads_and_explains(sample_data, tmp_path) -> None:
    config = BaselineConfig(classifiers=["logreg"], c_values=[4.0], selection="validation", word_clusters=40)
    normalizer = normalizer_for()
    clusters = learn_word_clusters(normalizer.transform(sample_data.train.texts), 40, seed=13)
    model, log = train_baseline(sample_data, config, normalizer, 13, clusters=clusters)
    features = model.pipeline.named_steps["features"]
    assert [name for name, _ in features.transformer_list] == ["word", "char", "cluster"]
    assert features.transformer_weights["cluster"] == 0.5
    valid = sample_data.validation
    path = save(model, tmp_path / "model", {"metrics": {}})
    loaded = training.load(path)
    np.testing.assert_allclose(loaded.predict_scores(valid.texts, valid.titles),
                               model.predict_scores(valid.texts, valid.titles), atol=1e-6)
    # the cluster n-grams are explained by the words of the article that produce them
    text = valid.texts[0]
    explanation = explain_linear(loaded, text, top_k=500)
    found = [e for e in explanation.evidence + explanation.counter_evidence if e.kind == "cluster"]
    assert found and all(e.feature.startswith("c") and all(o in text for o in e.original) for e in found)


@pytest.mark.slow
def test_a_run_learns_clusters_from_training_and_unlabelled_articles(sample_data, tmp_path) -> None:
    import json

    from training.train import run

    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text("\n".join(json.dumps({"id": f"u{i}", "text": f"{text} (نقلا عن وكالات)"}, ensure_ascii=False)
                                    for i, text in enumerate(sample_data.train.texts[:80])), encoding="utf-8")
    config = TrainConfig(out=str(tmp_path / "run"), unlabelled=str(unlabelled),
                         baseline=BaselineConfig(classifiers=["logreg"], c_values=[4.0], selection="validation",
                                                 word_clusters=30))
    config.self_training.articles, config.self_training.min_per_label = 40, 5
    report = run(config)
    used = report["candidates"]["baseline"]["training"]["word_clusters"]
    assert used["articles"] == len(sample_data.train) + 80 and 2 <= used["clusters"] <= 30 and used["words"] > 30
    model = training.load(report["best_artifact"])
    assert model.predict([sample_data.test.texts[0]])[0].label in sample_data.label_names
    markdown = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert f"Baseline word clusters: {used['words']} words in {used['clusters']} clusters, learnt from " \
           f"{used['articles']} training and unlabelled articles" in markdown


def test_too_little_text_gives_no_clusters(caplog: pytest.LogCaptureFixture) -> None:
    assert learn_word_clusters(["كرة قدم", "مباراة"], n_clusters=10, seed=1) == {}  # fewer articles than MIN_COUNT
    assert learn_word_clusters(["كرة"] * 6, n_clusters=10, seed=1) == {}  # one word: nothing to cluster
    assert "word clusters: too few words" in caplog.text
    learn_word_clusters(topic_docs(), n_clusters=10, seed=1)
    assert "word clusters: 12 words for 10 clusters, too few to group" in caplog.text and "about 2 clusters" in caplog.text
    assert [name for name, _ in build_features(BaselineConfig(), 1, clusters={}).transformer_list] == ["word", "char"]
