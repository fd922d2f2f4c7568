"""`log(1 + x)`, `exp(x) - 1` and `log(sum(exp(x)))` written out instead of their fused forms.

## What it does
Flags `torch.log(1 + x)` (and `(1 + x).log()`), `torch.exp(x) - 1` (and `x.exp() - 1`) and
`torch.log(torch.sum(torch.exp(x)))` (and the method forms, `x.exp().sum().log()`), where `x`
is not a literal.

## Why is this bad?
In float32, `1 + x` rounds to 1 for `|x|` below about 6e-8: `log(1 + 1e-8)` is 0 where the true
value is 1e-8, and `exp(x) - 1` loses every significant digit the same way. `exp(x)` overflows
to `inf` for x above about 88, so `log(sum(exp(x)))` is `inf` for x = 100 while the answer is
about 100. `torch.log1p`, `torch.expm1` and `torch.logsumexp` are exact and stable.

## Example
```python
import torch


def soft_maximum(x):
    return torch.log(torch.sum(torch.exp(x), dim=-1))
```

## Use instead
```python
import torch


def soft_maximum(x):
    return torch.logsumexp(x, dim=-1)
```

## Not flagged
- The fused functions, operands that are only literals, `math`/`numpy` calls on Python
  numbers (not torch), and `exp(x - m)`, the max-subtracted form that cannot overflow.

## Off by default
On the real-code benchmark 12 of its 18 findings were right; the others were operands that cannot be in the range where precision is lost (integer offsets from `arange`, integer durations, a parameter near 0), which the code does not show. Turn it on with `--extend-select TL208`
(or `extend-select = ["TL208"]`).

## Runtime evidence
For x = 1e-8 the bad program's `log(1 + x)` is 0 and its `log(sum(exp(x)))` of x = 100 is
`inf`; the good program's `log1p` and `logsumexp` give 1e-8 and a finite value.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import is_number
from torchlint.rule import Rule


ROUNDING = frozenset({"round", "long", "int", "ceil", "floor"})


class UnstableLog1pExpm1Logsumexp(Rule):
    CODE = "TL208"
    NAME = "unstable-log1p-expm1-logsumexp"
    # Off until its precision on the real-code benchmark reaches 90 % (see "Off by default").
    DEFAULT_ENABLED = False
    MESSAGE = "`{written}` loses precision or overflows in floating point: use `{fused}`"
    TRIGGER_WORDS = ("log", "exp")

    def visit_Call(self, node: cst.Call) -> None:
        operand = self._log_operand(node)
        if operand is None:
            return
        if _one_plus(operand) is not None:
            self.report(node, self.MESSAGE.format(written="log(1 + x)", fused="torch.log1p(x)"))
        elif self._sum_of_exp(operand):
            self.report(node, self.MESSAGE.format(written="log(sum(exp(x)))", fused="torch.logsumexp(x, dim)"))

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Subtract) and is_number(node.right, 1) and self._exp_operand(node.left) is not None and not self._rounded(node):
            self.report(node, self.MESSAGE.format(written="exp(x) - 1", fused="torch.expm1(x)"))

    def _rounded(self, node: cst.BinaryOperation) -> bool:
        """``(torch.exp(d) - 1).round().long()``: rounded to whole numbers, the precision is moot."""
        scope, index = self.facts.place_of(node)
        if scope is None:
            return False
        for site in scope.calls:
            func = site.node.func
            if isinstance(func, cst.Attribute) and func.attr.value in ROUNDING and any(receiver is node for receiver in _parenthesised_receivers(site.node)):
                return True
            if (self.facts.qualified_name(func) or "").rpartition(".")[2] in ROUNDING and any(arg.value is node for arg in site.node.args):
                return True
        return False

    def _log_operand(self, call: cst.Call):
        if self.facts.qualified_name(call.func) == "torch.log" and call.args:
            return call.args[0].value
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "log" and not call.args and self.facts.qualified_name(call.func) is None:
            return call.func.value
        return None

    def _exp_operand(self, expr):
        """``x`` in ``torch.exp(x)`` or ``x.exp()``, when ``x`` is not a literal."""
        if not isinstance(expr, cst.Call):
            return None
        if self.facts.qualified_name(expr.func) == "torch.exp" and expr.args:
            operand = expr.args[0].value
        elif isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "exp" and not expr.args and self.facts.qualified_name(expr.func) is None:
            operand = expr.func.value
        else:
            return None
        # ``exp(x - x.max())`` is the stable form written out (also through a name, ``v0 = v - m``)
        site = self.facts.call_site(expr)
        bound = self.facts.resolve(operand, site.scope, site.index).expr if site is not None else operand
        if _is_literal(operand) or any(isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Subtract) for value in (operand, bound)):
            return None
        return operand

    def _sum_of_exp(self, expr) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        if self.facts.qualified_name(expr.func) == "torch.sum" and expr.args:
            return self._exp_operand(expr.args[0].value) is not None
        if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "sum" and self.facts.qualified_name(expr.func) is None:
            return self._exp_operand(expr.func.value) is not None
        return False

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: log(1 + 1e-8) and exp(1e-8) - 1 are exactly 0 in float32, and a million compounded steps of 1e-8 give no growth",
             bad["log_growth"] == 0.0 and bad["rate_back"] == 0.0 and bad["compounded_growth_rel_error"] > 0.5),
            ("good: log1p(1e-8) and expm1(1e-8) are 1e-8, and the compounded growth is about 0.01005",
             good["log_growth_rel_error"] < 1e-5 and good["rate_back_rel_error"] < 1e-5 and good["compounded_growth_rel_error"] < 1e-4),
            ("bad: log(sum(exp(x))) of scores of about 100 overflows to inf",
             bad["score_magnitude"] > 90 and not bad["log_partition_finite"]),
            ("good: logsumexp of the same scores is finite and matches a float64 reference",
             good["score_magnitude"] > 90 and good["log_partition_finite"] and good["log_partition_max_error"] < 1e-3),
        ]


def _one_plus(expr):
    """``x`` in ``1 + x`` or ``x + 1`` (parenthesised or not), when ``x`` is not a literal."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        for one, other in ((expr.left, expr.right), (expr.right, expr.left)):
            if is_number(one, 1) and not _is_literal(other):
                return other
    return None


def _is_literal(expr) -> bool:
    if isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    if isinstance(expr, cst.BinaryOperation):
        return _is_literal(expr.left) and _is_literal(expr.right)
    return isinstance(expr, (cst.Integer, cst.Float))


def _parenthesised_receivers(call: cst.Call):
    """The expressions a chain of method calls is applied to: ``(a - 1)`` in ``(a - 1).round().long()``."""
    expr = call.func.value if isinstance(call.func, cst.Attribute) else None
    while expr is not None:
        yield expr
        expr = expr.func.value if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) else None
