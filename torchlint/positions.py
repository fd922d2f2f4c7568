"""Line and column of the nodes a file's findings point at.

libcst computes positions by generating the file's code again while counting lines, which costs
about as much as the parse. So it is done only for files with findings, only for the top-level
statements that hold a reported node, and it stops as soon as every reported node has its
position. A statement in between holds none: its plain code, six times cheaper to generate than
with positions, says how many lines it takes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable

import libcst as cst
from libcst._position import CodePosition, CodeRange
from libcst.metadata import MetadataWrapper
from libcst.metadata.position_provider import PositionProvider, PositionProvidingCodegenState

from torchlint.analysis.facts import holds_any


class _AllFound(Exception):
    pass


class _StoppingCodegenState(PositionProvidingCodegenState):
    """libcst's own position-tracking code generation, stopped once the wanted nodes are placed."""

    wanted: frozenset = frozenset()

    @contextmanager
    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        # libcst's version, except that stopping early skips the bookkeeping of the nodes left open
        start = CodePosition(self.line, self.column)
        yield
        end = CodePosition(self.line, self.column)
        computed = self.provider._computed
        start = computed[start_node].start if start_node is not None else start
        end = computed[end_node].end if end_node is not None else end
        computed[node] = CodeRange(start, end)

    def after_codegen(self, node: cst.CSTNode) -> None:
        super().after_codegen(node)
        if node in self.wanted and all(target in self.provider._computed for target in self.wanted):
            raise _AllFound


def positions_of(module: cst.Module, nodes: Iterable[cst.CSTNode]) -> dict[cst.CSTNode, CodeRange]:
    wanted = frozenset(nodes)
    try:
        found = _positions_by_statement(module, wanted)
        # a node outside the statements' code (in a field holds_any does not read): every
        # statement's positions, as before
        return found if len(found) == len(wanted) else _positions_stopping_early(module, wanted)
    except (AttributeError, TypeError, KeyError):
        # this leans on libcst internals (the provider's ``_computed``); if a libcst release
        # moves them, the public provider still gives the same positions, only slower
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        return {node: positions[node] for node in wanted if node in positions}


def _positions_by_statement(module: cst.Module, wanted: frozenset) -> dict[cst.CSTNode, CodeRange]:
    state = _stopping_state(module, wanted)
    try:
        for line in module.header:
            line._codegen(state)
        for statement in module.body:
            if holds_any(statement, wanted):
                statement._codegen(state)
            else:
                state._update_position(module.code_for_node(statement))
    except _AllFound:
        pass
    return _found(state, wanted)


def _positions_stopping_early(module: cst.Module, wanted: frozenset) -> dict[cst.CSTNode, CodeRange]:
    state = _stopping_state(module, wanted)
    try:
        module._codegen(state)
    except _AllFound:
        pass
    return _found(state, wanted)


def _stopping_state(module: cst.Module, wanted: frozenset) -> _StoppingCodegenState:
    state = _StoppingCodegenState(default_indent=module.default_indent, default_newline=module.default_newline, provider=PositionProvider())
    state.wanted = wanted
    return state


def _found(state: _StoppingCodegenState, wanted: frozenset) -> dict[cst.CSTNode, CodeRange]:
    computed = state.provider._computed
    return {node: computed[node] for node in wanted if node in computed}
