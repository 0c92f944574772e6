"""Exact TreeSHAP values of an XGBoost tree ensemble, from per-leaf tables built once per model.

XGBoost's ``pred_contribs`` walks every path of every tree for every row (about 0.5 ms a flight
for the served model, 26 trees). But what a row contributes through a leaf depends only on which
of the leaf's path conditions it meets: for a leaf whose path splits on ``m`` distinct features
(``m`` <= the tree depth), the row's pattern is one of ``2**m`` and the path-dependent TreeSHAP
formula gives each of the ``m`` features a fixed value per pattern. Those values are tabulated
when the model is loaded; explaining a batch is then one vectorized pass: the row's direction at
every split, each leaf's pattern, a table look-up and a scatter-add per feature. Same values as
``pred_contribs`` (float rounding apart; tests/serving/test_explain.py pins them), contributions
plus bias equal to the margin.

For a leaf with value ``v``, distinct path features ``U`` (``m`` of them), zero fractions ``z_j``
(the product of cover ratios of the splits on ``j`` along the path) and one fractions ``o_j``
(1 when the row takes every split on ``j`` the path's way), feature ``i`` of ``U`` gets
``v (o_i - z_i) sum_{S in U-{i}} |S|!(m-|S|-1)!/m! prod_{j in S} o_j prod_{j in U-S-{i}} z_j``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

MAX_DISTINCT = 10  # more distinct features on one path: the tables would be too large
PACKED_DEPTH = 8  # paths this deep or less: a leaf's failed positions are packed in a byte
PACK = np.uint64(0x0102040810204080)  # 8 bytes of 0/1 -> 8 distinct bits (see _packed)


@dataclass(frozen=True)
class LeafTables:
    """Everything explaining a batch needs, for the whole ensemble."""

    features: int  # the model's number of features (the bias is column ``features``)
    bias: float  # base margin + each tree's cover-weighted mean
    node_feature: np.ndarray  # (splits,) feature index of every split of every tree
    node_threshold: np.ndarray  # (splits,) numeric split: value < threshold goes left
    node_default_left: np.ndarray  # (splits,) a missing value goes left
    categorical_splits: np.ndarray  # (categorical splits,) their split indices
    categories: np.ndarray  # (categorical splits, codes) the category goes right
    path_node: np.ndarray  # (leaves, depth) split index along the path (0 past its end)
    path_left: np.ndarray  # (leaves, depth) the path goes left there
    path_bit: np.ndarray  # (leaves, depth) 1 << the split's slot (0 past the path's end)
    slot_feature: np.ndarray  # (leaves, slots) the feature of each slot (``features``: unused)
    leaf_base: np.ndarray  # (leaves,) the leaf's first row in ``table``
    all_bits: int  # every slot's bit
    table: np.ndarray  # (leaves * 2**slots, slots) contribution per leaf, pattern and slot
    # Paths at most 8 deep (``_packed``): per leaf and position (padded to 8), the column of
    # ``[left, ~left]`` that is True when the row fails the position's condition, and per leaf
    # and byte of such failures (packed by ``PACK``), the leaf's row of ``table``.
    wrong_column: np.ndarray | None = None  # (leaves * 8,)
    failure_rows: np.ndarray | None = None  # (leaves * 256,)


def build(booster: object) -> LeafTables | None:
    """The tables of a one-output gbtree booster (None: not one this module handles, such as
    dart, several outputs, another link, or paths too deep; the caller uses XGBoost's own)."""
    model = json.loads(booster.save_raw("json"))  # type: ignore[attr-defined]
    learner = model["learner"]
    params = learner["learner_model_param"]
    margin = _base_margin(learner)
    if (
        margin is None
        or learner["gradient_booster"]["name"] != "gbtree"
        or int(params.get("num_class", "0")) > 1
        or int(params.get("num_target", "1")) != 1
    ):
        return None
    features = int(params["num_feature"])
    trees = learner["gradient_booster"]["model"]["trees"]
    _SPLIT_FEATURE.clear()
    bias = margin
    splits: list[tuple[int, float, bool, bool, frozenset[int]]] = []
    leaves: list[tuple[float, list[tuple[int, bool, int]], list[int], list[float]]] = []
    for tree in trees:
        left, right = tree["left_children"], tree["right_children"]
        cover = tree["sum_hessian"]
        value = tree["split_conditions"]
        cats = {
            node: frozenset(tree["categories"][start : start + size])
            for node, start, size in zip(
                tree["categories_nodes"],
                tree["categories_segments"],
                tree["categories_sizes"],
                strict=True,
            )
        }
        index: dict[int, int] = {}
        for node in range(len(left)):
            if left[node] != -1:
                index[node] = len(splits)
                _SPLIT_FEATURE.append(int(tree["split_indices"][node]))
                splits.append(
                    (
                        int(tree["split_indices"][node]),
                        float(value[node]),
                        bool(tree["default_left"][node]),
                        bool(tree["split_type"][node]),
                        cats.get(node, frozenset()),
                    )
                )
        bias += _mean(0, left, right, cover, value)
        stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if left[node] == -1:
                leaves.append(_leaf(float(value[node]), path))
                continue
            for child, goes_left in ((left[node], True), (right[node], False)):
                ratio = cover[child] / cover[node]
                stack.append((child, [*path, (index[node], goes_left, ratio)]))
    return _tables(features, bias, splits, leaves)


def _base_margin(learner: dict) -> float | None:
    """The margin every tree adds to (None: an objective whose link is not handled here)."""
    score = float(learner["learner_model_param"]["base_score"].strip("[]").split(",")[0])
    objective = learner["objective"]["name"]
    if objective in ("binary:logistic", "reg:logistic"):
        return math.log(score / (1.0 - score))
    if objective == "reg:squarederror":
        return score
    return None


def _mean(
    node: int, left: list[int], right: list[int], cover: list[float], value: list[float]
) -> float:
    """The cover-weighted mean leaf value below ``node`` (XGBoost's node mean value)."""
    if left[node] == -1:
        return float(value[node])
    lo, hi = left[node], right[node]
    below = _mean(lo, left, right, cover, value) * cover[lo]
    return (below + _mean(hi, left, right, cover, value) * cover[hi]) / cover[node]


def _leaf(value: float, path: list[tuple[int, bool, float]]) -> tuple:
    """A leaf's value, its path ``(split, goes left, slot)`` and per slot the feature and the
    zero fraction (splits on one feature share a slot: their ratios multiply)."""
    slots: dict[int, int] = {}
    slot_feature: list[int] = []
    zero: list[float] = []
    steps = []
    for split, goes_left, ratio in path:
        feature = _SPLIT_FEATURE[split]
        if feature not in slots:
            slots[feature] = len(slot_feature)
            slot_feature.append(feature)
            zero.append(1.0)
        slot = slots[feature]
        zero[slot] *= ratio
        steps.append((split, goes_left, slot))
    return value, steps, slot_feature, zero


_SPLIT_FEATURE: list[int] = []  # filled by build() before the leaves are walked


def _weights(m: int) -> np.ndarray:
    """Shapley weight of a subset of size k among m features: k! (m-k-1)! / m!."""
    return np.array(
        [math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m) for k in range(m)]
    )


