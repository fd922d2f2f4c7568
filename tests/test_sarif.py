"""``--format sarif``: valid against the official SARIF 2.1.0 schema, and faithful to the findings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint import registry

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
FIXTURE_FILES = sorted(path.relative_to(ROOT).as_posix() for path in ROOT.glob("fixtures/*/*.py"))


def torchlint(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchlint", "--isolated", *arguments],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def validate(log: dict) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(log), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def fixtures_log() -> dict:
    result = torchlint("--format", "sarif", "fixtures")
    assert result.returncode == 1, result.stderr  # the fixtures hold mistakes
    assert result.stderr == "", "machine-readable output has no summary line"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def fixtures_findings() -> list[dict]:
    return json.loads(torchlint("--format", "json", "fixtures").stdout)


def test_the_stored_schema_is_the_official_one():
    assert SCHEMA["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    assert "result" in SCHEMA["definitions"] and "reportingDescriptor" in SCHEMA["definitions"]


def test_fixtures_output_is_valid_sarif(fixtures_log):
    validate(fixtures_log)


def test_output_without_findings_is_valid_sarif(tmp_path):
    (tmp_path / "clean.py").write_text("import torch\n\nx = torch.zeros(3)\n")
    result = torchlint("--format", "sarif", "clean.py", cwd=tmp_path)
    assert result.returncode == 0
    log = json.loads(result.stdout)
    validate(log)
    assert log["runs"][0]["results"] == []


def test_the_schema_rejects_a_broken_log(fixtures_log):
    broken = json.loads(json.dumps(fixtures_log))
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(AssertionError):
        validate(broken)


def test_driver_describes_every_rule(fixtures_log):
    driver = fixtures_log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "torchlint" and driver["version"] and driver["informationUri"].startswith("https://")
    described = {rule["id"]: rule for rule in driver["rules"]}
    assert set(described) == set(registry.all_codes())
    for rule in registry.all_rules():
        entry = described[rule.CODE]
        assert entry["name"] == rule.NAME
        assert entry["shortDescription"]["text"] == rule.summary()
        assert entry["fullDescription"]["text"]
        assert entry["help"]["markdown"] == rule.documentation()
        assert entry["defaultConfiguration"]["level"] in ("error", "warning")


def test_one_result_per_finding_at_the_same_place(fixtures_log, fixtures_findings):
    run = fixtures_log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        region = location["region"]
        results.append((location["artifactLocation"]["uri"], region["startLine"], region["startColumn"],
                        region["endLine"], region["endColumn"], result["ruleId"], result["message"]["text"]))
    expected = [(f["path"], f["line"], f["column"], f["end_line"], f["end_column"], f["code"], f["message"])
                for f in fixtures_findings]
    assert results == expected
    assert results, "the fixtures hold mistakes"
    assert all(not uri.startswith(("/", "file:")) and "\\" not in uri for uri, *_ in results)


def test_engine_findings_point_into_the_rules_too(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\ndef f(:\n")
    result = torchlint("--format", "sarif", "broken.py", cwd=tmp_path)
    log = json.loads(result.stdout)
    validate(log)
    (finding,) = log["runs"][0]["results"]
    assert finding["ruleId"] == "TL000"
    assert log["runs"][0]["tool"]["driver"]["rules"][finding["ruleIndex"]]["name"] == "syntax-error"


def test_output_file_gets_the_report_and_the_terminal_the_summary(tmp_path):
    target = tmp_path / "reports" / "torchlint.sarif"
    target.parent.mkdir()
    result = torchlint("--format", "sarif", "--output-file", str(target), *FIXTURE_FILES)
    assert result.returncode == 1
    assert result.stdout.startswith("Found ") and "problem" in result.stdout
    validate(json.loads(target.read_text(encoding="utf-8")))
    assert [path.name for path in target.parent.iterdir()] == ["torchlint.sarif"], "no temporary file left behind"


def test_output_file_in_a_missing_directory_is_an_error(tmp_path):
    result = torchlint("--format", "sarif", "--output-file", str(tmp_path / "missing" / "out.sarif"), *FIXTURE_FILES[:1])
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_rules_carry_their_page_tags_precision_and_severity(fixtures_log):
    driver = fixtures_log["runs"][0]["tool"]["driver"]
    for entry in driver["rules"]:
        assert entry["helpUri"] == registry.rule_url(entry["id"]) and entry["helpUri"].startswith("https://")
        properties = entry["properties"]
        assert properties["precision"] in ("very-high", "high", "medium", "low")
        assert properties["tags"] and properties["problem.severity"] == entry["defaultConfiguration"]["level"]
    levels = {entry["id"]: entry["defaultConfiguration"]["level"] for entry in driver["rules"]}
    assert levels["TL000"] == levels["TL201"] == "error" and levels["TL901"] == "warning"  # TL901 is opt-in
    for result in fixtures_log["runs"][0]["results"]:
        assert result["level"] == levels[result["ruleId"]]


def _log(cwd: Path, *arguments: str) -> dict:
    log = json.loads(torchlint("--format", "sarif", *arguments, cwd=cwd).stdout)
    validate(log)
    return log


def test_uris_are_relative_to_the_repository_whatever_the_working_directory(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "loss.py").write_text((ROOT / "fixtures" / "softmax_into_cross_entropy" / "bad.py").read_text())
    from_root = _log(tmp_path, "src/loss.py")["runs"][0]
    from_src = _log(tmp_path / "src", "loss.py")["runs"][0]
    assert from_root["originalUriBaseIds"] == from_src["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
    locations = [result["locations"][0]["physicalLocation"]["artifactLocation"] for result in from_src["results"]]
    assert locations and all(location == {"uri": "src/loss.py", "uriBaseId": "%SRCROOT%"} for location in locations)
    assert [r["partialFingerprints"] for r in from_root["results"]] == [r["partialFingerprints"] for r in from_src["results"]]


TWO_FINDINGS = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


def train(model: nn.Module, loader, optimizer):
    criterion = nn.CrossEntropyLoss()
    for x, y in loader:
        optimizer.zero_grad()
        features = model.forward(x)
        loss = criterion(F.softmax(features, dim=1), y)
        loss.backward()
        optimizer.step()
"""


