"""Build step: the fixtures travel inside the wheel, under grader/_bundle/fixtures/.

Everything else is in pyproject.toml. From a checkout, grader.fixtures reads the top-level
fixtures/ folder; an installed wheel reads the bundled copy (see grader.data.data_root).
The reference notebooks in solutions/ are deliberately not bundled: grading does not need them.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: What grading reads of each assignment's fixtures (meta or scratch files stay behind).
FIXTURE_FILES = ("inputs.npz", "expected.npz")


class build_py_with_fixtures(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's fixtures/ directly
        sources = [folder / name for folder in sorted((HERE / "fixtures").glob("*")) for name in FIXTURE_FILES]
        if not any(source.is_file() for source in sources):
            raise SystemExit(
                "setup.py: no fixtures/<assignment>/inputs.npz to bundle; run `grader fixtures build` "
                "in the checkout first"
            )
        for source in sources:
            if source.is_file():
                target = Path(self.build_lib) / "grader" / "_bundle" / "fixtures" / source.parent.name / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


setup(cmdclass={"build_py": build_py_with_fixtures})