def _tables(features, bias, splits, leaves):  # noqa: ANN001, ANN202
    depth = max((len(steps) for _, steps, _, _ in leaves), default=1)
    slots = max((len(f) for _, _, f, _ in leaves), default=1)
    if slots > MAX_DISTINCT:
        return None
    count = len(leaves)
    categorical = [i for i, split in enumerate(splits) if split[3]]
    codes = max((max(splits[i][4]) for i in categorical if splits[i][4]), default=0) + 1
    categories = np.zeros((len(categorical), codes), dtype=bool)
    for row, i in enumerate(categorical):
        categories[row, list(splits[i][4])] = True
    path_node = np.zeros((count, depth), dtype=np.int64)
    path_left = np.zeros((count, depth), dtype=bool)
    path_bit = np.zeros((count, depth), dtype=np.int32)
    slot_feature = np.full((count, slots), features, dtype=np.int64)
    patterns = np.arange(1 << slots)
    table = np.zeros((count, 1 << slots, slots))
    by_width: dict[int, list[int]] = {}
    for leaf, (_, steps, feats, _) in enumerate(leaves):
        for p, (split, goes_left, slot) in enumerate(steps):
            path_node[leaf, p], path_left[leaf, p], path_bit[leaf, p] = split, goes_left, 1 << slot
        slot_feature[leaf, : len(feats)] = feats
        by_width.setdefault(len(feats), []).append(leaf)
    for m, members in by_width.items():  # the leaves with m distinct features: one pass
        value = np.array([leaves[leaf][0] for leaf in members])
        zero = np.array([leaves[leaf][3] for leaf in members]).reshape(len(members), m)
        table[members, :, :m] = _leaf_tables(value, zero, patterns)
    return LeafTables(
        features=features,
        bias=bias,
        node_feature=np.array([s[0] for s in splits], dtype=np.int64),
        node_threshold=np.array([s[1] for s in splits], dtype=np.float32),
        node_default_left=np.array([s[2] for s in splits], dtype=bool),
        categorical_splits=np.array(categorical, dtype=np.int64),
        categories=categories,
        path_node=path_node,
        path_left=path_left,
        path_bit=path_bit,
        slot_feature=slot_feature,
        leaf_base=np.arange(count, dtype=np.int32)[None, :] * (1 << slots),
        all_bits=(1 << slots) - 1,
        table=table.reshape(count * (1 << slots), slots),
        **_packed(path_node, path_left, path_bit, slots, len(splits)),
    )


