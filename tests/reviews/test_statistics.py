"""Agreement statistics against worked examples whose arithmetic is spelled out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviews.statistics import (
    adjacent_agreement,
    agreement,
    cohen_kappa,
    confusion_matrix,
    exact_agreement,
    gwet_ac1,
    weighted_kappa,
)

NOT_YET, DEVELOPING, PROFICIENT = 0, 1, 2


def sequences_from_table(table: list[list[int]]) -> tuple[list[int], list[int]]:
    """Rating pairs that produce ``table`` (row = rater A's category, column = B's)."""
    a: list[int] = []
    b: list[int] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a.extend([i] * count)
            b.extend([j] * count)
    return a, b


def test_domain_worked_example_kappa() -> None:
    """DOMAIN.md §6: 40 of 50 criterion pairs agree; A uses P/D/N at .6/.3/.1 and
    B at .5/.4/.1, so p_e = .6*.5 + .3*.4 + .1*.1 = .43 and
    kappa = (.80 - .43) / (1 - .43) = .37 / .57 = 0.6491..."""
    # Rows: A's level, columns: B's level, in the order Not Yet, Developing, Proficient.
    table = [
        [3, 2, 0],  # A: Not Yet    (5 = 10%)
        [1, 13, 1],  # A: Developing (15 = 30%)
        [1, 5, 24],  # A: Proficient (30 = 60%)
    ]  # B's column sums: 5 (10%), 20 (40%), 25 (50%); diagonal 3 + 13 + 24 = 40
    a, b = sequences_from_table(table)
    assert len(a) == 50
    assert confusion_matrix(a, b, 3) == table
    assert [a.count(k) / 50 for k in (PROFICIENT, DEVELOPING, NOT_YET)] == [0.6, 0.3, 0.1]
    assert [b.count(k) / 50 for k in (PROFICIENT, DEVELOPING, NOT_YET)] == [0.5, 0.4, 0.1]
    assert exact_agreement(a, b) == 0.8
    kappa = cohen_kappa(a, b, 3)
    assert kappa == pytest.approx(0.37 / 0.57)
    assert round(kappa, 2) == 0.65


def test_published_two_by_two_kappa_and_ac1() -> None:
    """The textbook grant-proposal example (Wikipedia, "Cohen's kappa"): both say yes
    20, A yes/B no 5, A no/B yes 10, both no 15. p_o = 35/50 = .7; A says yes .5,
    B .6, so p_e = .5*.6 + .5*.4 = .5 and kappa = (.7 - .5) / .5 = .4.
    Gwet's AC1: pi_yes = (.5 + .6)/2 = .55, p_e = 2 * .55 * .45 / (2 - 1) = .495,
    AC1 = (.7 - .495) / (1 - .495) = .205 / .505."""
    no, yes = 0, 1
    a, b = sequences_from_table([[15, 10], [5, 20]])
    assert a.count(yes) == 25 and b.count(yes) == 30 and no == 0
    assert exact_agreement(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b, 2) == pytest.approx(0.4)
    assert gwet_ac1(a, b, 2) == pytest.approx(0.205 / 0.505)
    # With two categories every weighting gives the plain kappa.
    assert weighted_kappa(a, b, 2, "linear") == pytest.approx(0.4)
    assert weighted_kappa(a, b, 2, "quadratic") == pytest.approx(0.4)


def test_weighted_kappa_three_by_three_by_hand() -> None:
    """Ten pairs, rows A, columns B:

        A\\B   0  1  2 | row
        0     2  1  0 |  3
        1     1  3  1 |  5
        2     0  0  2 |  2
        col   3  4  3 | 10

    Observed: three pairs one level apart, none two apart.
      linear    sum w*o = (1+1+1)/10 = 0.3;  quadratic sum w*o = 0.3 as well.
    Chance e_ij = row_i * col_j / 100; sum over i != j of w_ij * row_i * col_j:
      one apart (w = 1 either way): 3*4 + 5*3 + 5*3 + 2*4 = 12 + 15 + 15 + 8 = 50
      two apart (w = 2 linear, 4 quadratic): 3*3 + 2*3 = 15
      linear    sum w*e = (50 + 2*15)/100 = 0.80 -> kappa_w = 1 - 0.3/0.8 = 0.625
      quadratic sum w*e = (50 + 4*15)/100 = 1.10 -> kappa_w = 1 - 0.3/1.1 = 8/11
    Unweighted: p_o = 7/10, p_e = (3*3 + 5*4 + 2*3)/100 = .35, kappa = .35/.65 = 7/13."""
    a, b = sequences_from_table([[2, 1, 0], [1, 3, 1], [0, 0, 2]])
    assert weighted_kappa(a, b, 3, "linear") == pytest.approx(0.625)
    assert weighted_kappa(a, b, 3, "quadratic") == pytest.approx(8 / 11)
    assert cohen_kappa(a, b, 3) == pytest.approx(7 / 13)
    figures = agreement(a, b, 3)
    assert figures.pairs == 10
    assert figures.exact == pytest.approx(0.7)
    assert figures.adjacent == 1.0
    assert figures.weighted_kappa == pytest.approx(8 / 11)
    assert figures.linear_weighted_kappa == pytest.approx(0.625)


def test_weighted_kappa_punishes_far_disagreements_more() -> None:
    a = [0, 1, 2, 2, 1, 0]
    near = [0, 1, 2, 1, 1, 0]  # one pair one level apart
    far = [0, 1, 2, 0, 1, 0]  # one pair two levels apart
    assert exact_agreement(a, near) == exact_agreement(a, far)
    for weighting in ("linear", "quadratic"):
        assert weighted_kappa(a, far, 3, weighting) < weighted_kappa(a, near, 3, weighting)


def test_adjacent_agreement_counts_one_level_apart() -> None:
    a, b = [0, 1, 2, 2], [1, 1, 0, 2]  # apart by 1, 0, 2, 0
    assert exact_agreement(a, b) == 0.5
    assert adjacent_agreement(a, b) == 0.75


def test_degenerate_cases() -> None:
    # Nothing rated: nothing measured.
    assert exact_agreement([], []) is None
    assert adjacent_agreement([], []) is None
    assert cohen_kappa([], [], 3) is None
    assert weighted_kappa([], [], 3) is None
    assert gwet_ac1([], [], 3) is None
    assert agreement([], [], 3).pairs == 0
    # Both raters always chose the same one level: p_e = 1, kappa is 0/0 -> None,
    # while exact agreement is 1 and AC1 (p_e = 0 here) is 1.
    same = [PROFICIENT] * 8
    assert cohen_kappa(same, same, 3) is None
    assert weighted_kappa(same, same, 3, "linear") is None
    assert weighted_kappa(same, same, 3, "quadratic") is None
    assert exact_agreement(same, same) == 1.0
    assert gwet_ac1(same, same, 3) == 1.0
    assert gwet_ac1([0, 0], [0, 0], 1) is None
    # Perfect agreement with variation is 1 everywhere.
    varied = [0, 1, 2, 1]
    assert cohen_kappa(varied, varied, 3) == 1.0
    assert weighted_kappa(varied, varied, 3) == 1.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="different numbers"):
        cohen_kappa([0, 1], [0], 2)
    with pytest.raises(ValueError, match="outside"):
        cohen_kappa([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="Unknown weighting"):
        weighted_kappa([0, 1], [0, 1], 2, "cubic")  # type: ignore[arg-type]


ratings = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 3), min_size=n, max_size=n),
        st.lists(st.integers(0, 3), min_size=n, max_size=n),
    )
)


@given(ratings)
def test_figures_do_not_depend_on_rater_order_and_stay_in_range(pair: tuple) -> None:
    a, b = pair
    forward, backward = agreement(a, b, 4), agreement(b, a, 4)
    for name in ("exact", "adjacent", "kappa", "weighted_kappa", "linear_weighted_kappa", "ac1"):
        x, y = getattr(forward, name), getattr(backward, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert x == pytest.approx(y)
            assert -1.0 - 1e-9 <= x <= 1.0 + 1e-9
