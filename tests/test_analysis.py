"""The semantic layer answers the questions rules ask, on real libcst parses."""

from __future__ import annotations

import textwrap

import libcst as cst

from torchlint.analysis import FileFacts
from torchlint.analysis.events import BACKWARD, EVAL, STEP, TRAIN, ZERO_GRAD


def facts_of(source: str, path: str = "train.py") -> FileFacts:
    return FileFacts(cst.parse_module(textwrap.dedent(source)), path=path)


def qualified_names_of_calls(facts: FileFacts) -> list:
    return [facts.qualified_name(site.node.func) for site in facts.walk.calls]


def test_names_resolve_through_import_aliases() -> None:
    facts = facts_of(
        """
        import torch
        import torch.nn as nn
        from torch.nn import functional as F
        from torch import optim
        from torch.nn import CrossEntropyLoss as CE
        import torch.nn.functional
        F.softmax(x)
        nn.Linear(2, 2)
        optim.SGD(p)
        CE()
        torch.nn.functional.relu(x)
        softmax(x)
        """
    )
    assert qualified_names_of_calls(facts) == [
        "torch.nn.functional.softmax",
        "torch.nn.Linear",
        "torch.optim.SGD",
        "torch.nn.CrossEntropyLoss",
        "torch.nn.functional.relu",
        None,  # never imported: not guessed from its text
    ]


def test_relative_imports_never_resolve_to_torch() -> None:
    facts = facts_of("from .torch import nn\nnn.Linear(1, 1)\n")
    assert qualified_names_of_calls(facts) == [".torch.nn.Linear"]


def test_module_classes_include_local_subclasses_and_lightning() -> None:
    facts = facts_of(
        """
        import torch.nn as nn
        import lightning as L
        class Base(nn.Module): pass
        class Child(Base): pass
        class Lit(L.LightningModule): pass
        class Plain: pass
        class Fn(torch.autograd.Function): pass
        """
    )
    assert sorted(info.name for info in facts.module_classes) == ["Base", "Child", "Lit"]


def test_forward_reach_excludes_methods_called_from_elsewhere() -> None:
    facts = facts_of(
        """
        import torch.nn as nn
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = self.build()
            def build(self): ...
            def project(self, x): ...
            def forward(self, x):
                return self.project(self.build()(x))
        """
    )
    (info,) = facts.module_classes
    assert sorted(scope.name for scope in facts.forward_reach(info)) == ["forward", "project"]


def test_events_are_in_program_order_with_helpers_expanded() -> None:
    facts = facts_of(
        """
        def evaluate(model):
            model.eval()
        def fit(model, loader, optimizer):
            for x in loader:
                model.train()
                optimizer.zero_grad()
                model(x).sum().backward()
                optimizer.step()
                evaluate(model)
        """
    )
    (loop,) = facts.training_loops
    assert [(event.kind, event.receiver) for event in loop.events] == [
        (TRAIN, "model"), (ZERO_GRAD, "optimizer"), (BACKWARD, None), (STEP, "optimizer"), (EVAL, "model"),
    ]
    assert cst.Module([]).code_for_node(loop.events[-1].anchor) == "evaluate(model)"


def test_schedulers_and_environments_do_not_step_optimizers() -> None:
    facts = facts_of(
        """
        import torch
        def run(model, env, opt_g):
            scheduler = torch.optim.lr_scheduler.StepLR(opt_g, 1)
            for _ in range(3):
                model().backward()
                env.step(0)
                scheduler.step()
                opt_g.step()
        """
    )
    (loop,) = facts.training_loops
    assert loop.optimizers == ["opt_g"]


def test_optimizer_model_follows_the_constructor() -> None:
    facts = facts_of(
        """
        import torch
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        mixed = torch.optim.Adam(list(a.parameters()) + list(b.parameters()))
        """
    )
    module = facts.walk.module_scope
    assert facts.optimizer_model("opt", module) == "net"
    assert facts.optimizer_model("mixed", module) is None  # two models: no single owner


def test_softmax_is_followed_through_names_and_reshapes() -> None:
    facts = facts_of(
        """
        import torch.nn.functional as F
        def f(logits, y):
            p = F.softmax(logits, -1)
            q = p.view(-1, 3)
            return F.cross_entropy(q, y)
        """
    )
    site = facts.walk.calls[-1]
    family, loss_input = facts.loss_input(site)
    assert family == "cross-entropy" and facts.output_kind(loss_input, site.scope, site.index) == "softmax"


def test_eval_scopes_cover_no_grad_named_functions_and_eval_loaders() -> None:
    source = """
        import torch
        def validate(model): ...
        def test_shapes(model): ...
        def train(model, train_loader, val_loader, optimizer):
            for x in train_loader:
                model(x).backward()
                optimizer.step()
            with torch.no_grad():
                pass
            for x in val_loader:
                pass
        """
    in_test_file = facts_of(source, path="tests/test_train.py")
    assert sorted(scope.kind for scope in in_test_file.eval_scopes) == ["function", "loader_loop", "no_grad"]
    # outside a test file, test_shapes is an evaluation function too
    elsewhere = facts_of(source, path="train.py")
    assert sorted(scope.kind for scope in elsewhere.eval_scopes) == ["function", "function", "loader_loop", "no_grad"]


def test_no_grad_inside_a_training_step_is_not_evaluation() -> None:
    facts = facts_of(
        """
        import torch
        def train(model, target_net, loader, optimizer):
            for x in loader:
                with torch.no_grad():
                    target = target_net(x)
                (model(x) - target).sum().backward()
                optimizer.step()
        """
    )
    assert facts.eval_scopes == []


def test_torch_resolves_in_a_notebook_cell_exported_without_its_import() -> None:
    facts = facts_of("with torch.no_grad():\n    logits = model(x)\n")
    assert qualified_names_of_calls(facts)[0] == "torch.no_grad"
    assert [scope.kind for scope in facts.eval_scopes] == ["no_grad"]


def test_training_helpers_called_under_no_grad_contribute_no_training_events() -> None:
    facts = facts_of(
        """
        import torch
        def loss_batch(model, xb, opt=None):
            loss = model(xb).sum()
            if opt is not None:
                loss.backward()
                opt.step()
        def evaluate(model, loader):
            with torch.no_grad():
                return [loss_batch(model, xb) for xb in loader]
        """
    )
    evaluate = next(scope for scope in facts.walk.scopes if scope.name == "evaluate")
    assert facts.events_of(evaluate) == []