def _packed(
    path_node: np.ndarray, path_left: np.ndarray, path_bit: np.ndarray, slots: int, splits: int
) -> dict[str, np.ndarray]:
    """The tables of the packed look-up (none when a path is deeper than 8 splits).

    A leaf's 8 failure flags (one byte each, 0 or 1) are read as one uint64 ``v``;
    ``(v * PACK) >> 56`` maps the 256 possible ``v`` one to one onto a byte, and
    ``failure_rows`` holds, for each leaf and byte, the table row the failures select: the
    same row as the slot pattern of those failures (positions past a path's end fail nothing).
    """
    count, depth = path_node.shape
    if depth > PACKED_DEPTH:
        return {}
    padded_node = np.zeros((count, PACKED_DEPTH), dtype=np.int64)
    padded_left = np.zeros((count, PACKED_DEPTH), dtype=bool)
    padded_bit = np.zeros((count, PACKED_DEPTH), dtype=np.int64)
    padded_node[:, :depth], padded_left[:, :depth] = path_node, path_left
    padded_bit[:, :depth] = path_bit
    wrong_column = padded_node + splits * padded_left  # in [left, ~left]: fails the condition
    sets = np.arange(1 << PACKED_DEPTH)
    flags = ((sets[:, None] >> np.arange(PACKED_DEPTH)) & 1).astype(np.uint8)  # (256, 8)
    keys = _pack(flags)
    if len(np.unique(keys)) != len(sets):  # not one to one: the loop of positions instead
        return {}
    failed = np.zeros((count, len(sets)), dtype=np.int64)
    for position in range(PACKED_DEPTH):
        failed |= flags[None, :, position] * padded_bit[:, position, None]
    rows = np.arange(count, dtype=np.int64)[:, None] * (1 << slots) + (~failed & ((1 << slots) - 1))
    failure_rows = np.zeros((count, len(sets)), dtype=np.int64)
    failure_rows[:, keys] = rows
    return {"wrong_column": wrong_column.ravel(), "failure_rows": failure_rows.ravel()}


def _pack(flags: np.ndarray) -> np.ndarray:
    """``(..., 8)`` bytes of 0 or 1 -> ``(...)`` one byte each (see ``_packed``)."""
    words = np.ascontiguousarray(flags, dtype=np.uint8).view(np.uint64)[..., 0]
    return (words * PACK) >> np.uint64(56)


