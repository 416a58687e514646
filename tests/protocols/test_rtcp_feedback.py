"""PLI as the hub sends it upstream (RFC 4585 §6.3.1)."""

from __future__ import annotations

from mediaserver.protocols.rtcp import RtcpGeneric, parse_rtcp
from mediaserver.protocols.rtcp_feedback import build_pli


def test_pli_bytes() -> None:
    pli = build_pli(0x01020304, 0xA0B0C0D0)
    assert pli == bytes.fromhex("81ce0002" "01020304" "a0b0c0d0")
    [packet] = parse_rtcp(pli)
    assert isinstance(packet, RtcpGeneric) and packet.packet_type == 206
