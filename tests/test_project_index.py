"""Cross-file facts: what a file imports from its project is known, whichever files are linted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import write

MODEL = """
    import torch.nn as nn
    from .blocks import Block


    class Base(nn.Module):
        pass


    class Plain(Base):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)


    class WithDropout(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return self.block(x)
"""
BLOCKS = """
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.1)
"""
SUBCLASS = """
    import torch.nn as nn
    from model import Base


    class Sub(Base):
        def forward(self, x):
            return nn.Linear(4, 4)(x)
"""
EVALUATE = """
    import torch
    from model import Plain, WithDropout


    def evaluate(loader, path):
        plain = Plain()
        plain.load_state_dict(torch.load(path, weights_only=True))
        dropped = WithDropout()
        dropped.load_state_dict(torch.load(path, weights_only=True))
        with torch.no_grad():
            for x in loader:
                a = plain(x)
        with torch.no_grad():
            for x in loader:
                b = dropped(x)
        return a, b
"""


def lint(tmp_path: Path, *paths: str) -> set[tuple[str, int, str]]:
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "--isolated", "--format", "json", *paths],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr
    return {(finding["path"], finding["line"], finding["code"]) for finding in json.loads(result.stdout)}


def write_project(tmp_path: Path) -> None:
    write(tmp_path, "model.py", MODEL)
    write(tmp_path, "blocks.py", BLOCKS)
    write(tmp_path, "sub.py", SUBCLASS)
    write(tmp_path, "train.py", EVALUATE)


def test_imported_model_without_dropout_is_not_flagged_and_one_with_dropout_is(tmp_path) -> None:
    write_project(tmp_path)
    found = lint(tmp_path, ".")
    assert ("train.py", 15, "TL401") in found  # WithDropout holds a Block, which holds dropout
    assert not any(path == "train.py" and line == 12 for path, line, _ in found)  # Plain: mode-free


def test_subclass_of_a_module_from_another_file_is_a_module(tmp_path) -> None:
    write_project(tmp_path)
    assert ("sub.py", 7, "TL101") in lint(tmp_path, ".")


def test_a_file_linted_alone_gets_the_findings_it_gets_in_the_whole_project(tmp_path) -> None:
    # its imports are followed on disk, whichever files the run was given
    write_project(tmp_path)
    everything = lint(tmp_path, ".")
    assert lint(tmp_path, "sub.py", "train.py") == {f for f in everything if f[0] in ("sub.py", "train.py")}
    assert lint(tmp_path, "train.py") == {f for f in everything if f[0] == "train.py"} == {("train.py", 15, "TL401")}


EVAL_HELPER = """
    import torch


    def eval_net(net, loader):
        net.eval()
        with torch.no_grad():
            return [net(images) for images, _ in loader]
"""
TRAIN_WITH_IMPORTED_EVAL = """
    from evaluation import eval_net


    def train_net(net, train_loader, val_loader, optimizer, criterion, epochs):
        for epoch in range(epochs):
            net.train()
            for step, (images, masks) in enumerate(train_loader):
                optimizer.zero_grad()
                criterion(net(images), masks).backward()
                optimizer.step()
                if step % 100 == 0:
                    eval_net(net, val_loader)
"""


def test_a_mode_switch_in_a_function_imported_from_another_file_is_followed(tmp_path) -> None:
    write(tmp_path, "evaluation.py", EVAL_HELPER)
    write(tmp_path, "train.py", TRAIN_WITH_IMPORTED_EVAL)
    assert lint(tmp_path, ".") == {("train.py", 12, "TL402")}
    assert lint(tmp_path, "train.py") == {("train.py", 12, "TL402")}  # eval_net is found from train.py


HELPERS = """
    import torch


    def run_epoch(model, loader, optimizer, loss_fn):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()


    def check(model, loader):
        model.eval()
        with torch.no_grad():
            return [model(x) for x, _ in loader]
