import numpy as np
import pytest

from bookrec.fusion import cap_per_author, maximal_marginal_relevance, reciprocal_rank_fusion


def test_rrf_adds_reciprocal_ranks_across_rankings():
    fused = dict(reciprocal_rank_fusion(["a", "b", "c"], ["c", "d"], k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)


def test_rrf_puts_what_both_rankings_agree_on_first():
    order = [key for key, _ in reciprocal_rank_fusion(["a", "b", "c"], ["c", "b", "x"], k=60)]
    # b (2nd + 2nd) and c (3rd + 1st) beat a, first in one ranking only.
    assert order[:2] == ["b", "c"] or order[:2] == ["c", "b"]
    assert order.index("a") == 2


def test_rrf_with_a_small_k_favours_top_ranks_more():
    # With k=0, a first place alone (1/1) beats two second places (1/2 + 1/2 = 1).
    order = [key for key, _ in reciprocal_rank_fusion(["a", "b"], ["c", "b"], k=0)]
    assert order[0] in {"a", "c"}
    order = [key for key, _ in reciprocal_rank_fusion(["a", "b"], ["c", "b"], k=60)]
    assert order[0] == "b"


def unit(*values):
    vector = np.asarray(values, dtype=float)
    return vector / np.linalg.norm(vector)


def test_mmr_without_diversity_keeps_relevance_order():
    vectors = [unit(1, 0), unit(1, 0.01), unit(0, 1)]
    assert maximal_marginal_relevance([0.9, 0.8, 0.7], vectors, diversity=0.0, limit=3) == [0, 1, 2]


def test_mmr_moves_a_near_duplicate_below_a_different_item():
    vectors = [unit(1, 0), unit(1, 0.01), unit(0, 1)]
    assert maximal_marginal_relevance([0.9, 0.8, 0.7], vectors, diversity=0.5, limit=3) == [0, 2, 1]


def test_mmr_treats_items_without_vectors_as_unlike_anything():
    order = maximal_marginal_relevance([0.9, 0.8, 0.7], [unit(1, 0), unit(1, 0), None], diversity=0.5, limit=2)
    assert order == [0, 2]


def test_mmr_stops_at_limit_and_handles_nothing():
    assert len(maximal_marginal_relevance([3, 2, 1], [unit(1, 0)] * 3, diversity=0.3, limit=2)) == 2
    assert maximal_marginal_relevance([], [], diversity=0.3, limit=5) == []


def test_cap_per_author_keeps_order_and_ignores_blank_authors():
    items = [("a", "Doyle"), ("b", "doyle "), ("c", ""), ("d", "Collins"), ("e", "Doyle"), ("f", "")]
    kept = cap_per_author(items, lambda item: item[1], 1)
    assert [key for key, _ in kept] == ["a", "c", "d", "f"]
    assert cap_per_author(items, lambda item: item[1], None) == items