def _leaf_tables(value: np.ndarray, zero: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """``(leaves, patterns, m)``: for leaves with the same number ``m`` of distinct features
    (their values ``(leaves,)`` and zero fractions ``(leaves, m)``), each slot's contribution for
    each pattern of one fractions (bit j of a pattern: the row meets the path's conditions on
    slot j; bits past m are ignored). Computed for the ``2**m`` local patterns of all the leaves
    at once, then spread over the ensemble's patterns."""
    leaves, m = zero.shape
    subsets = np.arange(1 << m)
    bits = (subsets[:, None] >> np.arange(m)) & 1  # (subsets, m)
    size = bits.sum(axis=1)
    weight = _weights(m)
    # The local patterns of one fractions are the subsets themselves: (leaves, subsets, m).
    local = np.zeros((leaves, 1 << m, m))
    for i in range(m):
        valid = bits[:, i] == 0  # subsets of the others
        # prod over j not in S, j != i of z_j, per leaf
        outside = (1 - bits[valid]).astype(bool)
        outside[:, i] = False
        prod_zero = np.where(outside[None], zero[:, None, :], 1.0).prod(axis=2)  # (leaves, S)
        w = weight[size[valid]] * prod_zero
        # a subset counts for a pattern when all its features are met: S subset of pattern
        contained = (subsets[valid][None, :] & ~subsets[:, None]) == 0  # (patterns, S)
        local[:, :, i] = value[:, None] * (bits[None, :, i] - zero[:, i, None]) * (w @ contained.T)
    return local[:, patterns & ((1 << m) - 1), :]


def contributions(tables: LeafTables, matrix: np.ndarray) -> np.ndarray:
    """``(rows, features + 1)`` TreeSHAP values of an encoded matrix; the last column is the bias."""
    x = np.asarray(matrix, dtype=np.float32)  # what the booster compares: float32 values
    rows = len(x)
    values = x[:, tables.node_feature]  # (rows, splits)
    left = _goes_left(tables, values)
    if tables.failure_rows is not None and tables.wrong_column is not None:
        # Each leaf's failed positions in one gather, one byte per leaf, its table row.
        leaves = len(tables.path_bit)
        wrong = np.take(np.concatenate([left, ~left], axis=1), tables.wrong_column, axis=1)
        failed = _pack(wrong.reshape(rows, leaves, PACKED_DEPTH))
        at = np.arange(leaves, dtype=np.uint64) * np.uint64(1 << PACKED_DEPTH) + failed
        found = np.take(tables.table, tables.failure_rows[at], axis=0)  # (rows, leaves, slots)
    else:
        # A leaf's pattern: bit j set when the row takes every split on slot j the path's way.
        failed = np.zeros((rows, len(tables.path_bit)), dtype=np.int32)
        for position in range(tables.path_node.shape[1]):
            wrong = left[:, tables.path_node[:, position]] != tables.path_left[:, position]
            failed |= wrong * tables.path_bit[:, position]
        found = np.take(tables.table, tables.leaf_base + (~failed & tables.all_bits), axis=0)
    width = tables.features + 1
    index = (np.arange(rows)[:, None, None] * width + tables.slot_feature).ravel()
    out = np.bincount(index, weights=found.ravel(), minlength=rows * width).reshape(rows, width)
    out[:, tables.features] = tables.bias
    return out


def _goes_left(tables: LeafTables, values: np.ndarray) -> np.ndarray:
    """``(rows, splits)``: the row's direction at every split (XGBoost's rule: missing takes the
    default; numeric: value < threshold; categorical: a category in the split's set goes right)."""
    missing = np.isnan(values)
    left = values < tables.node_threshold
    if tables.categorical_splits.size:
        codes = values[:, tables.categorical_splits]
        known = (codes >= 0) & (codes < tables.categories.shape[1])
        index = np.where(known, codes, 0).astype(np.int64)
        in_set = tables.categories[np.arange(len(tables.categorical_splits)), index] & known
        left[:, tables.categorical_splits] = ~in_set
    return np.where(missing, tables.node_default_left, left)
