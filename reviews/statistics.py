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
# Every figure is computed from the confusion matrix, so a report can add up counts
# row by row and never hold the individual ratings.
Matrix = Sequence[Sequence[int]]


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


def _matrix_of(a: Sequence[int], b: Sequence[int]) -> Matrix:
    _check(a, b)
    return confusion_matrix(a, b, max((*a, *b), default=0) + 1)


def _total(matrix: Matrix) -> int:
    return sum(sum(row) for row in matrix)


def _shares(matrix: Matrix) -> tuple[list[float], list[float]]:
    """Each rater's share of items per category (rows: rater A, columns: rater B)."""
    n = _total(matrix)
    size = len(matrix)
    return (
        [sum(matrix[i]) / n for i in range(size)],
        [sum(matrix[i][j] for i in range(size)) / n for j in range(size)],
    )


def exact_from_matrix(matrix: Matrix) -> float | None:
    n = _total(matrix)
    return sum(matrix[i][i] for i in range(len(matrix))) / n if n else None


def adjacent_from_matrix(matrix: Matrix) -> float | None:
    n = _total(matrix)
    size = len(matrix)
    near = sum(matrix[i][j] for i in range(size) for j in range(size) if abs(i - j) <= 1)
    return near / n if n else None


def kappa_from_matrix(matrix: Matrix) -> float | None:
    """Cohen's kappa: (p_o - p_e) / (1 - p_e), with p_e = sum_k p_A(k) * p_B(k)."""
    if not _total(matrix):
        return None
    p_a, p_b = _shares(matrix)
    p_o = exact_from_matrix(matrix) or 0.0
    p_e = sum(x * y for x, y in zip(p_a, p_b, strict=True))
    if _is_one(p_e):
        return None
    return (p_o - p_e) / (1 - p_e)


def weighted_kappa_from_matrix(matrix: Matrix, weighting: Weighting = "quadratic") -> float | None:
    """Weighted kappa: 1 - sum(w_ij * o_ij) / sum(w_ij * e_ij), with observed
    proportions o_ij, chance proportions e_ij = p_A(i) * p_B(j), and disagreement
    weights w_ij = |i - j| (linear) or (i - j)^2 (quadratic)."""
    n = _total(matrix)
    if not n:
        return None
    size = len(matrix)
    p_a, p_b = _shares(matrix)
    cells = [(i, j) for i in range(size) for j in range(size)]
    observed = sum(disagreement_weight(i, j, weighting) * matrix[i][j] for i, j in cells) / n
    expected = sum(disagreement_weight(i, j, weighting) * p_a[i] * p_b[j] for i, j in cells)
    if _is_zero(expected):  # the same condition as p_e = 1 for plain kappa
        return None
    return 1 - observed / expected


def ac1_from_matrix(matrix: Matrix) -> float | None:
    """Gwet's AC1: (p_o - p_e) / (1 - p_e) with p_e = sum_k pi_k (1 - pi_k) / (q - 1),
    pi_k the mean of both raters' shares of category k, q the matrix size."""
    categories = len(matrix)
    if not _total(matrix) or categories < 2:
        return None
    p_a, p_b = _shares(matrix)
    p_o = exact_from_matrix(matrix) or 0.0
    pi = [(x + y) / 2 for x, y in zip(p_a, p_b, strict=True)]
    p_e = sum(p * (1 - p) for p in pi) / (categories - 1)
    return (p_o - p_e) / (1 - p_e)  # p_e <= 1/q < 1 for q >= 2


def exact_agreement(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Share of items both raters put in the same category."""
    return exact_from_matrix(_matrix_of(a, b))


def adjacent_agreement(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Share of items rated at most one level apart (exact agreement included)."""
    return adjacent_from_matrix(_matrix_of(a, b))


def cohen_kappa(a: Sequence[int], b: Sequence[int], categories: int) -> float | None:
    """Cohen's kappa of two raters' category indexes."""
    return kappa_from_matrix(confusion_matrix(a, b, categories))


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
    """Weighted kappa of two raters' category indexes (see weighted_kappa_from_matrix)."""
    disagreement_weight(0, 0, weighting)  # an unknown weighting fails even without data
    return weighted_kappa_from_matrix(confusion_matrix(a, b, categories), weighting)


def gwet_ac1(a: Sequence[int], b: Sequence[int], categories: int) -> float | None:
    """Gwet's AC1 of two raters' category indexes; steadier than kappa when most
    items sit in one category. ``None`` for a one-category scale."""
    return ac1_from_matrix(confusion_matrix(a, b, categories))


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
    return agreement_from_matrix(confusion_matrix(a, b, categories))


def agreement_from_matrix(matrix: Matrix) -> Agreement:
    """All the figures from a confusion matrix (row: rater A, column: rater B)."""
    return Agreement(
        pairs=_total(matrix),
        exact=exact_from_matrix(matrix),
        adjacent=adjacent_from_matrix(matrix),
        kappa=kappa_from_matrix(matrix),
        weighted_kappa=weighted_kappa_from_matrix(matrix, "quadratic"),
        linear_weighted_kappa=weighted_kappa_from_matrix(matrix, "linear"),
        ac1=ac1_from_matrix(matrix),
    )
