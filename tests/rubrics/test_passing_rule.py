"""The passing rules, checked on many generated rubrics.

Evaluation works on versions that were never saved, so these tests need no database.
Scores and weights are multiples of 1/2 and small, so every sum is exact in floating
point and the test's own arithmetic (with fractions) can be compared exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidError
from rubrics import services
from rubrics.models import (
    CriterionLevel,
    PassingRuleKind,
    RubricCriterion,
    RubricVersion,
    VersionStatus,
)

SETTINGS = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class GeneratedRubric:
    names: list[str]
    scores: list[float]
    weights: list[float]

    @property
    def keys(self) -> list[str]:
        return [f"C{n}" for n in range(1, len(self.weights) + 1)]

    def version(
        self,
        kind: PassingRuleKind,
        *,
        level: str | None = None,
        threshold: float | None = None,
    ) -> RubricVersion:
        """An unsaved version with these criteria and levels."""
        version = RubricVersion(
            number=1,
            status=VersionStatus.DRAFT,
            title="Generated",
            passing_rule_kind=kind,
            passing_level=level,
            passing_threshold=threshold,
        )
        version.criteria = [
            RubricCriterion(
                position=position,
                key=key,
                title=f"Criterion {key}",
                weight=weight,
                evidence_parts=[],
                levels=[
                    CriterionLevel(
                        position=rank, name=name, score=score, descriptor=f"{key} {name}"
                    )
                    for rank, (name, score) in enumerate(
                        zip(self.names, self.scores, strict=True), start=1
                    )
                ],
            )
            for position, (key, weight) in enumerate(zip(self.keys, self.weights, strict=True))
        ]
        return version

    def weighted_mean(self, ranks: list[int]) -> float:
        total = sum(
            (
                Fraction(w) * Fraction(self.scores[r])
                for w, r in zip(self.weights, ranks, strict=True)
            ),
            Fraction(0),
        )
        return float(total / sum((Fraction(w) for w in self.weights), Fraction(0)))


halves = st.integers(min_value=-20, max_value=40).map(lambda n: n / 2)


@st.composite
def rubrics(draw: st.DrawFn) -> GeneratedRubric:
    level_count = draw(st.integers(min_value=2, max_value=5))
    criterion_count = draw(st.integers(min_value=1, max_value=6))
    names = draw(
        st.lists(
            st.text(min_size=1, max_size=60),
            min_size=level_count,
            max_size=level_count,
            unique=True,
        )
    )
    start = draw(halves)
    steps = draw(
        st.lists(
            st.integers(min_value=1, max_value=10),
            min_size=level_count - 1,
            max_size=level_count - 1,
        )
    )
    scores = [start]
    for step in steps:
        scores.append(scores[-1] + step / 2)
    weights = draw(
        st.lists(
            st.integers(min_value=1, max_value=10).map(lambda n: n / 2),
            min_size=criterion_count,
            max_size=criterion_count,
        )
    )
    return GeneratedRubric(names, scores, weights)


def ranks_for(rubric: GeneratedRubric, low: int = 0, high: int | None = None) -> st.SearchStrategy:
    top = len(rubric.names) - 1 if high is None else high
    return st.lists(
        st.integers(min_value=low, max_value=top),
        min_size=len(rubric.keys),
        max_size=len(rubric.keys),
    )


def choice(rubric: GeneratedRubric, ranks: list[int]) -> dict[str, str]:
    return {key: rubric.names[rank] for key, rank in zip(rubric.keys, ranks, strict=True)}


# --- all_at_least -------------------------------------------------------------


@SETTINGS
@given(data=st.data(), rubric=rubrics())
def test_every_criterion_at_or_above_the_level_passes(
    data: st.DataObject, rubric: GeneratedRubric
) -> None:
    passing = data.draw(st.integers(min_value=0, max_value=len(rubric.names) - 1), "passing")
    ranks = data.draw(ranks_for(rubric, low=passing), "ranks")
    version = rubric.version(PassingRuleKind.ALL_AT_LEAST, level=rubric.names[passing])
    assert services.passes(version, choice(rubric, ranks)) is True


@SETTINGS
@given(data=st.data(), rubric=rubrics())
def test_one_criterion_below_the_level_fails(data: st.DataObject, rubric: GeneratedRubric) -> None:
    passing = data.draw(st.integers(min_value=1, max_value=len(rubric.names) - 1), "passing")
    ranks = data.draw(ranks_for(rubric), "ranks")
    below = data.draw(st.integers(min_value=0, max_value=len(ranks) - 1), "criterion below")
    ranks[below] = data.draw(st.integers(min_value=0, max_value=passing - 1), "rank below")
    version = rubric.version(PassingRuleKind.ALL_AT_LEAST, level=rubric.names[passing])
    assert services.passes(version, choice(rubric, ranks)) is False


@SETTINGS
@given(data=st.data(), rubric=rubrics())
def test_a_level_above_the_lowest_always_publishes(
    data: st.DataObject, rubric: GeneratedRubric
) -> None:
    passing = data.draw(st.integers(min_value=1, max_value=len(rubric.names) - 1), "passing")
    version = rubric.version(PassingRuleKind.ALL_AT_LEAST, level=rubric.names[passing])
    assert services.publish_problems(version) == []
    lowest = rubric.version(PassingRuleKind.ALL_AT_LEAST, level=rubric.names[0])
    assert services.publish_problems(lowest) == [
        f"The passing rule cannot be failed: {rubric.names[0]!r} is the lowest level of "
        "every criterion."
    ]


# --- weighted_threshold -------------------------------------------------------


def thresholds(rubric: GeneratedRubric) -> st.SearchStrategy[float]:
    """Any threshold in and around the score range, and the reachable means
    themselves (the boundary, where ``>=`` matters)."""
    return st.one_of(
        st.floats(
            min_value=rubric.scores[0] - 5,
            max_value=rubric.scores[-1] + 5,
            allow_nan=False,
            allow_infinity=False,
        ),
        ranks_for(rubric).map(rubric.weighted_mean),
    )


@SETTINGS
@given(data=st.data(), rubric=rubrics())
def test_weighted_threshold_passes_iff_the_weighted_mean_reaches_it(
    data: st.DataObject, rubric: GeneratedRubric
) -> None:
    threshold = data.draw(thresholds(rubric), "threshold")
    ranks = data.draw(ranks_for(rubric), "ranks")
    version = rubric.version(PassingRuleKind.WEIGHTED_THRESHOLD, threshold=threshold)
    expected = rubric.weighted_mean(ranks) >= threshold
    assert services.passes(version, choice(rubric, ranks)) is expected


@SETTINGS
@given(data=st.data(), rubric=rubrics())
def test_weighted_threshold_publishes_iff_it_can_be_met_and_failed(
    data: st.DataObject, rubric: GeneratedRubric
) -> None:
    threshold = data.draw(thresholds(rubric), "threshold")
    version = rubric.version(PassingRuleKind.WEIGHTED_THRESHOLD, threshold=threshold)
    # With levels shared by all criteria, the extremes are the lowest and highest score.
    can_be_met = threshold <= rubric.scores[-1]
    can_be_failed = threshold > rubric.scores[0]
    assert (services.publish_problems(version) == []) is (can_be_met and can_be_failed)


# --- Choices that cannot be judged --------------------------------------------


def _sample() -> GeneratedRubric:
    return GeneratedRubric(["Low", "Mid", "High"], [0.0, 1.0, 2.0], [1.0, 2.0])


@pytest.mark.parametrize("kind", list(PassingRuleKind))
def test_a_criterion_without_a_level_is_refused(kind: PassingRuleKind) -> None:
    version = _sample().version(kind, level="Mid", threshold=1.0)
    with pytest.raises(InvalidError) as refused:
        services.passes(version, {"C1": "High"})
    assert refused.value.errors == {"levels": ["C2"]}


@pytest.mark.parametrize("kind", list(PassingRuleKind))
def test_a_level_the_criterion_does_not_have_is_refused(kind: PassingRuleKind) -> None:
    version = _sample().version(kind, level="Mid", threshold=1.0)
    with pytest.raises(InvalidError, match="'Top' is not a level of criterion C2"):
        services.passes(version, {"C1": "High", "C2": "Top"})


def test_weighted_mean_uses_the_weights() -> None:
    version = _sample().version(PassingRuleKind.WEIGHTED_THRESHOLD, threshold=1.5)
    # (1 x 2 + 2 x 1) / 3 = 1.33: below 1.5 although the plain mean is 1.5.
    assert services.weighted_score(version, {"C1": "High", "C2": "Mid"}) == pytest.approx(4 / 3)
    assert services.passes(version, {"C1": "High", "C2": "Mid"}) is False
    assert services.passes(version, {"C1": "Mid", "C2": "High"}) is True
