"""``torchlint verify``: real fixture programs run in real subprocesses, and broken fixtures are
reported as FAIL or ERROR with a reason, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchlint import registry
from torchlint.verifier.fixed import is_fixable
from torchlint.verifier.runner import expected_lines

pytest.importorskip("torch", reason="torchlint verify runs the fixtures with torch")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
ALL_CODES = [rule.CODE for rule in registry.all_rules()]
RUNTIME_ERROR_FREE = re.compile(r"Traceback \(most recent call last\)")


def verify(*args: str, timeout: float = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchlint", "verify", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# -- every shipped rule, really executed -----------------------------------------------------


@pytest.fixture(scope="module")
def cpu_run():
    started = time.perf_counter()
    result = verify("--device", "cpu", "--format", "json")
    return result, time.perf_counter() - started


def test_every_rule_passes_on_cpu(cpu_run) -> None:
    result, seconds = cpu_run
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [rule["code"] for rule in report["rules"]] == ALL_CODES
    for rule in report["rules"]:
        assert rule["verdict"] == "PASS", (rule["code"], rule["reason"])
        assert rule["static"]["ok"] and rule["static"]["bad_lines"] == rule["static"]["expected_lines"] != []
        assert rule["static"]["good_lines"] == []
        assert rule["checks"] and all(check["holds"] for check in rule["checks"])
        assert rule["bad"]["device"] == rule["good"]["device"] == "cpu"
        fixable = is_fixable(registry.rule_by_code_or_name(rule["code"]))
        # a rule with a fix ran its bad.fixed.py too, and its claim held with it as the good program
        assert (rule["fixed"] is not None and rule["fixed"]["device"] == "cpu") == fixable
        assert any(check["description"].startswith("with bad.fixed.py as good: ") for check in rule["checks"]) == fixable
    # how long it takes is measured in docs/evidence.md, not bounded here: a loaded machine is slower


def test_json_output_shape(cpu_run) -> None:
    report = json.loads(cpu_run[0].stdout)
    assert set(report) == {"device", "fixtures", "seconds", "summary", "ok", "rules"}
    assert report["ok"] is True and report["device"] == "cpu" and Path(report["fixtures"]) == FIXTURES
    assert report["summary"] == {"pass": len(ALL_CODES), "fail": 0, "error": 0, "skip": 0}
    for rule in report["rules"]:
        assert set(rule) == {"code", "name", "module", "verdict", "reason", "device", "seconds", "static", "checks", "bad", "good", "fixed"}
        assert set(rule["static"]) == {"ok", "summary", "bad_lines", "expected_lines", "good_lines"}
        for check in rule["checks"]:
            assert set(check) == {"description", "holds"} and isinstance(check["holds"], bool)
        for variant in ("bad", "good"):
            program = rule[variant]
            assert set(program) == {"path", "device", "observation", "error", "seconds"}
            assert program["error"] is None and program["path"].endswith(f"{rule['module']}/{variant}.py")
            assert program["observation"] and all(type(value) in (bool, int, float) for value in program["observation"].values())


def test_text_table_with_the_auto_device() -> None:
    result = verify("--select", "TL302")  # --device auto: CUDA when available, else the CPU
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    device = "cuda" if _cuda_available() else "cpu"
    assert re.search(rf"^TL302 zero-grad-between-backward-and-step: PASS  \(device {device}, bad \d+\.\d s \+ good \d+\.\d s \+ fixed \d+\.\d s\)$", out, re.M)
    assert "[holds] bad: step() leaves the parameters unchanged" in out
    assert "[holds] with bad.fixed.py as good: good: step() changes the parameters" in out
    assert re.search(r"param_change\s+0\s+\d\S*\s+\d", out)  # bad, good, bad.fixed
    assert re.search(rf"^TL302\s+zero-grad-between-backward-and-step\s+{device}\s+ok\s+4/4 hold\s+PASS\s+\d+\.\ds$", out, re.M)
    assert "bad flagged (line 24), good clean" in out
    assert "1 passed, 0 failed, 0 errors" in out


# -- broken fixtures -------------------------------------------------------------------------


def _broken(root: Path, module: str, bad_observe: str | None, good_observe: str | None = None, good_from: str = "good") -> None:
    """A fixture folder for ``module``: the real programs, with observe() replaced when asked.

    A replacement is appended, so it wins over the real definition and every line number (and so
    the static result) stays that of the real fixture. ``None`` removes observe() altogether."""
    folder = root / module
    folder.mkdir(parents=True, exist_ok=True)
    # bad.fixed.py, when the rule has one, is broken as bad.py is: --fix makes of one the other
    for variant, replacement, source in (("bad", bad_observe, "bad"), ("good", good_observe, good_from), ("bad.fixed", bad_observe, "bad.fixed")):
        if not (FIXTURES / module / f"{source}.py").is_file():
            continue
        text = (FIXTURES / module / f"{source}.py").read_text(encoding="utf-8")
        if replacement is None:
            text = text.replace("def observe(", "def run_experiment(")
        elif replacement:
            text += "\n\n" + replacement.strip() + "\n"
        (folder / f"{variant}.py").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """One verify run over a folder where each rule's fixtures are broken in a different way."""
    root = tmp_path_factory.mktemp("broken-fixtures")
    # the claim does not hold: bad.py reports the good behaviour
    _broken(root, "missing_zero_grad", 'def observe(device):\n    return {"grad_vs_sum_max_diff": 0.5, "grad_vs_last_max_diff": 0.0}', "")
    # a crash
    _broken(root, "zero_grad_between_backward_and_step", 'def observe(device):\n    raise RuntimeError("boom in the fixture")', "")
    # no observe()
    _broken(root, "missing_train_mode", None, "")
    # a key the claim needs is missing, and a value that is not a plain number
    _broken(root, "missing_eval_mode", 'def observe(device):\n    return {"repeat_prediction_max_diff": 1.0}',
            'def observe(device):\n    return {"repeat_prediction_max_diff": 0.0, "running_stats_change": 0.0}')
    _broken(root, "softmax_into_cross_entropy", "",
            'def observe(device):\n    import torch\n    return {"final_loss": torch.zeros(()), "loss_floor": 0.7, "logit_grad_norm": 1.0}')
    # static mismatch: good.py is the bad program (its claim numbers are the good ones)
    _broken(root, "layer_built_in_forward", "",
            'def observe(device):\n    return {"layer_in_parameters": True, "layer_in_state_dict": True, '
            '"repeat_forward_max_diff": 0.0, "layer_updated_by_step": True}', good_from="bad")
    started = time.perf_counter()
    text = verify("--device", "cpu", "--fixtures", str(root), "--select", "TL301,TL302")
    report = verify("--device", "cpu", "--fixtures", str(root), "--format", "json")
    return text, json.loads(report.stdout), report, time.perf_counter() - started


