"""PLI and generic NACK as the hub sends them (RFC 4585 §6.2.1, §6.3.1)."""

from __future__ import annotations

from mediaserver.protocols.rtcp import RtcpGeneric, parse_rtcp
from mediaserver.protocols.rtcp_feedback import build_nack, build_pli, nack_items


def test_pli_bytes() -> None:
    pli = build_pli(0x01020304, 0xA0B0C0D0)
    assert pli == bytes.fromhex("81ce0002" "01020304" "a0b0c0d0")
    [packet] = parse_rtcp(pli)
    assert isinstance(packet, RtcpGeneric) and packet.packet_type == 206


def test_nack_items_group_sixteen_following() -> None:
    assert nack_items([5, 6, 21, 22]) == [(5, 1 | 1 << 15), (22, 0)]
    assert nack_items([10, 11, 26, 27]) == [(10, 1 | 1 << 15), (27, 0)]
    assert nack_items([]) == []


def test_nack_bytes() -> None:
    nack = build_nack(1, 2, [100, 102])
    assert nack == bytes.fromhex("81cd0003" "00000001" "00000002" "0064" "0002")
    assert build_nack(1, 2, []) == b""
