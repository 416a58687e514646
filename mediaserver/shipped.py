"""Files shipped with the product: the web app (``web/``), the default configuration
(``configs/``) and the default models (``models/``).

A built wheel carries them inside the package as ``mediaserver/_shipped/{web,configs,models}``
(copied there by ``setup.py`` at build time); a checkout or an editable install finds them as
the top-level folders beside the ``mediaserver`` package. Either way the lookup goes through
the package's resources, never through the working directory, so ``fusionhub`` works from any
directory.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

#: Folder inside the ``mediaserver`` package that a wheel ships the files in.
SHIPPED_DIR = "_shipped"
#: The top-level folders a wheel ships.
SHIPPED = ("web", "configs", "models")


@functools.cache
def shipped_root() -> Path:
    """The directory holding ``web/``, ``configs/`` and ``models/``."""
    package = Path(str(files("mediaserver")))
    installed = package / SHIPPED_DIR
    if installed.is_dir():
        return installed
    return package.parent  # a checkout: the folders sit beside the package


def shipped_path(relative: str | Path) -> Path:
    """Where a shipped file or folder such as ``web`` or ``configs/models.yaml`` lies."""
    return shipped_root() / relative


def resolve_shipped(path: Path) -> Path:
    """``path`` when it is absolute or exists from the working directory; otherwise the shipped
    file of that relative name when there is one (``configs/models.yaml`` from any directory);
    otherwise ``path`` unchanged, so the error names what was asked for."""
    if path.is_absolute() or path.exists():
        return path
    candidate = shipped_path(path)
    return candidate if candidate.exists() else path
