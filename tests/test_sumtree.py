"""The multi-channel sum-tree alone: totals, prefix searches, deferred sums, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from marlbench.sumtree import SumTree


def _tree(rows: list[list[float]]) -> SumTree:
    values = np.array(rows, dtype=np.float64)
    tree = SumTree(capacity=values.shape[1], channels=values.shape[0])
    tree.set(np.tile(np.arange(values.shape[1]), (values.shape[0], 1)), values)
    return tree


def test_totals_and_inner_sums_by_hand() -> None:
    tree = _tree([[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, 0.0, 8.0]])
    assert tree.n_leaves == 4 and tree.depth == 2
    np.testing.assert_array_equal(tree.total(), [10.0, 8.5])
    # node 2 = leaves 0 + 1, node 3 = leaves 2 + 3
    np.testing.assert_array_equal(tree.tree[:, 2:4], [[3.0, 7.0], [0.5, 8.0]])
    tree.set(np.array([[2], [0]]), np.array([[0.0], [1.5]]))  # 3 -> 0 in channel 0, 0.5 -> 1.5 in 1
    np.testing.assert_array_equal(tree.total(), [7.0, 9.5])
    np.testing.assert_array_equal(tree.tree[:, 2:4], [[3.0, 4.0], [1.5, 8.0]])


def test_find_returns_the_leaf_whose_prefix_interval_holds_the_mass() -> None:
    # channel 0 prefix sums: [0, 1) -> 0, [1, 3) -> 1, [3, 6) -> 2, [6, 10) -> 3
    tree = _tree([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    mass = np.array(
        [[0.0, 0.999, 1.0, 2.5, 3.0, 5.99, 6.0, 9.99], [0.0, 3.99, 4.0, 6.99, 7.0, 8.99, 9.0, 9.5]]
    )
    np.testing.assert_array_equal(tree.find(mass), [[0, 0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2, 3, 3]])


def test_a_mass_equal_to_a_boundary_belongs_to_the_leaf_on_its_right() -> None:
    tree = _tree([[2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(tree.find(np.array([[2.0, 4.0, 6.0]])), [[1, 2, 3]])


def test_zero_priorities_are_never_found() -> None:
    tree = _tree([[0.0, 5.0, 0.0, 0.0, 3.0, 0.0]])  # capacity 6: leaves 6 and 7 are padding
    masses = np.linspace(0.0, 8.0, 81)[None]  # includes 8.0 = total (rounding at the top end)
    found = tree.find(masses)
    assert set(found.ravel().tolist()) == {1, 4}
    np.testing.assert_array_equal(found[0, masses[0] < 5.0], 1)
    np.testing.assert_array_equal(found[0, masses[0] >= 5.0], 4)
    # an all-zero channel finds leaf 0 rather than running off the end
    np.testing.assert_array_equal(SumTree(5, 2).find(np.zeros((2, 3))), np.zeros((2, 3)))


def test_capacity_not_a_power_of_two_matches_a_naive_reference() -> None:
    rng = np.random.default_rng(1)
    tree = SumTree(capacity=37, channels=2)
    assert tree.n_leaves == 64
    values = rng.random((2, 37))
    tree.set(np.tile(np.arange(37), (2, 1)), values)
    np.testing.assert_allclose(tree.total(), values.sum(1))
    idx = np.array([[3, 3, 36, 0], [5, 9, 9, 20]])  # duplicated indices: the last write wins
    new = rng.random((2, 4)) * 5
    tree.set(idx, new)
    values[0, [3, 36, 0]] = new[0, [1, 2, 3]]
    values[1, [5, 9, 20]] = new[1, [0, 2, 3]]
    np.testing.assert_allclose(tree.total(), values.sum(1))
    np.testing.assert_allclose(tree.leaves(idx), values[np.arange(2)[:, None], idx])
    mass = rng.random((2, 500)) * values.sum(1, keepdims=True)
    prefix = np.cumsum(values, axis=1)
    naive = np.stack([np.searchsorted(prefix[c], mass[c], side="right") for c in range(2)])
    np.testing.assert_array_equal(tree.find(mass), naive)


def test_explicit_channels_address_each_entry_of_a_flat_batch() -> None:
    tree = SumTree(capacity=5, channels=2)
    leaf, channel = np.array([0, 1, 2, 3, 0, 4]), np.array([0, 0, 0, 0, 1, 1])
    tree.set(leaf, np.array([1.0, 2, 3, 4, 5, 5]), channel=channel)
    tree.set(np.array([1]), np.array([6.0]), channel=np.array([0]))  # overwrite
    np.testing.assert_array_equal(tree.total(), [14.0, 10.0])
    np.testing.assert_array_equal(tree.leaves(np.array([1, 4]), channel=np.array([0, 1])), [6.0, 5.0])
    # prefixes of channel 0: [1, 7, 10, 14]; of channel 1: [5, 5, 5, 5, 10]
    found = tree.find(np.array([[0.5, 1.0, 6.99, 7.0, 13.9], [0.0, 4.99, 5.0, 9.0, 9.99]]))
    np.testing.assert_array_equal(found, [[0, 1, 1, 2, 3], [0, 0, 4, 4, 4]])


def test_samples_follow_the_priorities() -> None:
    tree = SumTree(capacity=5, channels=2)
    leaf, channel = np.array([0, 1, 2, 3, 0, 4]), np.array([0, 0, 0, 0, 1, 1])
    tree.set(leaf, np.array([1.0, 2, 3, 4, 5, 5]), channel=channel)
    tree.set(np.array([1]), np.array([6.0]), channel=np.array([0]))  # overwrite
    rng = np.random.default_rng(0)
    leaves = tree.find(rng.random((2, 100_000)) * tree.total()[:, None])
    f0 = np.bincount(leaves[0], minlength=5) / 100_000
    f1 = np.bincount(leaves[1], minlength=5) / 100_000
    np.testing.assert_allclose(f0, [1 / 14, 6 / 14, 3 / 14, 4 / 14, 0], atol=0.006)
    np.testing.assert_allclose(f1, [0.5, 0, 0, 0, 0.5], atol=0.006)
    np.testing.assert_allclose(tree.total(), [14.0, 10.0])


def test_deferred_propagation() -> None:
    tree = SumTree(capacity=8)
    tree.set(np.array([[1, 2]]), np.array([[1.0, 2.0]]), propagate=False)
    assert tree.total()[0] == 0.0
    tree.propagate(np.array([[1, 2]]))
    assert tree.total()[0] == 3.0
    tree.set(np.array([5]), np.array([4.0]), channel=np.array([0]), propagate=False)
    tree.propagate(np.array([5]), channel=np.array([0]))
    assert tree.total()[0] == 7.0


def test_capacity_one_and_bad_sizes() -> None:
    tree = _tree([[2.5]])
    np.testing.assert_array_equal(tree.total(), [2.5])
    np.testing.assert_array_equal(tree.find(np.array([[0.0, 2.4, 2.5]])), [[0, 0, 0]])
    with pytest.raises(ValueError):
        SumTree(0)