"""
LOOP_OF_IMPORTED_HELPERS = """
    from helpers import check, run_epoch


    def fit(model, train_loader, val_loader, optimizer, loss_fn, epochs):
        for epoch in range(epochs):
            run_epoch(model, train_loader, optimizer, loss_fn)
            check(model, val_loader)
"""


def test_a_loop_made_only_of_imported_helpers_is_still_analysed(tmp_path) -> None:
    # the loop's file mentions neither eval nor train: the skip-before-parse must not hide it
    write(tmp_path, "helpers.py", HELPERS)
    write(tmp_path, "fit.py", LOOP_OF_IMPORTED_HELPERS)
    assert ("fit.py", 7, "TL402") in lint(tmp_path, ".")


SOFTMAX_MODELS = """
    import torch.nn as nn
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.softmax = nn.Softmax(dim=1)

        def forward(self, x):
            x = self.softmax(self.fc(F.relu(x)))
            return x


    class ProbabilitiesInEvalOnly(nn.Module):
        def forward(self, x):
            if self.training:
                return x
            return x.softmax(-1)
"""
CROSS_ENTROPY_ON_IMPORTED_MODELS = """
    import torch.nn as nn
    from models import Net, ProbabilitiesInEvalOnly


    def loss_of(x, y):
        criterion = nn.CrossEntropyLoss()
        net = Net().to("cpu")
        fine = ProbabilitiesInEvalOnly()
        return criterion(net(x), y) + criterion(fine(x), y)
"""


def test_a_model_whose_forward_returns_softmax_in_another_file_is_followed(tmp_path) -> None:
    write(tmp_path, "models.py", SOFTMAX_MODELS)
    write(tmp_path, "loss.py", CROSS_ENTROPY_ON_IMPORTED_MODELS)
    # reported once, at the criterion call fed by Net; the eval-only softmax model is fine
    assert lint(tmp_path, ".") == {("loss.py", 9, "TL201")}
    assert lint(tmp_path, "loss.py") == {("loss.py", 9, "TL201")}


HELPERS_THAT_CLEAR_AND_SWITCH = """
    def reset_grads(model):
        for p in model.parameters():
            p.grad = None


    def train_mode(model):
        model.train()
"""
LOOP_USING_THEM = """
    from utils import reset_grads, train_mode


    def fit(model, loader, optimizer, loss_fn, epochs):
        for epoch in range(epochs):
            train_mode(model)
            for x, y in loader:
                reset_grads(model)
                loss_fn(model(x), y).backward()
                optimizer.step()
            model.eval()
"""


def test_helpers_that_clear_and_switch_in_another_file_are_not_mistaken_for_nothing(tmp_path) -> None:
    write(tmp_path, "utils.py", HELPERS_THAT_CLEAR_AND_SWITCH)
    write(tmp_path, "train.py", LOOP_USING_THEM)
    assert lint(tmp_path, ".") == set()  # seen: the helpers clear (p.grad = None) and switch back
    # pre-commit and flake8 lint train.py alone: the helpers are found through its imports
    assert lint(tmp_path, "train.py") == set()


def test_a_helper_imported_from_a_file_that_does_not_exist_is_an_unknown_event(tmp_path) -> None:
    write(tmp_path, "train.py", LOOP_USING_THEM)
    assert lint(tmp_path, "train.py") == set()  # utils.py is missing: it may clear and switch


def test_worker_processes_see_the_other_files_too(tmp_path) -> None:
    write_project(tmp_path)
    for number in range(8):  # enough files for the process pool
        write(tmp_path, f"filler_{number}.py", "import torch\n")
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "--isolated", "--format", "json", "--jobs", "2", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    found = {(finding["path"], finding["line"], finding["code"]) for finding in json.loads(result.stdout)}
    assert found == lint(tmp_path, "--jobs", "1", ".")
    assert ("sub.py", 7, "TL101") in found and ("train.py", 15, "TL401") in found


PACKAGE_MODEL = """
    import torch.nn as nn


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3), nn.Linear(8, 2))

        def forward(self, x):
            return self.body(x)


    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(x)
