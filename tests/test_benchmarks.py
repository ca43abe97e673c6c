"""The benchmarks' own arithmetic (their runs need ../shared and are not part of the suite)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_gap_compares_the_gap_on_validation_with_the_gap_on_test() -> None:
    gap_figures = load_benchmark("bench_split_gap").gap_figures
    truth = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # the first 4 are validation
    reference = truth.copy()
    predicted = truth.copy()
    predicted[7] = 0  # one test article wrong: test macro-F1 (0.8 + 2/3) / 2
    figures = gap_figures(predicted, reference, truth, 4, halvings=50, seed=0)
    assert figures["validation_macro_f1"] == 1.0 and figures["test_macro_f1"] == pytest.approx(0.7333, abs=1e-4)
    assert figures["gap_to_reference"] == {"validation": 0.0, "test": pytest.approx(-0.2667, abs=1e-4)}
    # every stratified halving of 8 articles puts the one mistake in a half of the same make-up: always this large
    assert figures["random_halvings"]["share_at_least_as_large"] == 1.0

    truth = np.tile([0, 1], 100)  # 100 validation, 100 test articles
    predicted = truth.copy()
    predicted[np.flatnonzero(truth[100:] == 1)[:10] + 100] = 0  # ten test mistakes, none on validation
    figures = gap_figures(predicted, truth.copy(), truth, 100, halvings=200, seed=0)
    assert figures["gap_difference"] > 0.09
    assert figures["random_halvings"]["share_at_least_as_large"] < 0.02  # random halves split the mistakes


def test_adaptation_weights_and_feature_copies() -> None:
    adaptation = load_benchmark("bench_adaptation")
    sources = np.array(["a"] * 6 + ["b"] * 2)
    weights = adaptation.source_balance_weights(sources)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[sources == "a"].sum() == pytest.approx(weights[sources == "b"].sum())  # each publisher weighs 4

    ratios = adaptation.importance_weights(np.array([0.2, 0.5, 0.8]), power=1.0)  # odds 1/4, 1, 4
    assert ratios == pytest.approx(np.array([0.25, 1.0, 4.0]) / 1.75)
    assert adaptation.importance_weights(np.array([0.2, 0.5, 0.8]), power=0.5) == pytest.approx(np.array([0.5, 1, 2]) / 3.5 * 3)
    clipped = adaptation.importance_weights(np.array([1e-9, 0.5, 0.5, 1 - 1e-9]), power=1.0)
    assert clipped.mean() == pytest.approx(1.0) and clipped.max() / clipped.min() <= 20 / 0.05

    import scipy.sparse as sp
    X = sp.csr_matrix(np.arange(1, 7, dtype=np.float32).reshape(3, 2))
    augmented = adaptation.easy_adapt(X, np.array(["a", "b", None]), ["a", "b"]).toarray()
    assert augmented.tolist() == [[1, 2, 1, 2, 0, 0], [3, 4, 0, 0, 3, 4], [5, 6, 0, 0, 0, 0]]

    # column 0: in every training article and 1 of 4 corpus ones (rates (1 + 1/4) / (1/4 + 1/4) = 2.5);
    # column 1: in 1 of 2 training articles and no corpus one ((1/2 + 1/4) / (1/4) = 3); column 2: nowhere (1)
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0]], dtype=np.float32))
    corpus = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=np.float32))
    assert adaptation.shared_columns(train, corpus, ratio=2.5).tolist() == [1, 0, 1]
    assert adaptation.shared_columns(train, corpus, ratio=3).tolist() == [1, 1, 1]


def test_scl_projects_from_the_other_words_onto_what_predicts_the_pivots() -> None:
    adaptation = load_benchmark("bench_adaptation")
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    # column 0 is the topic word in both domains; column 1 co-occurs with it in the source, column 2 in the target
    y = np.repeat([0, 1], 30)
    source = rng.random((60, 6)) < 0.1
    source[:, 0] = source[:, 1] = y == 1
    target = rng.random((60, 6)) < 0.1
    target[:, 0] = target[:, 2] = np.repeat([0, 1], 30) == 1
    source, target = sp.csr_matrix(source.astype(np.float32)), sp.csr_matrix(target.astype(np.float32))
    pivots, projection = adaptation.scl_projection(source, target, y, n_pivots=1, dimensions=1, min_df=5)
    assert pivots.tolist() == [0]  # column 1 is informative too, but only in the source
    assert projection.shape == (6, 1)
    weights = np.abs(projection[:, 0])
    assert weights[0] == 0 and weights[1] > 0.3 and weights[2] > 0.3  # both domains' words map to the pivot's axis
    only_pivot, only_partner = (sp.csr_matrix(np.eye(6, dtype=np.float32)[[column]]) for column in (0, 2))
    assert adaptation.scl_block(only_pivot, pivots, projection, weight=0.5).toarray().tolist() == [[0.0]]
    assert np.abs(adaptation.scl_block(only_partner, pivots, projection, weight=0.5).toarray()) == pytest.approx(0.5)
