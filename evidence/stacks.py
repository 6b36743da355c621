"""Progress toward stacked credentials, from the micro-credentials earned."""

from __future__ import annotations

from dataclasses import dataclass

from credentials import services as catalog
from credentials.models import Stack


@dataclass(frozen=True)
class StackProgress:
    stack: Stack
    required_done: list[str]
    required_missing: list[str]
    chosen_done: list[str]
    choose_needed: int

    @property
    def earned(self) -> bool:
        return not self.required_missing and len(self.chosen_done) >= self.choose_needed

    @property
    def done(self) -> int:
        return len(self.required_done) + min(len(self.chosen_done), self.choose_needed)

    @property
    def total(self) -> int:
        return len(self.required_done) + len(self.required_missing) + self.choose_needed


def stack_progress(earned: set[str]) -> list[StackProgress]:
    return [
        StackProgress(
            stack=stack,
            required_done=[code for code in stack.required if code in earned],
            required_missing=[code for code in stack.required if code not in earned],
            chosen_done=[code for code in stack.choose_from if code in earned],
            choose_needed=stack.choose_count,
        )
        for stack in catalog.list_stacks()
    ]
