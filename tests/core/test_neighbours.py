"""The neighbour score: k nearest training rows in the autoencoder's coordinates — batched
search equal to brute force, a capped reference set, its bundle file, and what it detects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from anomaly import Detector
from anomaly.core import neighbours, search
from anomaly.core.neighbours import NeighbourDistance
from anomaly.errors import BundleError, ConfigError
from anomaly.kinds.tabular.kind import MIN_STEPS
from tests.conftest import FAST


def brute_force(reference: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    distances = np.sqrt(((query[:, None, :] - reference[None, :, :]) ** 2).sum(axis=2))
    return np.sort(distances, axis=1)[:, :k].mean(axis=1)


def test_batched_search_equals_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    codes, residuals = rng.normal(size=(300, 3)), rng.normal(size=(300, 5))
    monkeypatch.setattr(search, "WIDTH", 300)  # 300 reference rows: no cells, every row searched
    near = NeighbourDistance.fit(codes, residuals, residuals[:50], k=4, seed=0)
    assert near.cells is None
    q_codes, q_res = rng.normal(size=(97, 3)), 2 * rng.normal(size=(97, 5))
    expected = brute_force(near.reference.astype(np.float64),
                           near.coordinates(q_codes, q_res).astype(np.float64), 4)
    whole = near(q_codes, q_res)
    monkeypatch.setattr(search, "DISTANCE_CELLS", 300 * 7)  # blocks of 7 query rows
    np.testing.assert_allclose(near(q_codes, q_res), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(whole, expected, rtol=1e-4, atol=1e-4)


def test_density_recipe_equals_brute_force_with_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """d(q) × d(q) / (mean d of q's neighbours), d = mean distance to the k nearest, in
    [code, residual, input] coordinates; a reference row's own d leaves the row itself out."""
    rng = np.random.default_rng(5)
    codes, residuals, inputs = (rng.normal(size=(200, 3)), rng.normal(size=(200, 4)),
                                rng.normal(size=(200, 4)))
    monkeypatch.setattr(search, "WIDTH", 200)  # every reference row searched (no cells)
    near = NeighbourDistance.fit(codes, residuals, residuals[:50], k=3, seed=0,
                                 train_inputs=inputs, density=True)
    ref = near.reference.astype(np.float64)
    assert ref.shape == (200, 3 + 4 + 4)
    pairs = np.sqrt(((ref[:, None, :] - ref[None, :, :]) ** 2).sum(axis=2))
    own = np.sort(pairs, axis=1)[:, 1:4].mean(axis=1)  # column 0 is the row itself
    own = neighbours.floored_spread(own)
    np.testing.assert_allclose(near.spread, own, rtol=1e-4)
    q = (rng.normal(size=(61, 3)), 2 * rng.normal(size=(61, 4)), rng.normal(size=(61, 4)))
    to_ref = np.sqrt(((near.coordinates(*q).astype(np.float64)[:, None, :] - ref[None]) ** 2)
                     .sum(axis=2))
    order = np.argsort(to_ref, axis=1)[:, :3]
    d = np.take_along_axis(to_ref, order, axis=1).mean(axis=1)
    expected = d * d / own[order].mean(axis=1)
    monkeypatch.setattr(search, "DISTANCE_CELLS", 200 * 5)  # blocks of 5 query rows
    np.testing.assert_allclose(near(*q), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="network inputs"):
        near(q[0], q[1])


def test_balanced_blocks_weigh_the_same_whatever_their_width() -> None:
    """A narrow code next to wide residual and input blocks: balanced, each block's mean squared
    length over the training rows is the input width; unbalanced, the code's is its own width."""
    rng = np.random.default_rng(3)
    codes, residuals, inputs = (rng.normal(size=(300, 2)), rng.normal(size=(300, 18)),
                                rng.normal(size=(300, 18)))
    inputs = (inputs - inputs.mean(axis=0)) / inputs.std(axis=0)  # the features standardise
    blocks = ((0, 2), (2, 20), (20, 38))

    def block_sizes(balanced: bool) -> list[float]:
        near = NeighbourDistance.fit(codes, residuals, residuals, k=3, seed=0,
                                     train_inputs=inputs, density=True, balanced=balanced)
        assert near.recipe["balanced"] is balanced
        ref = near.reference.astype(np.float64)
        return [float(np.square(ref[:, a:b]).sum(axis=1).mean()) for a, b in blocks]

    np.testing.assert_allclose(block_sizes(True), [18.0, 18.0, 18.0], rtol=1e-4)
    np.testing.assert_allclose(block_sizes(False), [2.0, 18.0, 18.0], rtol=1e-4)


def test_cells_search_a_few_candidates_and_only_overestimate(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """Clustered reference rows: most query rows find their exact k nearest among the
    candidates of one cell, none a closer one; the blocks change no neighbour and no distance
    beyond float32 rounding (~1e-6)."""
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=6.0, size=(12, 6))
    reference = (centres[rng.integers(0, 12, 2000)] + rng.normal(size=(2000, 6))).astype(
        np.float32)
    query = (centres[rng.integers(0, 12, 500)] + 1.5 * rng.normal(size=(500, 6))).astype(
        np.float32)
    index = search.CellIndex.build(reference, seed=0, width=200, cell_rows=50)
    assert index is not None and index.candidates.shape == (40, 200)
    again = search.CellIndex.build(reference, seed=0, width=200, cell_rows=50)
    assert again is not None and np.array_equal(index.candidates, again.candidates)
    distances, rows = index.nearest(query, reference, 5)
    assert np.all(np.diff(distances, axis=1) >= 0)  # nearest first
    direct = np.linalg.norm(query[:, None, :] - reference[rows], axis=2)
    np.testing.assert_allclose(distances, direct, rtol=1e-5, atol=1e-5)
    twins = reference[rows[:50, 0]] + np.float32(1e-4)  # 1e-4 from a reference row: retaken
    twin_distances, twin_rows = index.nearest(twins, reference, 5)
    np.testing.assert_array_equal(twin_rows[:, 0], rows[:50, 0])
    np.testing.assert_allclose(twin_distances[:, 0], np.linalg.norm(
        twins - reference[rows[:50, 0]], axis=1), rtol=1e-5)
    exact = brute_force(reference.astype(np.float64), query.astype(np.float64), 5)
    approx = distances.mean(axis=1)
    assert np.all(approx >= exact - 1e-4)
    assert np.mean(np.abs(approx - exact) < 1e-4) > 0.9
    monkeypatch.setattr(search, "DISTANCE_CELLS", 200 * 7)  # blocks of 7 query rows
    small = index.nearest(query, reference, 5)
    np.testing.assert_array_equal(small[1], rows)
    np.testing.assert_allclose(small[0], distances, rtol=1e-5)
    assert search.CellIndex.build(reference[:200], seed=0, width=200) is None


def test_bundles_without_cells_search_every_reference_row() -> None:
    """Neighbour bundles written before the cells (no "centroids" array) keep exact search."""
    rng = np.random.default_rng(3)
    codes, residuals = rng.normal(size=(600, 2)), rng.normal(size=(600, 3))
    near = NeighbourDistance.fit(codes, residuals, residuals, k=5, seed=0)
    assert near.cells is not None
    old = {k: v for k, v in near.arrays().items() if k not in ("centroids", "candidates")}
    loaded = NeighbourDistance.from_arrays(old, k=5)
    assert loaded.cells is None
    q_codes, q_res = rng.normal(size=(40, 2)), rng.normal(size=(40, 3))
    expected = brute_force(near.reference.astype(np.float64),
                           near.coordinates(q_codes, q_res).astype(np.float64), 5)
    np.testing.assert_allclose(loaded(q_codes, q_res), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(NeighbourDistance.from_arrays(near.arrays(), k=5)(
        q_codes, q_res), near(q_codes, q_res), rtol=1e-6)


def test_duplicated_rows_do_not_make_the_density_factor_infinite() -> None:
    rng = np.random.default_rng(6)
    codes = np.repeat(rng.normal(size=(20, 2)), 10, axis=0)  # every row 10 times
    residuals = np.zeros((200, 3))
    near = NeighbourDistance.fit(codes, residuals, residuals + 0.1, k=5, seed=0, density=True)
    assert near.spread is not None and near.spread.min() > 0
    assert np.isfinite(near(codes[:5] + 0.01, residuals[:5])).all()


def test_reference_set_is_capped_and_seeded() -> None:
    rng = np.random.default_rng(1)
    codes, residuals = rng.normal(size=(500, 2)), rng.normal(size=(500, 3))
    a = NeighbourDistance.fit(codes, residuals, residuals, k=5, seed=3, max_rows=120)
    b = NeighbourDistance.fit(codes, residuals, residuals, k=5, seed=3, max_rows=120)
    c = NeighbourDistance.fit(codes, residuals, residuals, k=5, seed=4, max_rows=120)
    assert a.reference.shape == (120, 5) and a.reference.dtype == np.float32
    assert np.array_equal(a.reference, b.reference) and not np.array_equal(a.reference,
                                                                          c.reference)
    assert NeighbourDistance.fit(codes[:3], residuals[:3], residuals, k=5, seed=0).k == 3


def clusters(n: int, seed: int) -> pd.DataFrame:
    """Four tight clusters on a square; normal rows sit on them."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-4.0, -4.0, 0.0, 0.0], [4.0, 4.0, 0.0, 0.0], [-4.0, 4.0, 4.0, 4.0],
                        [4.0, -4.0, -4.0, 4.0]])
    rows = centres[rng.integers(0, 4, n)] + 0.3 * rng.normal(size=(n, 4))
    return pd.DataFrame(rows, columns=list("abcd"))


@pytest.fixture(scope="module")
def between() -> tuple[pd.DataFrame, np.ndarray]:
    """Normal rows plus rows halfway between two clusters (inside the normal range)."""
    rng = np.random.default_rng(9)
    normal = clusters(200, seed=8)
    first, second = clusters(40, seed=10).to_numpy(), clusters(40, seed=11).to_numpy()
    halfway = (first + second) / 2 + 0.3 * rng.normal(size=first.shape)
    keep = np.abs(first - second).sum(axis=1) > 4  # pairs from different clusters
    frame = pd.concat([normal, pd.DataFrame(halfway[keep], columns=list("abcd"))],
                      ignore_index=True)
    return frame, np.r_[np.zeros(len(normal)), np.ones(int(keep.sum()))]


def test_neighbours_find_rows_between_clusters(between: tuple[pd.DataFrame, np.ndarray]
                                               ) -> None:
    frame, labels = between
    train = clusters(1500, seed=7)
    near = Detector(**FAST, seed=0, neighbours=5, latent_weight=0).fit(train)
    assert roc_auc_score(labels, near.anomaly_scores(frame)) > 0.95
    assert near.scorer_.signals == {"reconstruction": 0.0, "latent": 0.0, "neighbours": 1.0}
    shares = near.explain(frame).to_numpy()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-5)


def test_bundle_keeps_the_reference_rows_as_safetensors(tmp_path: Path) -> None:
    train = clusters(400, seed=1)
    det = Detector(**FAST, seed=0, neighbours=5, latent_weight=0).fit(train)
    folder = det.save(tmp_path / "models", "near")
    meta = json.loads((folder / "bundle.json").read_text())
    assert meta["scoring"]["signals"]["neighbours"] == 1.0
    assert meta["scoring"]["neighbours"]["k"] == 5
    assert meta["scoring"]["neighbours"]["inputs"] and meta["scoring"]["neighbours"]["density"]
    assert meta["scoring"]["neighbours"]["balanced"] is neighbours.BALANCED_BLOCKS
    assert "spread" in meta["scoring"]["neighbours"]["arrays"]
    assert meta["scoring"]["neighbours"]["reference_rows"] == len(det.scorer_.neighbours.reference)
    assert "scoring.safetensors" in meta["files"]
    assert not list(folder.glob("*.pkl"))
    cells = det.scorer_.neighbours.cells  # 320 reference rows > search.WIDTH: searched by cells
    assert cells is not None and meta["scoring"]["neighbours"]["search"] == {
        "cells": len(cells.candidates), "candidates": search.WIDTH}
    again = Detector.load(folder)
    assert again.scorer_.neighbours.balanced is neighbours.BALANCED_BLOCKS
    assert again.scorer_.neighbours.cells is not None
    np.testing.assert_array_equal(again.scorer_.neighbours.cells.candidates, cells.candidates)
    test = clusters(50, seed=2)
    np.testing.assert_allclose(again.anomaly_scores(test), det.anomaly_scores(test), rtol=1e-6)
    # a bundle of the first neighbour recipe (distance alone, no inputs) keeps scoring so
    old = dict(meta["scoring"], neighbours={k: v for k, v in meta["scoring"]["neighbours"].items()
                                            if k not in ("inputs", "density", "balanced")})
    arrays = {k: v for k, v in det.scorer_.arrays().items()
              if not k.endswith(("spread", "centroids", "candidates"))}
    arrays["neighbours.reference"] = arrays["neighbours.reference"][:, :-4]  # no input block
    plain = type(det.scorer_).from_json(old, arrays)
    assert not plain.neighbours.inputs and plain.neighbours.spread is None
    assert not plain.neighbours.balanced
    assert plain.neighbours.cells is None
    (folder / "scoring.safetensors").write_bytes(b"tampered")
    with pytest.raises(BundleError, match=r"scoring\.safetensors"):
        Detector.load(folder)


def test_reconstruction_bundles_have_no_neighbour_file(tmp_path: Path) -> None:
    det = Detector(**FAST, seed=0, neighbours=0, latent_weight=0).fit(clusters(200, seed=1))
    folder = det.save(tmp_path / "models", "plain")
    assert not (folder / "scoring.safetensors").exists()
    assert json.loads((folder / "bundle.json").read_text())["scoring"]["signals"] == {
        "reconstruction": 1.0, "latent": 0.0, "neighbours": 0.0}


def test_small_tables_train_more_steps_an_epoch() -> None:
    det = Detector(**FAST, seed=0).fit(clusters(1000, seed=1))  # 800 training rows, batch 64
    assert det.training_summary_["batch_size"] == max(16, 800 // MIN_STEPS) < 64
    big = Detector(**{**FAST, "max_epochs": 1}, seed=0).fit(clusters(10_000, seed=1))
    assert big.training_summary_["batch_size"] == 64  # 8000 rows: enough steps with 64
    assert big.settings_.training.batch_size == 64  # the setting is kept as given


def test_negative_neighbours_are_refused_before_training() -> None:
    with pytest.raises(ConfigError, match="neighbours must be >= 0"):
        Detector(**FAST, neighbours=-1).fit(clusters(50, seed=1))


def test_smallest_columns_equal_argpartition_with_ties_and_nan() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(500, 64)).astype(np.float32)
    values[7, [3, 9, 11]] = values[7].min() - 1.0  # three equal smallest: ties at the k-th
    values[8, :] = 1.0  # every column tied
    values[9, 5] = np.nan  # a NaN among the values
    values[10, :] = np.nan  # no k-th value at all
    k = 2
    columns = search.smallest_columns(values, k)
    assert columns.shape == (500, k) and len({*columns[8]}) == k
    chosen = np.sort(np.take_along_axis(values, columns, axis=1), axis=1)
    expected = np.sort(np.take_along_axis(
        values, np.argpartition(values, k - 1, axis=1)[:, :k], axis=1), axis=1)
    np.testing.assert_array_equal(chosen, expected)  # the same values, NaN rows included
    assert search.smallest_columns(values[:, :2], 5).shape == (500, 2)  # narrower than k
