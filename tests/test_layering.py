"""The package layout as a table of import rules (STYLE 2/3, the README's package table).

Each row names a package (or module) and what it may import of the project; an import outside
its row fails naming the file and line. The pure protocol layer imports only the standard
library; the base (errors, metrics, config, redact, shipped files, JSON limits, file roots)
only the standard library,
pydantic, prometheus_client and each other; the composition root (``mediaserver.hub``) imports
everything. Feature packages (the API, signalling, analytics) never import each other, and
server code never imports the WHEP/WHIP test clients. ``test_every_module_imports_alone`` is
the import-cycle test in the manner of aiohttp's ``tests/test_circular_imports.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mediaserver", "signalling", "analytics", "loadtests")

BASE = ("mediaserver.errors", "mediaserver.metrics", "mediaserver.config", "mediaserver.redact",
        "mediaserver.shipped", "mediaserver.json_limits", "mediaserver.file_roots")
PROTOCOLS = ("mediaserver.protocols",)
CORE = PROTOCOLS + ("mediaserver.core",)
FORMATS = CORE + ("mediaserver.formats",)
MEDIA = FORMATS + ("mediaserver.sources", "mediaserver.servers", "mediaserver.transcode")
STORE = ("mediaserver.store",)
FEATURE_DEPS = FORMATS + STORE + ("mediaserver.transcode", "mediaserver.http",
                                  "mediaserver.security", "mediaserver.registry",
                                  "mediaserver.record")


@dataclass(frozen=True)
class Row:
    package: str
    may_import: tuple[str, ...]
    #: third-party top-level packages allowed (None: any)
    third_party: tuple[str, ...] | None = None


#: the layout table; the longest matching ``package`` is a module's row
TABLE = (
    Row("mediaserver.protocols", PROTOCOLS, third_party=()),
    Row("mediaserver", ("mediaserver.__init__",), third_party=()),
    *(Row(base, BASE + ("mediaserver.__init__",),
          third_party=("pydantic", "pydantic_settings", "yaml", "prometheus_client"))
      for base in BASE),
    Row("mediaserver.core", CORE + BASE),
    Row("mediaserver.formats", FORMATS + BASE),
    Row("mediaserver.store", STORE + BASE),
    # user records check group scopes with the principal rules (pure: no HTTP in them)
    Row("mediaserver.registry", STORE + BASE + ("mediaserver.registry",
                                                "mediaserver.http.principal")),
    Row("mediaserver.record", FORMATS + BASE + ("mediaserver.record",)),
    Row("mediaserver.sources", FORMATS + BASE + ("mediaserver.sources",)),
    Row("mediaserver.servers", FORMATS + BASE + ("mediaserver.servers",)),
    Row("mediaserver.transcode", FORMATS + BASE + ("mediaserver.transcode",)),
    Row("mediaserver.http", CORE + STORE + BASE + ("mediaserver.http",)),
    Row("mediaserver.security", BASE + ("mediaserver.security",)),
    # the admin API probes a camera before it is saved (sources.rtsp_probe)
    Row("mediaserver.api", FEATURE_DEPS + BASE + ("mediaserver.api", "mediaserver.__init__",
                                                  "mediaserver.sources.rtsp_probe")),
    Row("signalling", FEATURE_DEPS + BASE + ("signalling",)),
    Row("analytics", FEATURE_DEPS + BASE + ("analytics",)),
    Row("mediaserver.hub", PACKAGES + ("mediaserver.__init__",)),
    Row("mediaserver.__main__", ("mediaserver.hub",)),
    # load tests start the Hub in-process; the CLI, demo and wiring stay the hub's own
    Row("loadtests", MEDIA + STORE + BASE + FEATURE_DEPS + (
        "mediaserver.api", "signalling", "analytics", "loadtests", "mediaserver.hub.app",
        "mediaserver.__init__", "tests")),
)


@dataclass(frozen=True)
class Import:
    name: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts[-1:] = [] if len(parts) > 1 else ["__init__"]
    return ".".join(parts)


def imports_of(path: Path) -> list[Import]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "mediaserver" and node.module is None or name == "mediaserver":
                # ``from mediaserver import __version__`` / ``from .. import x``
                found += [Import(_package_member(name, alias.name), node.lineno)
                          for alias in node.names]
            else:
                found.append(Import(name, node.lineno))
    return found


def _package_member(package: str, name: str) -> str:
    member = ROOT / package / name
    return f"{package}.{name}" if member.is_dir() or member.with_suffix(".py").is_file() \
        else f"{package}.__init__"


def row_of(module: str) -> Row:
    rows = [r for r in TABLE if module == r.package or module.startswith(r.package + ".")]
    assert rows, f"{module} has no row in the layout table"
    return max(rows, key=lambda r: len(r.package))


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def project_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_stay_within_the_row(path: Path):
    module = module_name(path)
    row = row_of(module)
    bad = []
    for imp in imports_of(path):
        top = imp.name.split(".")[0]
        if top in PACKAGES or top == "tests":
            if not within(imp.name, row.may_import + (row.package,)):
                bad.append(imp)
        elif row.third_party is not None and top not in sys.stdlib_module_names \
                and top not in row.third_party and top != "__future__":
            bad.append(imp)
    assert not bad, "\n".join(
        f"{path.relative_to(ROOT)}:{imp.line} imports {imp.name} (row {row.package} may "
        f"import {', '.join(row.may_import) or 'the standard library only'})" for imp in bad)


def test_the_table_catches_a_back_edge(tmp_path: Path):
    """The rules fail with file and line (a core module importing the API)."""
    row = row_of("mediaserver.core.stream")
    assert not within("mediaserver.api.sources", row.may_import + (row.package,))
    assert not within("signalling.whep", row_of("mediaserver.api.sources").may_import)
    assert not within("mediaserver.hub.demo", row_of("loadtests.bench_core").may_import)
    assert within("mediaserver.protocols.rtp", row_of("mediaserver.formats.rtp_video").may_import)


@pytest.mark.parametrize("path", sorted((ROOT / "signalling").glob("*.py")) + [
    p for p in project_files() if p.parts[len(ROOT.parts)] in ("mediaserver", "analytics")],
    ids=lambda p: str(p.relative_to(ROOT)))
def test_server_code_does_not_import_the_test_clients(path: Path):
    for imp in imports_of(path):
        assert not within(imp.name, ("signalling.clients",)), \
            f"{path.relative_to(ROOT)}:{imp.line} imports the test client {imp.name}"


def test_every_module_imports_alone():
    """Each module imported first in a process that has imported nothing of the project (a
    forked child of one interpreter that preloaded the third-party libraries), all modules in
    parallel: an import cycle fails whichever module it starts from."""
    modules = [module_name(p) for p in project_files()
               if p.name != "__main__.py" and module_name(p) != "mediaserver.__init__"]
    proc = subprocess.run([sys.executable, str(ROOT / "tests/support/import_alone.py"),
                           *modules], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