def _rule(report: dict, code: str) -> dict:
    return next(rule for rule in report["rules"] if rule["code"] == code)


def test_broken_fixtures_exit_1_without_traceback(broken_run) -> None:
    text, report, json_result, _ = broken_run
    assert text.returncode == 1 and json_result.returncode == 1
    assert not RUNTIME_ERROR_FREE.search(text.stdout + text.stderr + json_result.stderr)
    # only the rules with a folder under --fixtures are verified
    broken = {"missing_zero_grad", "zero_grad_between_backward_and_step", "missing_train_mode", "missing_eval_mode",
              "softmax_into_cross_entropy", "layer_built_in_forward"}
    assert [rule["code"] for rule in report["rules"]] == [rule.CODE for rule in registry.all_rules() if rule.module_name() in broken]
    assert "0 passed, 1 failed, 1 errors" in text.stdout
    assert report["ok"] is False


def test_a_claim_that_does_not_hold_fails(broken_run) -> None:
    text, report, _, _ = broken_run
    rule = _rule(report, "TL301")
    assert rule["verdict"] == "FAIL"
    # bad.fixed.py is broken as bad.py is, so the claim fails with it in the good program's place too
    assert rule["reason"] == ("claim does not hold: bad: after two iterations the gradient is the sum of both batches'; "
                              "claim does not hold: with bad.fixed.py as good: bad: after two iterations the gradient is the sum of both batches'")
    assert [check["holds"] for check in rule["checks"]] == [False, True, False, True]
    assert "[FAILS] bad: after two iterations the gradient is the sum of both batches'" in text.stdout
    assert re.search(r"^TL301\s+missing-zero-grad\s+cpu\s+ok\s+2/4 hold\s+FAIL", text.stdout, re.M)


