"""The order of a training iteration's events, and the branches they run on.

A loop body runs again and again, so what follows an event is the rest of its iteration and
then the next iteration from the top. An event inside an ``if`` (or an ``except``) runs only
on some iterations; two events in opposite branches of one ``if`` never run in the same
iteration. Every rule that reasons about order asks these questions here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

import libcst as cst

from torchlint.analysis.events import Event

if TYPE_CHECKING:
    from torchlint.analysis import FileFacts


def following(events: list[Event], position: int) -> list[Event]:
    """The events that run after ``events[position]`` while the loop goes on: the rest of the
    iteration, then the next iteration up to it."""
    return events[position + 1:] + events[:position]


def preceding(events: list[Event], position: int) -> list[Event]:
    """The events of the same iteration before ``events[position]``, nearest first."""
    return list(reversed(events[:position]))


def first_of(events: Iterable[Event], kinds: Iterable[str]) -> Optional[Event]:
    wanted = set(kinds)
    return next((event for event in events if event.kind in wanted), None)


def conditional_blocks(facts: "FileFacts", event: Event) -> tuple[cst.CSTNode, ...]:
    """The ``if``, ``try`` and ``except`` blocks around an event's anchor: it runs only when they let it."""
    site = facts.call_site(event.anchor)
    blocks = site.blocks if site is not None else ()
    return tuple(block for block in blocks if isinstance(block, (cst.If, cst.Try, cst.ExceptHandler)))


def runs_whenever(facts: "FileFacts", event: Event, other: Event) -> bool:
    """``event`` runs on every iteration on which ``other`` runs: it is inside no ``if`` or
    ``try`` that ``other`` is outside of (``if not torch.isfinite(loss): optimizer.zero_grad();
    continue`` does not run whenever the step does)."""
    if facts.call_site(event.anchor) is None or facts.call_site(other.anchor) is None:
        return False
    around_other = conditional_blocks(facts, other)
    return all(block in around_other for block in conditional_blocks(facts, event))


def in_exclusive_branches(facts: "FileFacts", event: Event, other: Event) -> bool:
    """One of them is in the body of an ``if`` and the other in its ``else``: they never run in
    the same iteration (``if phase == "train": model.train() else: model.eval()``)."""
    for block in conditional_blocks(facts, event):
        if isinstance(block, cst.If):
            mine, theirs = facts.branch_of(block, event.index), facts.branch_of(block, other.index)
            if mine is not None and theirs is not None and mine != theirs:
                return True
    return False
