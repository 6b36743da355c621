"""Agreement between two raters on an ordinal scale: pure functions, no Flask.

Every function takes two equally long sequences of category indexes (0 for the
lowest level, ``categories - 1`` for the highest) rated on the same items, in the
same order. Rater order does not matter for any figure here.

Degenerate cases, the same everywhere:

- No pairs at all: ``None`` (nothing was measured).
- Chance agreement of 1 (for kappa: both raters put every item in one and the same
  category, so p_e = 1 and the formula is 0/0): ``None``. Agreement beyond chance
  cannot be measured when nothing varies, and callers must not treat that as
  either perfect or poor agreement; exact agreement (1.0 then) still says the
  raters agreed. Calibration therefore cannot qualify anyone on an anchor set whose
  true levels never vary: the anchor set itself is inadequate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Weighting = Literal["linear", "quadratic"]


def _check(a: Sequence[int], b: Sequence[int], categories: int | None = None) -> None:
    if len(a) != len(b):
        raise ValueError(f"The raters rated different numbers of items ({len(a)} and {len(b)}).")
    if categories is not None:
        if categories < 1:
            raise ValueError("There must be at least one category.")
        for value in (*a, *b):
            if not 0 <= value < categories:
                raise ValueError(f"Category index {value} is outside 0..{categories - 1}.")


def confusion_matrix(a: Sequence[int], b: Sequence[int], categories: int) -> list[list[int]]:
    """Counts: row = rater A's category, column = rater B's."""
    _check(a, b, categories)
    matrix = [[0] * categories for _ in range(categories)]
    for i, j in zip(a, b, strict=True):
        matrix[i][j] += 1
    return matrix


def exact_agreement(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Share of items both raters put in the same category."""
    _check(a, b)
    if not a:
        return None
    return sum(1 for i, j in zip(a, b, strict=True) if i == j) / len(a)


def adjacent_agreement(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Share of items rated at most one level apart (exact agreement included)."""
    _check(a, b)
    if not a:
        return None
    return sum(1 for i, j in zip(a, b, strict=True) if abs(i - j) <= 1) / len(a)


def _marginals(
    a: Sequence[int], b: Sequence[int], categories: int
) -> tuple[list[float], list[float]]:
    """Each rater's share of items per category."""
    count_a = [0] * categories
    count_b = [0] * categories
    for i, j in zip(a, b, strict=True):
        count_a[i] += 1
        count_b[j] += 1
    n = len(a)
    return [c / n for c in count_a], [c / n for c in count_b]


def cohen_kappa(a: Sequence[int], b: Sequence[int], categories: int) -> float | None:
    """Cohen's kappa: (p_o - p_e) / (1 - p_e), with p_e = sum_k p_A(k) * p_B(k)."""
    _check(a, b, categories)
    if not a:
        return None
    p_a, p_b = _marginals(a, b, categories)
    p_o = sum(1 for i, j in zip(a, b, strict=True) if i == j) / len(a)
    p_e = sum(x * y for x, y in zip(p_a, p_b, strict=True))
    if _is_one(p_e):
        return None
    return (p_o - p_e) / (1 - p_e)


def disagreement_weight(i: int, j: int, weighting: Weighting) -> int:
    """How much a disagreement between categories ``i`` and ``j`` costs."""
    if weighting == "linear":
        return abs(i - j)
    if weighting == "quadratic":
        return (i - j) ** 2
    raise ValueError(f"Unknown weighting {weighting!r}; use 'linear' or 'quadratic'.")


def weighted_kappa(
    a: Sequence[int], b: Sequence[int], categories: int, weighting: Weighting = "quadratic"
) -> float | None:
    """Weighted kappa: 1 - sum(w_ij * o_ij) / sum(w_ij * e_ij), with observed
    proportions o_ij, chance proportions e_ij = p_A(i) * p_B(j), and disagreement
    weights w_ij = |i - j| (linear) or (i - j)^2 (quadratic)."""
    _check(a, b, categories)
    if not a:
        return None
    n = len(a)
    p_a, p_b = _marginals(a, b, categories)
    observed = sum(disagreement_weight(i, j, weighting) for i, j in zip(a, b, strict=True)) / n
    expected = sum(
        disagreement_weight(i, j, weighting) * p_a[i] * p_b[j]
        for i in range(categories)
        for j in range(categories)
    )
    if _is_zero(expected):  # the same condition as p_e = 1 for plain kappa
        return None
    return 1 - observed / expected


def gwet_ac1(a: Sequence[int], b: Sequence[int], categories: int) -> float | None:
    """Gwet's AC1: (p_o - p_e) / (1 - p_e) with p_e = sum_k pi_k (1 - pi_k) / (q - 1),
    pi_k the mean of both raters' shares of category k. Steadier than kappa when
    most items sit in one category. ``None`` for a one-category scale."""
    _check(a, b, categories)
    if not a or categories < 2:
        return None
    p_a, p_b = _marginals(a, b, categories)
    p_o = sum(1 for i, j in zip(a, b, strict=True) if i == j) / len(a)
    pi = [(x + y) / 2 for x, y in zip(p_a, p_b, strict=True)]
    p_e = sum(p * (1 - p) for p in pi) / (categories - 1)
    return (p_o - p_e) / (1 - p_e)  # p_e <= 1/q < 1 for q >= 2


def _is_one(value: float) -> bool:
    return abs(1 - value) < 1e-12


def _is_zero(value: float) -> bool:
    return abs(value) < 1e-12


@dataclass(frozen=True)
class Agreement:
    """Every figure for one set of rating pairs (``None`` where undefined)."""

    pairs: int
    exact: float | None
    adjacent: float | None
    kappa: float | None
    weighted_kappa: float | None  # quadratic weights
    linear_weighted_kappa: float | None
    ac1: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def agreement(a: Sequence[int], b: Sequence[int], categories: int) -> Agreement:
    """All the figures at once."""
    return Agreement(
        pairs=len(a),
        exact=exact_agreement(a, b),
        adjacent=adjacent_agreement(a, b),
        kappa=cohen_kappa(a, b, categories),
        weighted_kappa=weighted_kappa(a, b, categories, "quadratic"),
        linear_weighted_kappa=weighted_kappa(a, b, categories, "linear"),
        ac1=gwet_ac1(a, b, categories),
    )