def test_a_crash_is_an_error_with_its_last_stderr_line(broken_run) -> None:
    rule = _rule(broken_run[1], "TL302")
    assert rule["verdict"] == "ERROR"
    assert rule["reason"] == "bad.py: crashed: RuntimeError: boom in the fixture; bad.fixed.py: crashed: RuntimeError: boom in the fixture"
    assert rule["good"]["error"] is None and rule["good"]["observation"]["param_change"] > 0
    assert "reason   bad.py: crashed: RuntimeError: boom in the fixture" in broken_run[0].stdout


def test_missing_observe_is_an_error(broken_run) -> None:
    rule = _rule(broken_run[1], "TL402")
    assert rule["verdict"] == "ERROR"
    assert rule["reason"] == "bad.py: defines no observe(device) function; bad.fixed.py: defines no observe(device) function"


def test_a_key_missing_from_an_observation_is_an_error(broken_run) -> None:
    rule = _rule(broken_run[1], "TL401")
    assert rule["verdict"] == "ERROR"
    assert rule["reason"] == "runtime_claim needs 'running_stats_change', which observe() in bad.py does not return"


def test_a_value_that_is_not_a_plain_number_is_an_error(broken_run) -> None:
    rule = _rule(broken_run[1], "TL201")
    assert rule["verdict"] == "ERROR"
    assert rule["reason"] == "good.py: observe() must return plain numbers (bool, int, float): 'final_loss' is Tensor"
    assert rule["bad"]["observation"]["final_loss"] > rule["bad"]["observation"]["loss_floor"]


def test_static_mismatch_fails_even_when_the_claim_holds(broken_run) -> None:
    rule = _rule(broken_run[1], "TL101")
    assert rule["verdict"] == "FAIL"
    assert all(check["holds"] for check in rule["checks"])
    assert rule["static"]["ok"] is False and rule["static"]["good_lines"] == [21]
    assert rule["reason"] == "static: bad flagged (line 21), good flagged at line 21"


def test_a_hang_is_killed_at_the_timeout(tmp_path) -> None:
    _broken(tmp_path, "missing_zero_grad", "def observe(device):\n    import time\n    time.sleep(600)\n    return {}")
    started = time.perf_counter()
    result = verify("--device", "cpu", "--fixtures", str(tmp_path), "--timeout", "6", "--format", "json", timeout=590)
    elapsed = time.perf_counter() - started
    assert result.returncode == 1
    rule = _rule(json.loads(result.stdout), "TL301")
    assert rule["verdict"] == "ERROR"
    assert rule["reason"].startswith("bad.py: timed out after 6 s")
    # killed, not waited for: the fixture sleeps for 600 s
    assert 6 <= rule["bad"]["seconds"] < 600 and elapsed < 600


CONTAINED = {
    "allocates without bound": ("def observe(device):\n    hoard = []\n    while True:\n        hoard.append(bytearray(2 ** 28))",
                                "bad.py: observe() ran out of memory (the limit is 1 GiB: --memory-limit)"),
    "exits the interpreter": ("def observe(device):\n    import sys\n    sys.exit(0)",
                              "bad.py: observe() exited the interpreter (sys.exit(0)) instead of returning"),
}


@pytest.mark.parametrize("case", CONTAINED, ids=list(CONTAINED))
def test_a_fixture_that_misbehaves_is_contained_and_reported(case, tmp_path) -> None:
    observe, reason = CONTAINED[case]
    _broken(tmp_path, "missing_zero_grad", observe)
    result = verify("--device", "cpu", "--fixtures", str(tmp_path), "--memory-limit", "1", "--format", "json")
    assert result.returncode == 1, result.stderr
    rule = _rule(json.loads(result.stdout), "TL301")
    assert rule["verdict"] == "ERROR" and rule["reason"].startswith(reason), rule["reason"]


