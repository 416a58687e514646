"""Import rules of the package layout (STYLE 2/3): the pure protocol layer imports only the
standard library and itself; the core imports nothing of ingest, egress, the API or the
registry; signalling depends on the core's interfaces, never on concrete ingest classes."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports_of(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
    return names


def files(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("path", files("mediaserver.protocols"), ids=lambda p: p.name)
def test_protocols_import_only_the_standard_library_and_themselves(path: Path):
    for name in imports_of(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or name.startswith("mediaserver.protocols"), \
            f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("path", files("mediaserver.core"), ids=lambda p: p.name)
def test_core_imports_no_glue(path: Path):
    for name in imports_of(path):
        assert not name.startswith(("mediaserver.sources", "mediaserver.servers.rtsp",
                                    "mediaserver.api", "mediaserver.registry", "signalling",
                                    "analytics", "mediaserver.hub.app")), \
            f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("path", files("signalling"), ids=lambda p: p.name)
def test_signalling_does_not_import_concrete_ingest(path: Path):
    for name in imports_of(path):
        assert not name.startswith(("mediaserver.sources", "mediaserver.hub.app")), \
            f"{path.relative_to(ROOT)} imports {name}"
