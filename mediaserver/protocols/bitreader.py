"""Bit-level reading of RBSP data for parameter-set parsers.

Implements the descriptors of ITU-T H.264 §7.2 / H.265 §7.2: ``u(n)`` (:meth:`read_bits`),
``ue(v)`` and ``se(v)`` exp-Golomb codes (H.264 §9.1, H.265 §9.2), and the removal of
``emulation_prevention_three_byte`` (H.264 §7.4.1, H.265 §7.4.2) that turns a NAL unit
payload back into its RBSP. Every read is bounds-checked and raises the error class the
reader was built with.
"""

from __future__ import annotations

from mediaserver.protocols.errors import ProtocolError

__all__ = ["BitReader", "remove_emulation_prevention"]

#: Longest exp-Golomb prefix accepted: values up to 2**32 - 2, as the standards allow.
MAX_UE_LEADING_ZEROS = 31


def remove_emulation_prevention(nal: bytes) -> bytes:
    """Return ``nal`` with every ``0x03`` that follows ``0x00 0x00`` removed."""
    pos = nal.find(b"\x00\x00\x03")
    if pos < 0:
        return bytes(nal)
    out = bytearray()
    start = 0
    while pos >= 0:
        out += nal[start : pos + 2]
        start = pos + 3
        pos = nal.find(b"\x00\x00\x03", start)
    out += nal[start:]
    return bytes(out)


class BitReader:
    """Reads big-endian bit fields from a byte string.

    ``error`` is the exception class raised when the data runs out or a code is
    invalid, so codec parsers surface their own :class:`ProtocolError` subclass.
    """

    __slots__ = ("_data", "_error", "_pos", "_size")

    def __init__(self, data: bytes, error: type[ProtocolError] = ProtocolError) -> None:
        self._data = bytes(data)
        self._size = len(self._data) * 8
        self._pos = 0
        self._error = error

    @property
    def position(self) -> int:
        """Number of bits consumed so far."""
        return self._pos

    @property
    def bits_left(self) -> int:
        """Number of bits not yet consumed."""
        return self._size - self._pos

    def _need(self, count: int) -> None:
        if count > self._size - self._pos:
            raise self._error(
                f"bitstream truncated: need {count} bits, {self._size - self._pos} left"
            )

    def read_bits(self, count: int) -> int:
        """Read ``count`` bits (``u(n)``) as an unsigned integer."""
        if count < 0 or count > 64:
            raise ValueError(f"cannot read {count} bits at once")
        self._need(count)
        start = self._pos >> 3
        end = (self._pos + count + 7) >> 3
        chunk = int.from_bytes(self._data[start:end], "big")
        self._pos += count
        return (chunk >> (end * 8 - self._pos)) & ((1 << count) - 1)

    def read_bit(self) -> int:
        """Read one bit (``u(1)``)."""
        return self.read_bits(1)

    def read_flag(self) -> bool:
        """Read one bit as a boolean flag."""
        return self.read_bits(1) == 1

    def skip_bits(self, count: int) -> None:
        """Skip ``count`` bits."""
        if count < 0:
            raise ValueError(f"cannot skip {count} bits")
        self._need(count)
        self._pos += count

    def read_ue(self) -> int:
        """Read an unsigned exp-Golomb code (``ue(v)``)."""
        zeros = 0
        while self.read_bits(1) == 0:
            zeros += 1
            if zeros > MAX_UE_LEADING_ZEROS:
                raise self._error("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.read_bits(zeros)

    def read_se(self) -> int:
        """Read a signed exp-Golomb code (``se(v)``): 0, 1, -1, 2, -2, ..."""
        code = self.read_ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)

    def read_ue_max(self, maximum: int, name: str) -> int:
        """Read ``ue(v)`` and check it against the limit the standard gives for ``name``."""
        value = self.read_ue()
        if value > maximum:
            raise self._error(f"{name} out of range: {value} (maximum {maximum})")
        return value


def skip_vui_video_info(reader: BitReader) -> None:
    """Skip the start of VUI parameters that H.264 (Annex E.1.1) and H.265 (Annex E.2.1)
    share: aspect ratio, overscan, video signal type and chroma location."""
    # aspect_ratio_info_present_flag, then aspect_ratio_idc == Extended_SAR
    if reader.read_flag() and reader.read_bits(8) == 255:
        reader.skip_bits(32)
    if reader.read_flag():  # overscan_info_present_flag
        reader.skip_bits(1)
    if reader.read_flag():  # video_signal_type_present_flag
        reader.skip_bits(4)
        if reader.read_flag():  # colour_description_present_flag
            reader.skip_bits(24)
    if reader.read_flag():  # chroma_loc_info_present_flag
        reader.read_ue()
        reader.read_ue()
