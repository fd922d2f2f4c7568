"""The build step that pyproject.toml cannot declare: the wheel carries the fixtures.

The fixture programs of ``torchlint verify`` live at the top of the repository, ``fixtures/``,
next to the tests that read them. A wheel gets a copy as the package data
``torchlint/_fixtures/``, so that an installed verifier finds them with ``importlib.resources``
(``torchlint.verifier.runner.default_fixtures_dir``). Mapping ``fixtures/`` as a package instead
would make setuptools warn about data folders that look like packages, and ``data-files`` lands
outside the package. An editable install copies nothing: it reads ``fixtures/`` in place.
Everything else about the build is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PACKAGED_FIXTURES = ("torchlint", "_fixtures")


class build_py_with_fixtures(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        if not (FIXTURES / "missing_zero_grad" / "bad.py").is_file():
            raise SystemExit(f"{FIXTURES}: the fixtures are missing, and the wheel's verifier needs them")
        target = Path(self.build_lib, *PACKAGED_FIXTURES)
        shutil.rmtree(target, ignore_errors=True)  # a fixture removed since the last build must not linger
        shutil.copytree(FIXTURES, target, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib, *PACKAGED_FIXTURES, path.relative_to(FIXTURES)))
                          for path in sorted(FIXTURES.rglob("*")) if path.is_file() and "__pycache__" not in path.parts]


setup(cmdclass={"build_py": build_py_with_fixtures})