"""
PACKAGE_INIT = """
    from .models import Probe, Tagger
"""
PACKAGE_SCRIPT = """
    import torch
    from tagging import Probe, Tagger


    def evaluate(model, loader):
        with torch.no_grad():
            return [model(x).argmax(-1) for x, _ in loader]


    def main(train_loader, val_loader, path):
        tagger = Tagger()
        tagger.load_state_dict(torch.load(path, weights_only=True))
        probe = Probe()
        probe.load_state_dict(torch.load(path, weights_only=True))
        optimizer = torch.optim.SGD(tagger.parameters(), lr=0.1)
        tagger.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(tagger(x), y).backward()
            optimizer.step()
        evaluate(tagger, val_loader)
        with torch.no_grad():
            return probe(next(iter(val_loader))[0])
"""


def flake8_findings(root: Path, path: str) -> set[tuple[str, int, str]]:
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "TL", path],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    found = set()
    for line in result.stdout.splitlines():
        where, code = line.split(": ", 1)[0], line.split(": ", 1)[1].split()[0]
        file, number = where.split(":")[:2]
        found.add((file.removeprefix("./"), int(number), code))
    return found


def test_cli_on_the_file_flake8_on_the_file_and_cli_on_the_project_agree(tmp_path) -> None:
    # the model is in a package of the project (re-exported by its __init__), the loop in a
    # script below the project root; pre-commit and flake8 see only the script
    write(tmp_path, "pyproject.toml", '[project]\nname = "tagging"\n')
    write(tmp_path, "tagging/models.py", PACKAGE_MODEL)
    write(tmp_path, "tagging/__init__.py", PACKAGE_INIT)
    write(tmp_path, "scripts/run.py", PACKAGE_SCRIPT)
    # evaluate() is handed the dropout model by its caller: flagged; the probe has no dropout
    expected = {("scripts/run.py", 7, "TL401")}
    assert lint(tmp_path, ".") == expected
    assert lint(tmp_path, "scripts/run.py") == expected
    assert lint(tmp_path / "scripts", "run.py") == {("run.py", 7, "TL401")}
    assert flake8_findings(tmp_path, "scripts/run.py") == expected


ACCURACY_HELPER = """
    import torch


    def accuracy(model, loader):
        with torch.no_grad():
            return [model(x).argmax(-1) for x, _ in loader]
"""
CALLER_THAT_SWITCHES = """
    import torch
    from model import WithDropout
    from utils import accuracy


    def main(loader, path):
        model = WithDropout()
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        return accuracy(model, loader)
"""


def test_a_caller_in_another_file_decides_the_mode_of_the_model_it_hands_over(tmp_path) -> None:
    write(tmp_path, "model.py", MODEL)
    write(tmp_path, "blocks.py", BLOCKS)
    write(tmp_path, "utils.py", ACCURACY_HELPER)
    write(tmp_path, "main.py", CALLER_THAT_SWITCHES)
    assert lint(tmp_path, ".") == lint(tmp_path, "utils.py") == set()  # the caller switched to eval
    write(tmp_path, "main.py", CALLER_THAT_SWITCHES.replace("model.eval()", "pass"))
    assert lint(tmp_path, ".") == lint(tmp_path, "utils.py") == {("utils.py", 6, "TL401")}
    # a caller that hands over a model without dropout: nothing to switch
    write(tmp_path, "main.py", CALLER_THAT_SWITCHES.replace("model.eval()", "pass").replace("WithDropout", "Plain"))
    assert lint(tmp_path, "utils.py") == set()


# -- memory: what the index lets go of is freed ----------------------------------------------

TRAINING = """
    import torch.nn as nn


    class Net(nn.Module):
        def forward(self, x):
            return x


    def train(model, loader, optimizer):
        for x in loader:
            optimizer.zero_grad()
            model(x).sum().backward()
            optimizer.step()