def test_a_fixture_s_files_and_home_are_its_own_scratch_folder(tmp_path) -> None:
    # writing to ~ or to the temporary folder lands in the scratch folder, removed afterwards
    home = Path.home()
    before = set(home.iterdir())
    _broken(tmp_path, "missing_zero_grad", "def observe(device):\n    import os, pathlib, tempfile\n"
            "    pathlib.Path('~/torchlint-fixture-was-here').expanduser().write_text('x')\n"
            "    tempfile.NamedTemporaryFile(delete=False).write(b'x')\n"
            "    return {'grad_vs_sum_max_diff': 0.0, 'grad_vs_last_max_diff': 1.0,"
            " 'home_is_cwd': float(os.path.expanduser('~') == os.getcwd())}")
    result = verify("--device", "cpu", "--fixtures", str(tmp_path), "--format", "json")
    rule = _rule(json.loads(result.stdout), "TL301")
    assert rule["bad"]["observation"]["home_is_cwd"] == 1.0
    assert set(home.iterdir()) == before and not (home / "torchlint-fixture-was-here").exists()


def test_missing_torch_is_reported_and_the_parent_never_imports_torch(tmp_path) -> None:
    # a "torch" that cannot be imported, first on the path of the parent and of the children
    fake = tmp_path / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(fake)}
    result = verify("--device", "cpu", "--select", "TL301,TL302", "--format", "json", env=env)
    assert result.returncode == 1, result.stderr
    for rule in json.loads(result.stdout)["rules"]:
        assert rule["verdict"] == "ERROR"
        assert rule["reason"] == ("bad.py: torch is not installed: pip install 'torchlint[verify]'; "
                                  "good.py: torch is not installed: pip install 'torchlint[verify]'; "
                                  "bad.fixed.py: torch is not installed: pip install 'torchlint[verify]'")
        assert rule["static"]["ok"]  # the static half needs no torch


def test_missing_fixture_files_are_an_error(tmp_path) -> None:
    (tmp_path / "missing_zero_grad").mkdir()
    (tmp_path / "missing_zero_grad" / "bad.py").write_text("def observe(device):\n    return {}\n")
    result = verify("--device", "cpu", "--fixtures", str(tmp_path), "--format", "json")
    assert result.returncode == 1
    rule = _rule(json.loads(result.stdout), "TL301")
    assert rule["verdict"] == "ERROR" and "good.py" in rule["reason"]


# -- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--select", "TL999"], "unknown rule code or prefix"),
    (["--timeout", "0"], "--timeout must be positive"),
    (["--fixtures", "/nonexistent/fixtures"], "not a directory"),
    (["--device", "tpu"], "invalid choice"),
    (["--bogus"], "unrecognized arguments"),
])
def test_usage_errors_exit_2(args, message) -> None:
    result = verify(*args)
    assert result.returncode == 2
    assert message in result.stderr and "usage: torchlint verify" in result.stderr
    assert result.stdout == ""


def test_fixtures_dir_with_no_rule_folder_is_a_usage_error(tmp_path) -> None:
    (tmp_path / "not_a_rule").mkdir()
    result = verify("--fixtures", str(tmp_path))
    assert result.returncode == 2 and "no folder named after a selected rule" in result.stderr


def test_help_mentions_the_source_checkout() -> None:
    result = verify("--help")
    assert result.returncode == 0 and "source checkout" in result.stdout


def test_expect_annotations_are_read() -> None:
    assert expected_lines("a\nb  # expect: TL301\nc  # expect: TL201, TL301\nd  # expect: TL2010\n", "TL301") == [2, 3]


# -- CUDA ------------------------------------------------------------------------------------


@pytest.mark.skipif(not _cuda_available(), reason="no CUDA device: the CUDA run of torchlint verify is still owed")
def test_every_rule_passes_on_cuda() -> None:
    result = verify("--device", "cuda", "--format", "json", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in json.loads(result.stdout)["rules"]:
        assert rule["verdict"] == "PASS" and rule["device"] == "cuda", (rule["code"], rule["reason"])


@pytest.mark.skipif(_cuda_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda_is_a_usage_error() -> None:
    result = verify("--device", "cuda")
    assert result.returncode == 2
    assert "CUDA is not available" in result.stderr


# -- the recorded evidence -------------------------------------------------------------------


def test_evidence_document_mentions_every_rule() -> None:
    evidence = (ROOT / "docs" / "evidence.md").read_text(encoding="utf-8")
    for code in ALL_CODES:
        assert code in evidence, f"docs/evidence.md does not mention {code}"
    assert "torchlint verify --device cpu" in evidence
