"""Where ``file://`` sources may read: only below the configured media directories.

A ``file://`` URL makes the hub open a local file with its own rights (often root). Without a
confinement an admin import of ``file:///etc/shadow`` would read any file, and a source's status
would tell whether a path exists (local file inclusion). :func:`file_url_error` admits a URL
only when its path, with ``..`` and symlinks resolved, lies inside one of ``pull.file_roots``
(default: the data dir's ``media/``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

RULE = "pull.file_roots"


def default_file_roots(data_dir: Path) -> tuple[Path, ...]:
    return (data_dir / "media",)


def file_url_error(url: str, roots: Iterable[Path]) -> str | None:
    """None when ``url`` is not ``file://`` or lies inside a root; else why it is refused."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return None
    path = unquote(parts.path)
    if "\x00" in path or not path.startswith("/"):
        return "file:// URLs must name an absolute local path"
    real = os.path.realpath(path)
    allowed = [os.path.realpath(root) for root in roots]
    if any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in allowed):
        return None
    return (f"file:// path is outside the media directories ({RULE}: "
            f"{', '.join(str(r) for r in allowed) or 'none'})")