"""


def test_released_facts_free_their_tree_without_the_cycle_collector():
    import gc
    import textwrap

    import libcst as cst

    from torchlint.analysis import FileFacts
    from torchlint.analysis.parsing import parse_module

    def trees() -> int:  # libcst's nodes take no weak references
        return sum(isinstance(value, cst.Module) for value in gc.get_objects())

    def facts() -> FileFacts:
        made = FileFacts(parse_module(textwrap.dedent(TRAINING)))
        assert made.training_loops  # the records are used, as a rule would use them
        return made

    gc.collect()
    gc.disable()
    try:
        before = trees()
        unreleased = facts()
        del unreleased
        assert trees() == before + 1, "the records point at each other: only the collector frees them"
        gc.collect()
        released = facts()
        released.release()
        del released
        assert trees() == before
    finally:
        gc.enable()


def test_the_index_releases_facts_only_no_other_file_was_handed(tmp_path, monkeypatch):
    from torchlint.analysis import FileFacts, project
    from torchlint.analysis.parsing import parse_module

    monkeypatch.setattr(project, "MAX_KEPT_NODES", 1)  # every new file pushes out the last
    index = project.ProjectIndex()
    imported = write(tmp_path, "model.py", MODEL)
    write(tmp_path, "blocks.py", BLOCKS)
    handed_out = index.facts_of(str(imported))
    linted = write(tmp_path, "train.py", TRAINING)
    text = linted.read_text()
    own = FileFacts(parse_module(text), path=str(linted), project=index)
    index.remember(str(linted), text, own)
    for name in ("a.py", "b.py"):
        other = write(tmp_path, name, TRAINING)
        index.remember(str(other), other.read_text(), FileFacts(parse_module(other.read_text()), path=str(other), project=index))
    assert not vars(own), "train.py was linted and never handed to another file: released"
    assert handed_out.top_level_class("WithDropout") is not None, "model.py's facts were handed out: kept whole"
    assert index.dropped_nodes == handed_out.walk.module_scope.end > 0  # left to the collector, and counted


def test_an_answer_about_another_file_is_computed_once_and_again_when_that_file_changes(tmp_path, monkeypatch):
    import os

    from torchlint.analysis import FileFacts, events, project
    from torchlint.analysis.parsing import parse_module

    helpers = write(tmp_path, "helpers.py", HELPERS)
    index = project.ProjectIndex()
    parsed = []
    real_parse = project.ProjectIndex._parse
    monkeypatch.setattr(project.ProjectIndex, "_parse", lambda self, path, size: parsed.append(path) or real_parse(self, path, size))
    monkeypatch.setattr(project, "MAX_KEPT_NODES", 1)  # helpers.py is not kept between files

    def kinds_seen_by(name: str) -> tuple:
        importer = write(tmp_path, name, LOOP_OF_IMPORTED_HELPERS)
        facts = FileFacts(parse_module(importer.read_text()), path=str(importer), project=index)
        index.remember(str(importer), importer.read_text(), facts)
        with index.recording() as depends_on:
            kinds = events._event_kinds_of_project_function(facts, "helpers.run_epoch")
        assert str(helpers) in depends_on, "a remembered answer still records the file it came from"
        return kinds

    assert kinds_seen_by("fit.py") == (events.ZERO_GRAD, events.BACKWARD, events.STEP)
    assert kinds_seen_by("fit_again.py") == (events.ZERO_GRAD, events.BACKWARD, events.STEP)
    assert parsed == [str(helpers)], "the second importer got the answer without a second parse"

    write(tmp_path, "helpers.py", HELPERS.replace("            optimizer.zero_grad()\n", ""))
    os.utime(helpers, ns=(1, 1))  # a changed size and time, however fast the file system
    assert kinds_seen_by("fit_third.py") == (events.BACKWARD, events.STEP)
    assert parsed == [str(helpers), str(helpers)]


def test_a_file_asked_for_again_after_it_was_let_go_is_kept_longer(tmp_path, monkeypatch):
    from torchlint.analysis import project

    monkeypatch.setattr(project, "MAX_KEPT_NODES", 1)  # each file pushes out the one before
    index = project.ProjectIndex()
    parsed = []
    real_parse = project.ProjectIndex._parse
    monkeypatch.setattr(project.ProjectIndex, "_parse", lambda self, path, size: parsed.append(os.path.basename(path)) or real_parse(self, path, size))
    shared, one, two, three = (str(write(tmp_path, name, MODEL)) for name in ("shared.py", "one.py", "two.py", "three.py"))
    for path in (shared, one, shared, two, three, shared):
        assert index.facts_of(path).top_level_class("WithDropout") is not None
    # shared.py was parsed again once, then kept while one-off files came and went
    assert parsed == ["shared.py", "one.py", "shared.py", "two.py", "three.py"]
    monkeypatch.setattr(project, "MAX_KEPT_WANTED_AGAIN_NODES", 1)
    index.facts_of(one)
    index.facts_of(two)
    index.facts_of(shared)
    assert parsed[-3:] == ["one.py", "two.py", "shared.py"], "beyond its own budget it is let go like any other"


def test_callers_are_searched_in_files_naming_the_module_as_a_word_and_not_in_too_much_source(tmp_path, monkeypatch):
    from torchlint.analysis import project

    write(tmp_path, "pyproject.toml", "")
    write(tmp_path, "model.py", MODEL)
    write(tmp_path, "blocks.py", BLOCKS)
    helper = write(tmp_path, "utils.py", ACCURACY_HELPER)
    write(tmp_path, "main.py", CALLER_THAT_SWITCHES)
    # names ``accuracy`` and contains "utils", but only inside another module's name
    write(tmp_path, "report.py", "from my_utils_extra import accuracy\n\nprint(accuracy(None, []))\n")
    parsed = []
    real_parse = project.ProjectIndex._parse
    monkeypatch.setattr(project.ProjectIndex, "_parse", lambda self, path, size: parsed.append(os.path.basename(path)) or real_parse(self, path, size))

    def callers() -> list[str]:
        index = project.ProjectIndex()
        facts = index.facts_of(str(helper))
        function = project.FunctionRef(facts, facts.module_scope.functions["accuracy"])
        return [os.path.basename(caller.path) for caller, _ in index.callers_of(function)]

    assert callers() == ["main.py"]
    assert "report.py" not in parsed
    monkeypatch.setattr(project, "MAX_CALLER_BYTES", len(CALLER_THAT_SWITCHES) // 2)
    assert callers() == [], "more source than the budget: no caller is claimed"


def test_word_search_without_a_regular_expression_agrees_with_one():
    """The callers search's word test is ``\\bword\\b``, found with str.find; it must agree with
    the regular expression on every boundary: start and end of text, underscores, digits,
    non-ASCII letters, words that begin or end with punctuation, overlapping occurrences."""
    import random
    import re

    from torchlint.analysis.project import has_word

    cases = [
        ("from .executor import execute", "executor", True),
        ("ProcessPoolExecutor()", "Executor", False),
        ("_async_process_executor", "executor", False),
        ("executor", "executor", True),
        ("executor2 executor", "executor", True),
        ("étrain train_", "train", False),
        ("a-b", "-", True),
        ("aaa", "aa", False),
    ]
    for text, word, expected in cases:
        assert has_word(text, word) is expected, (text, word)
    generator = random.Random(0)
    alphabet = "ab_1 .-é\n("
    for _ in range(20_000):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 12)))
        word = "".join(generator.choice(alphabet) for _ in range(generator.randint(1, 3)))
        assert has_word(text, word) == bool(re.search(rf"\b{re.escape(word)}\b", text)), (text, word)
