"""1-D k-means against hand-computed results and against scikit-learn from the same starting centroids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slimtorch.compression.kmeans import assign, initial_centroids, kmeans_1d


def test_three_groups_by_hand():
    # linear init: 1, 11.5, 22 -> midpoints 6.25, 16.75 -> groups {1,2,3} {10,11,12} {20,21,22} -> means 2, 11, 21
    values = torch.tensor([1.0, 2, 3, 10, 11, 12, 20, 21, 22])
    centroids, labels = kmeans_1d(values, 3)
    torch.testing.assert_close(centroids, torch.tensor([2.0, 11.0, 21.0], dtype=torch.float64))
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_lloyd_moves_a_point_between_clusters_by_hand():
    # init 0, 12 (mid 6): {0, 1, 5} {7, 12} -> 2, 9.5 (mid 5.75): {0, 1, 5} {7, 12} -> converged
    values = torch.tensor([0.0, 1, 5, 7, 12])
    centroids, labels = kmeans_1d(values, 2)
    torch.testing.assert_close(centroids, torch.tensor([2.0, 9.5], dtype=torch.float64))
    # init 0, 10 (mid 5): {0, 4} {6, 6.5, 10} -> 2, 7.5 (mid 4.75): 4 stays left; converged
    centroids, labels = kmeans_1d(torch.tensor([0.0, 4, 6, 6.5, 10]), 2)
    torch.testing.assert_close(centroids, torch.tensor([2.0, 7.5], dtype=torch.float64))
    assert labels.tolist() == [0, 0, 1, 1, 1]


def test_initialisations():
    values = torch.arange(11, dtype=torch.float32)
    torch.testing.assert_close(initial_centroids(values, 3, "linear"), torch.tensor([0.0, 5, 10], dtype=torch.float64))
    torch.testing.assert_close(initial_centroids(values, 3, "density"), torch.tensor([0.0, 5, 10], dtype=torch.float64))
    skewed = torch.tensor([0.0, 0, 0, 0, 0, 0, 0, 0, 1, 100])
    assert initial_centroids(skewed, 2, "density").tolist() == [0.0, 100.0]
    assert initial_centroids(skewed, 3, "linear").tolist() == [0.0, 50.0, 100.0]
    rnd = initial_centroids(values, 4, "random", seed=1)
    assert all(v in values.tolist() for v in rnd.tolist()) and rnd.tolist() == sorted(rnd.tolist())
    with pytest.raises(ValueError, match="init must be one of linear, density, random"):
        initial_centroids(values, 2, "kmeans++")


def test_matches_sklearn_from_the_same_start():
    sklearn = pytest.importorskip("sklearn.cluster")
    gen = torch.Generator().manual_seed(0)
    values = torch.cat([torch.randn(300, generator=gen) * 0.5 - 2, torch.randn(500, generator=gen) + 1.5])
    init = initial_centroids(values, 8, "linear")
    ref = sklearn.KMeans(n_clusters=8, init=init.numpy().reshape(-1, 1), n_init=1, algorithm="lloyd",
                         max_iter=300, tol=0.0).fit(values.double().numpy().reshape(-1, 1))
    centroids, labels = kmeans_1d(values, 8, max_iter=300)
    np.testing.assert_allclose(centroids.numpy(), np.sort(ref.cluster_centers_.ravel()), rtol=1e-9, atol=1e-12)
    assert torch.equal(labels, assign(values, centroids))  # every value sits with its nearest centroid


def test_empty_clusters_are_dropped_and_labels_index_the_result():
    # linear init with k=8 spaces centroids 1.44 apart: 0 and 0.1 share the first, 10 and 10.1 the last
    values = torch.tensor([0.0, 0.1, 10.0, 10.1])
    centroids, labels = kmeans_1d(values, 8)
    torch.testing.assert_close(centroids, torch.tensor([0.05, 10.05], dtype=torch.float64))
    assert labels.tolist() == [0, 0, 1, 1]
    same = torch.full((5,), 3.0)
    centroids, labels = kmeans_1d(same, 4)
    assert centroids.tolist() == [3.0] and labels.tolist() == [0] * 5
