"""What a user installs works as the checkout does: the wheel carries the verifier's fixtures,
the sdist carries the tests and what they read, and the version is the same everywhere.

The wheel and the sdist are built once, from a copy of the working tree (building in place would
write build/ and an egg-info into the checkout, and a stale one could leak into the result).
The installed wheel runs in a virtual environment of its own that borrows this environment's
dependencies (libcst, torch) without installing them, so no network is needed.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import torchlint
from torchlint import registry

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FIXTURE_FILES = sorted(path.relative_to(ROOT / "fixtures").as_posix() for path in (ROOT / "fixtures").rglob("*")
                       if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc")
RULE_FOLDERS = sorted(path.name for path in (ROOT / "fixtures").iterdir() if path.is_dir() and path.name != "__pycache__")

# The backend as a frontend calls it without build isolation (the test extra brings setuptools).
BUILD = """
import sys
import setuptools.build_meta as backend
out = sys.argv[1]  # read first: the backend rewrites sys.argv
print("built", backend.build_sdist(out))
print("built", backend.build_wheel(out))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment minus what would let the checkout or an enclosing git operation leak in."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV") and not key.startswith("GIT_")}
    env.update(extra)
    return env


def _copy_working_tree(destination: Path) -> Path:
    """The files a commit would hold: tracked, or untracked and not ignored."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                env=_clean_env(), capture_output=True, check=True, timeout=120).stdout
        for relative in filter(None, listed.decode("utf-8").split("\0")):
            source = ROOT / relative
            if source.is_file():  # a tracked file deleted in the working tree is not built
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:  # an unpacked sdist: its own files and what earlier test runs left
        shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(
            "__pycache__", "*.py[co]", ".pytest_cache", ".hypothesis", "build", "dist", "*.egg-info", ".venv"))
    return destination


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("packaging")
    source = _copy_working_tree(work / "source")
    dist = work / "dist"
    result = subprocess.run([sys.executable, "-c", BUILD, str(dist)], cwd=source, env=_clean_env(),
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    names = re.findall(r"^built (\S+)$", result.stdout, re.M)
    sdist, wheel = (dist / name for name in names)
    return {"work": work, "sdist": sdist, "wheel": wheel, "output": output}


def _wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        return email.parser.Parser().parsestr(archive.read(f"torchlint-{torchlint.__version__}.dist-info/METADATA").decode())


# -- the wheel -------------------------------------------------------------------------------

def test_the_wheel_carries_every_fixture_as_package_data(built) -> None:
    with zipfile.ZipFile(built["wheel"]) as archive:
        names = archive.namelist()
    for rule in RULE_FOLDERS:
        assert f"torchlint/_fixtures/{rule}/bad.py" in names and f"torchlint/_fixtures/{rule}/good.py" in names
    packaged = sorted(name.removeprefix("torchlint/_fixtures/") for name in names if name.startswith("torchlint/_fixtures/"))
    assert packaged == FIXTURE_FILES  # bad.fixed.py and edge_cases.py too, and nothing stale
    assert not [name for name in names if name.startswith(("fixtures/", "tests/", "benchmarks/"))]


def test_the_wheel_declares_its_license_and_project_urls(built) -> None:
    metadata = _wheel_metadata(built["wheel"])
    assert metadata["Version"] == torchlint.__version__
    assert metadata["License-Expression"] == "MIT" and metadata["License-File"] == "LICENSE"
    assert not [line for line in metadata.get_all("Classifier") if line.startswith("License ::")]  # the expression says it
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL"))
    assert urls["Repository"] == registry.REPOSITORY_URL and urls["Issues"] == f"{registry.REPOSITORY_URL}/issues"
    with zipfile.ZipFile(built["wheel"]) as archive:
        shipped_license = archive.read(f"torchlint-{torchlint.__version__}.dist-info/licenses/LICENSE").decode()
    assert shipped_license == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in shipped_license and "Copyright (c) 2026 The torchlint authors" in shipped_license


def test_building_warns_of_no_setuptools_deprecation(built) -> None:
    assert "SetuptoolsDeprecationWarning" not in built["output"], built["output"]


def test_an_installed_wheel_verifies_with_the_fixtures_it_carries(built, tmp_path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_clean_env(), capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
                              "-q", str(built["wheel"])], env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    venv_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    env=_clean_env(), capture_output=True, text=True, check=True).stdout.strip())
    # This environment's dependencies, as plain path entries: the .pth files in them (the editable
    # torchlint's finder among them) are not processed, and the venv's own site-packages comes first.
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()])
    if site.ENABLE_USER_SITE:
        borrowed[site.getusersitepackages()] = None
    (venv_site / "borrowed_dependencies.pth").write_text("".join(f"{path}\n" for path in borrowed if os.path.isdir(path)))

    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing there to find by accident
    elsewhere.mkdir()
    located = subprocess.run([str(python), "-c", "import libcst, torchlint; print(torchlint.__file__)"], cwd=elsewhere,
                             env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert located.returncode == 0, located.stderr
    assert Path(located.stdout.strip()).resolve() == (venv_site / "torchlint" / "__init__.py").resolve()

    result = subprocess.run([str(venv / "bin" / "torchlint"), "verify", "--device", "cpu", "--select", "TL104", "--format", "json"],
                            cwd=elsewhere, env=_clean_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert Path(report["fixtures"]).resolve() == (venv_site / "torchlint" / "_fixtures").resolve()
    (rule,) = report["rules"]
    assert rule["code"] == "TL104" and rule["verdict"] == "PASS", rule
    for variant in ("bad", "good", "fixed"):  # a rule with a fix also runs bad.fixed.py
        assert Path(rule[variant]["path"]).resolve().is_relative_to(venv_site.resolve())


# -- the sdist -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unpacked_sdist(built) -> Path:
    with tarfile.open(built["sdist"]) as archive:
        archive.extractall(built["work"] / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return built["work"] / "unpacked" / f"torchlint-{torchlint.__version__}"


def test_the_sdist_carries_the_tests_and_what_they_read(unpacked_sdist) -> None:
    for relative in ("LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in", ".pre-commit-hooks.yaml",
                     ".ci/run", "tests/conftest.py", "tests/schemas/sarif-schema-2.1.0.json", "tests/schemas/README.md",
                     "benchmarks/sweep.py", "benchmarks/precision/RESULTS.md", "docs/evidence.md", "docs/rules/README.md"):
        assert (unpacked_sdist / relative).is_file(), relative
    shipped_tests = sorted(path.name for path in (unpacked_sdist / "tests").glob("test_*.py"))
    assert shipped_tests == sorted(path.name for path in (ROOT / "tests").glob("test_*.py"))
    assert sorted(path.relative_to(unpacked_sdist / "fixtures").as_posix()
                  for path in (unpacked_sdist / "fixtures").rglob("*") if path.is_file()) == FIXTURE_FILES
    assert not list(unpacked_sdist.rglob("*.pyc"))


def test_the_tests_run_from_the_unpacked_sdist(unpacked_sdist) -> None:
    env = _clean_env(PYTHONPATH=str(unpacked_sdist))
    located = subprocess.run([sys.executable, "-c", "import torchlint; print(torchlint.__file__)"], cwd=unpacked_sdist,
                             env=env, capture_output=True, text=True, timeout=120)
    assert Path(located.stdout.strip()).resolve() == (unpacked_sdist / "torchlint" / "__init__.py").resolve(), located.stderr
    # the fixtures found are the sdist's own (test_verifier_contract), its docs and README are current
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                             "tests/test_verifier_contract.py", "tests/test_rule_docs.py", "tests/test_readme.py"],
                            cwd=unpacked_sdist, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^\d+ passed", result.stdout.splitlines()[-1]), result.stdout[-2000:]


# -- one version -----------------------------------------------------------------------------

def test_the_package_version_is_torchlint_s_own() -> None:
    project = PYPROJECT["project"]
    if "version" in project:
        assert project["version"] == torchlint.__version__
    else:
        assert "version" in project["dynamic"]
        assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "torchlint.__version__"}


def test_the_documented_tags_are_the_version_s() -> None:
    urls = PYPROJECT["project"]["urls"]
    assert urls["Repository"] == registry.REPOSITORY_URL
    assert f"/blob/v{torchlint.__version__}/" in urls["Documentation"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pre_commit = readme.split("\n## pre-commit\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\s*rev:\s*(\S+)", pre_commit, re.M) == [f"v{torchlint.__version__}"]
    assert re.search(r"^\s*- repo: \S+\s+# placeholder", pre_commit, re.M), "the repo URL is marked as a placeholder"
