"""Build hook: ship the top-level ``web/``, ``configs/`` and ``models/`` folders inside the
wheel as ``mediaserver/_shipped/`` (found at run time by :mod:`mediaserver.shipped`). The
metadata lives in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("web", "configs", "models")
#: test-only reference outputs stay out of the wheel
LEFT_OUT = shutil.ignore_patterns("*.npz", "__pycache__", "*.pyc")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the folders of the checkout itself
        target = Path(self.build_lib) / "mediaserver" / "_shipped"
        for name in SHIPPED:
            shutil.copytree(ROOT / name, target / name, ignore=LEFT_OUT, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithShippedFiles})
