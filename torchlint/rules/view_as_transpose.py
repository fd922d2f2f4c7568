"""`x.view(x.size(1), x.size(0))`: a reshape used where a transpose was meant.

## What it does
Flags `view` and `reshape` calls whose arguments are all sizes of the tensor itself
(`x.size(i)`, `x.shape[i]`, or names unpacked from `x.shape`) in an order that permutes its
dimensions: `x.view(x.size(1), x.size(0))`, `b, c, h, w = x.shape; x.reshape(b, h, w, c)`.

## Why is this bad?
`view` and `reshape` keep the elements in memory order and only relabel the shape; they never
move elements between axes. A "swap" written with them has the right shape and scrambled
contents: channels mixed with pixels, time steps with batch items. Nothing fails; the model
just learns from noise.

## Example
```python
def channels_last(x):
    b, c, h, w = x.shape
    return x.reshape(b, h, w, c)
```

## Use instead
```python
def channels_last(x):
    return x.permute(0, 2, 3, 1)
```

## Not flagged
- The identity order, merges and splits (`x.view(b, c, h * w)`, `x.view(-1, d)`), and sizes of
  another tensor.
- `permute` and `transpose`, which move the elements.

## Runtime evidence
The bad program's "transposed" tensor differs from the real transpose; the good program's equals it.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.rule import Rule

RESHAPES = frozenset({"view", "reshape"})


class ViewAsTranspose(Rule):
    CODE = "TL502"
    NAME = "view-as-transpose"
    MESSAGE = "`{method}` with the sizes of `{tensor}` in a new order relabels the shape but moves no elements: use `permute` (or `transpose`)"
    TRIGGER_WORDS = ("view", "reshape")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in RESHAPES or len(node.args) < 2:
            return
        tensor = dotted_name(func.value)
        site = self.facts.call_site(node)
        if tensor is None or site is None or any(arg.keyword is not None or arg.star for arg in node.args):
            return
        if self._rebound_since_sizes_were_taken(node, tensor, site):
            return
        dimensions = [self._dimension_of(arg.value, tensor, site) for arg in node.args]
        if None in dimensions or sorted(dimensions) != list(range(len(dimensions))) or dimensions == sorted(dimensions):
            return
        self.report(node, self.MESSAGE.format(method=func.attr.value, tensor=tensor))

    def _rebound_since_sizes_were_taken(self, node: cst.Call, tensor: str, site) -> bool:
        """``b, c, h, w = x.shape; x = layer(x); x.view(b, h, w, c)``: the sizes are another tensor's."""
        tensor_bound = [bound_at for bound_at, _ in site.scope.bindings.get(tensor, []) if bound_at < site.index]
        for arg in node.args:
            size = self.facts.resolve(arg.value, site.scope, site.index)
            if size.expr is not arg.value and tensor_bound and tensor_bound[-1] > size.index:
                return True
        return False

    def _dimension_of(self, expr: cst.BaseExpression, tensor: str, site) -> Optional[int]:
        """``i`` when ``expr`` is ``tensor.size(i)``, ``tensor.shape[i]`` or a name bound to one."""
        expr = self.facts.resolve(expr, site.scope, site.index).expr
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "size" and len(expr.args) == 1:
            if dotted_name(expr.func.value) == tensor:
                return _integer(expr.args[0].value)
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = _integer(expr.slice[0].slice.value)
            base = expr.value
            if isinstance(base, cst.Attribute) and base.attr.value == "shape" and dotted_name(base.value) == tensor:
                return index
            if isinstance(base, cst.Call) and isinstance(base.func, cst.Attribute) and base.func.attr.value == "size" and not base.args and dotted_name(base.func.value) == tensor:
                return index
        return None

    @classmethod
    def runtime_claim(cls, bad, good):
        return [
            ("bad: the shapes are right but the contents differ from the real permute/transpose and no pixel keeps its channel vector",
             bad["shapes_match"] and bad["channels_last_max_diff"] > 0.1 and bad["time_major_max_diff"] > 0.1 and bad["pixel_vectors_intact_fraction"] < 0.5),
            ("bad: the channel LayerNorm and the LSTM encoder compute something other than on the real layout",
             bad["channel_norm_max_diff"] > 0.1 and bad["encoder_max_diff"] > 0.01),
            ("good: permute/transpose equal the reference exactly and every pixel keeps its channel vector",
             good["shapes_match"] and good["channels_last_max_diff"] == 0.0 and good["time_major_max_diff"] == 0.0 and good["pixel_vectors_intact_fraction"] == 1.0),
            ("good: the channel LayerNorm and the LSTM encoder match the reference",
             good["channel_norm_max_diff"] < 1e-4 and good["encoder_max_diff"] < 1e-5),
        ]


def _integer(expr: cst.BaseExpression) -> Optional[int]:
    return int(expr.value) if isinstance(expr, cst.Integer) else None
