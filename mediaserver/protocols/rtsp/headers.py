"""A case-insensitive, order-preserving multi-map of RTSP header fields (RFC 2326 §4.2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from mediaserver.protocols.rtsp.errors import RtspError

__all__ = ["Headers"]

_FORBIDDEN = frozenset("\r\n\x00")


def _check(name: str, value: str) -> None:
    if not name or any(c in _FORBIDDEN or c in " \t:" for c in name):
        raise RtspError(400, f"invalid header name {name!r}")
    if any(c in _FORBIDDEN for c in value):
        raise RtspError(400, f"header {name} contains CR, LF or NUL")


class Headers:
    """Header fields in wire order; lookups ignore case, names keep the sender's spelling.

    ``h["CSeq"] = "3"`` replaces every field of that name (keeping the first one's position),
    :meth:`add` appends another field of the same name. Names and values are checked for
    CR/LF/NUL so nothing can inject a header when a message is serialized.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
                 ) -> None:
        self._items: list[tuple[str, str]] = []
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self.add(name, value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        key = name.lower()
        for item_name, value in self._items:
            if item_name.lower() == key:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in wire order."""
        key = name.lower()
        return [value for item_name, value in self._items if item_name.lower() == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        _check(name, value)
        key = name.lower()
        for index, (item_name, _) in enumerate(self._items):
            if item_name.lower() == key:
                self._items[index] = (name, value)
                self._items[index + 1:] = [
                    item for item in self._items[index + 1:] if item[0].lower() != key]
                return
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        if name not in self:
            raise KeyError(name)
        self._items = [item for item in self._items if item[0].lower() != key]

    def add(self, name: str, value: str) -> None:
        """Append one more field (keeps any earlier field of the same name)."""
        _check(name, value)
        self._items.append((name, value))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> list[tuple[str, str]]:
        """All fields as ``(name, value)`` pairs in wire order."""
        return list(self._items)

    def copy(self) -> Headers:
        headers = Headers()
        headers._items = list(self._items)
        return headers

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
