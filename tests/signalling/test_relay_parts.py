"""Parts of the fast relay without peers: the shared packetization cache and UDP batches."""

from __future__ import annotations

import socket

import pytest

from mediaserver.core.access_unit import AccessUnit
from mediaserver.protocols.h264 import H264Depacketizer
from mediaserver.protocols.rtp import RtpPacket
from mediaserver.protocols.rtp_header import RtpHeaderWriter
from signalling.relay.caches import PacketizationCaches
from signalling.relay.packetized import PacketizationCache
from signalling.relay.udp_batch import BatchSocket

IDR = bytes([0x65]) + bytes(range(256)) * 20  # 5 kB: fragmented
SPS, PPS = b"\x67\x42\xc0\x1f\xaa", b"\x68\xce\x3c\x80"


def test_cache_packetizes_each_access_unit_once_and_round_trips() -> None:
    cache = PacketizationCache("h264", max_units=2)
    au = AccessUnit([SPS, PPS, IDR], 9000, True)
    unit = cache.get(au)
    assert cache.get(au) is unit and cache.packetized == 1 and cache.hits == 1
    assert unit.payloads[0][0] & 0x1F == 24  # STAP-A with SPS + PPS
    assert {p[0] & 0x1F for p in unit.payloads[1:]} == {28}  # FU-A
    assert max(len(p) for p in unit.payloads) == 1300  # aiortc's payload size
    packets = RtpHeaderWriter(96, 1, 0).packets(unit.payloads, 9000)
    depacketizer = H264Depacketizer()
    frames = []
    for data in packets:
        frames += depacketizer.push(RtpPacket.parse(data))
    assert [list(f.nalus) for f in frames] == [[SPS, PPS, IDR]]
    for n in range(3):  # bounded: the oldest is evicted
        cache.get(AccessUnit([b"\x41\x9a" + bytes([n])], 9000 + n, False))
    assert len(cache) == 2
    with pytest.raises(ValueError):
        cache.get(AccessUnit([b"\x26\x01"], 0, True, "h265"))


def test_h265_payloads_follow_rfc7798() -> None:
    vps, idr = b"\x40\x01\x0c", b"\x26\x01" + bytes(3000)
    unit = PacketizationCache("h265").get(AccessUnit([vps, idr], 0, True, "h265"))
    assert (unit.payloads[0][0] >> 1) & 0x3F == 32  # a single NAL unit packet (VPS)
    assert {(p[0] >> 1) & 0x3F for p in unit.payloads[1:]} == {49}  # FU


def test_caches_are_shared_per_stream_and_released_with_the_last_viewer() -> None:
    caches = PacketizationCaches()
    a, b = caches.acquire("cam1", "h264"), caches.acquire("cam1", "h264")
    assert a is b and len(caches) == 1
    a.get(AccessUnit([b"\x41\x9a"], 0, False))
    caches.release("cam1", "h264")
    assert len(caches) == 1
    caches.release("cam1", "h264")
    assert len(caches) == 0 and caches.stats()["units_packetized"] == 1


def test_batch_socket_sends_runs_of_equal_datagrams_in_one_call() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2)
        tx.setblocking(False)
        batch = BatchSocket(tx.fileno())
        try:
            datagrams = [bytes([i]) * 1000 for i in range(5)] + [b"tail"] + [b"x" * 10]
            assert batch.send(datagrams, rx.getsockname()) == len(datagrams)
            received = [rx.recv(2000) for _ in datagrams]
            assert received == datagrams
            assert batch.calls == (2 if batch.gso else len(datagrams))
        finally:
            batch.close()