def test_fingerprints_survive_moved_lines_and_change_with_the_line(tmp_path):
    source = TWO_FINDINGS
    (tmp_path / "loss.py").write_text(source)

    def fingerprints() -> dict[tuple[str, str], int]:
        results = _log(tmp_path, "loss.py")["runs"][0]["results"]
        prints = [(result["ruleId"], result["partialFingerprints"]["torchlint/v1"]) for result in results]
        assert len(set(prints)) == len(prints), "two findings never share a fingerprint"
        return {key: result["locations"][0]["physicalLocation"]["region"]["startLine"] for key, result in zip(prints, results)}

    before = fingerprints()
    (tmp_path / "loss.py").write_text('"""A docstring."""\n\n\n' + source)
    after = fingerprints()
    assert set(after) == set(before) and all(after[key] == before[key] + 3 for key in before)
    edited_line = min(before.values())
    lines = source.splitlines(keepends=True)
    lines[edited_line - 1] = lines[edited_line - 1].rstrip("\n") + "  # reviewed\n"
    (tmp_path / "loss.py").write_text("".join(lines))
    edited = fingerprints()
    kept = {key for key, line in before.items() if line != edited_line}
    assert kept and kept < set(edited), "the findings on other lines keep their fingerprints"
    assert len(set(edited) - kept) == len(set(before) - kept) and not (set(edited) - kept) & set(before), \
        "the finding on the edited line gets a new one"


def test_paths_that_cannot_be_read_are_notifications_of_the_invocation(tmp_path):
    (tmp_path / "clean.py").write_text("import torch\n")
    log = _log(tmp_path, "clean.py", "missing.py")
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == [{"level": "error", "message": {"text": "missing.py: no such file or directory"}}]
    clean = _log(tmp_path, "clean.py")["runs"][0]["invocations"]
    assert clean == [{"executionSuccessful": True}]
