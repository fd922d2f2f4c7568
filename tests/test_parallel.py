"""How a run deals files to worker processes: regions of consecutive folders, stealing at the
end, and a worker that dies costing its files' findings only, with an error line for each."""

from __future__ import annotations

import os

from conftest import write
from torchlint import run
from torchlint.config import Config

TRAIN = """
import torch

def train(model, loader, optimizer, loss_fn):
    for x, y in loader:
        loss_fn(model(x), y).backward()
        optimizer.step()
"""


def test_regions_are_consecutive_batches_of_about_equal_size():
    regions = run._regions([10, 10, 10, 10, 40, 10, 10], 2)
    assert [list(region) for region in regions] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [list(region) for region in run._regions([5] * 6, 3)] == [[0, 1], [2, 3], [4, 5]]
    # more workers than batches of any size: a region may stay empty, none is lost
    assert sorted(i for region in run._regions([0, 0], 4) for i in region) == [0, 1]


def test_a_worker_takes_its_own_region_in_order_then_the_far_end_of_the_fullest():
    regions = run._regions([1] * 6, 2)  # [0, 1, 2] and [3, 4, 5]
    assert [run._take(regions, 0), run._take(regions, 0), run._take(regions, 0)] == [0, 1, 2]
    assert run._take(regions, 1) == 3
    assert run._take(regions, 0) == 5  # stolen from the end, away from where its owner works
    assert run._take(regions, 1) == 4
    assert run._take(regions, 0) is None and run._take(regions, 1) is None


def test_parallel_run_lints_every_file_once_in_the_order_of_the_files(tmp_path):
    for index in range(40):
        write(tmp_path, f"project{index % 4}/module_{index:02d}.py", TRAIN)
    serial = run.lint_paths([str(tmp_path)], Config(), jobs=1)
    parallel = run.lint_paths([str(tmp_path)], Config(), jobs=2)
    assert len(serial.findings) == 40 and parallel.findings == serial.findings
    assert parallel.errors == serial.errors == []


_LINT_BATCH = run.lint_batch


def _dies_on_doomed_files(tasks):
    if any(os.path.basename(task[0]) == "doomed.py" for task in tasks):
        os._exit(3)  # as a worker the kernel killed for its memory
    return _LINT_BATCH(tasks)


def test_a_worker_that_dies_costs_the_files_not_yet_done_an_error_each_not_the_run(tmp_path, monkeypatch):
    for index in range(20):
        write(tmp_path, f"pkg/module_{index:02d}.py", TRAIN)
    write(tmp_path, "pkg/doomed.py", TRAIN)
    monkeypatch.setattr(run, "lint_batch", _dies_on_doomed_files)
    result = run.lint_paths([str(tmp_path)], Config(), jobs=2)
    lost = [line for line in result.errors if "the worker process linting it stopped" in line]
    assert any(line.startswith(f"error: internal error on {tmp_path / 'pkg' / 'doomed.py'}:") for line in lost)
    reported = {finding.path for finding in result.findings}
    stopped = {line.split("internal error on ", 1)[1].split(": the worker", 1)[0] for line in lost}
    # every file is accounted for: findings from a batch that came back, or an error line
    assert reported | stopped == {str(path) for path in tmp_path.rglob("*.py")}
    assert not reported & stopped
