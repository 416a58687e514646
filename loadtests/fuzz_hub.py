"""Black-box mutation fuzzer of a running hub: its RTSP, RTMP and HTTP ports, over loopback.

    python -m loadtests.fuzz_hub --minutes 10 [--seed 1] [--workers 4] [--max-cases 200000]

Starts a camera farm (one camera) and ``fusionhub serve`` as subprocesses on free loopback
ports, then sends mutated protocol traffic from ``--workers`` concurrent tasks until the time
or case budget is spent: valid seed conversations (RTSP reader and publisher sessions, RTMP
handshake + connect/publish, REST/WHEP/WHIP/WebSocket requests with real tokens) with 1-4
mutations each (bit flips, interesting bytes, inserted tokens and long runs, deleted,
duplicated or spliced chunks, truncation), pipelined and split into random TCP writes, ended
by a FIN or a reset. A canary polls ``/healthz`` throughout.

At the end it lets the hub settle (its session timeout and ``close_after``), then reports:
cases per protocol, answers by status class, the hub's ERROR log lines (none may come from
client input), ``fusionhub_stream_viewers`` (must be back to 0), RSS and open fds at the start
(after a warm-up) and at the end. The report is printed and written as JSON (``--report``);
the exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from mediaserver.protocols.rtmp import amf0

from .farmproc import started_farm
from .hubproc import HubHandle, started_hub
from .procstat import read_proc

SESSION_TIMEOUT = 8.0
CLOSE_AFTER = 2.0
WARM_UP = 20.0
#: how long one case may talk to the hub
CASE_TIMEOUT = 3.0

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\r", b"\n", b"\r\n", b"$", b" ", b":",
               b"%00", b"%0d%0a", b"\xc8", b"../", b"..%2f", b"-1", b"0", b"4294967296",
               b"65535", b";", b",", b"=", b"\t", b"\x1b[31m", b'"', b"{", b"[", b"]", b"}"]


@dataclass
class Tally:
    cases: collections.Counter[str] = field(default_factory=collections.Counter)
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)
    client_failures: collections.Counter[str] = field(default_factory=collections.Counter)


class Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, data: bytes, others: list[bytes] | None = None) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            out = self._one(out, others or [])
        return bytes(out)

    def _one(self, out: bytearray, others: list[bytes]) -> bytearray:
        rng = self.rng
        if not out:
            return bytearray(rng.choice(INTERESTING))
        at = rng.randrange(len(out))
        kind = rng.randrange(8)
        if kind == 0:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[at:at + 1] = rng.choice(INTERESTING)
        elif kind == 2:
            out[at:at] = rng.choice(INTERESTING)
        elif kind == 3:  # a long run
            out[at:at] = bytes([rng.choice(b"A0$\r\n\xff ")]) * rng.choice(
                (64, 256, 2049, 8193, 70_000))
        elif kind == 4:
            del out[at:at + rng.randint(1, 64)]
        elif kind == 5:
            end = min(len(out), at + rng.randint(1, 256))
            out[at:at] = out[at:end] * rng.randint(2, 20)
        elif kind == 6:
            del out[at:]
        elif others:
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            out = out[:at] + bytearray(other[cut:])
        return out


def split_writes(rng: random.Random, data: bytes) -> list[bytes]:
    if rng.random() < 0.5 or len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


async def converse(port: int, writes: list[bytes], rng: random.Random, *,
                   read_for: float = 0.5) -> bytes:
    """Send ``writes`` (pausing a little between some), read for a while, hang up with a FIN
    or a reset; what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = bytearray()
    try:
        async with asyncio.timeout(CASE_TIMEOUT):
            for chunk in writes:
                writer.write(chunk)
                if rng.random() < 0.2:
                    await asyncio.sleep(rng.random() * 0.05)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            deadline = time.monotonic() + read_for
            while time.monotonic() < deadline and len(got) < 1 << 20:
                try:
                    async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                        data = await reader.read(65536)
                except TimeoutError:
                    break
                if not data:
                    break
                got += data
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        if rng.random() < 0.5:
            writer.transport.abort()
        else:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.wait_closed()
    return bytes(got)


# -- RTSP -------------------------------------------------------------------------------------


def rtsp_request(method: str, uri: str, cseq: int, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {cseq}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


PUSH_SDP = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fuzz\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;"
            b" sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==\r\n"
            b"a=control:streamid=0\r\n")


def rtp_packet(rng: random.Random, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHII", 0x80, 96 | (0x80 if rng.random() < 0.3 else 0), seq,
                         seq * 3600, 0x1234)
    return header + payload


def interleaved(channel: int, payload: bytes) -> bytes:
    return struct.pack("!cBH", b"$", channel, len(payload) & 0xFFFF) + payload


class Fuzzer:
    def __init__(self, hub: HubHandle, rtmp_port: int, camera: str, seed: int,
                 tally: Tally) -> None:
        self.hub = hub
        self.rtmp_port = rtmp_port
        self.camera = camera
        self.rng = random.Random(seed)
        self.mutate = Mutator(self.rng)
        self.tally = tally
        self.viewer = hub.token("viewer")
        self.admin = hub.token("admin")
        self.device = hub.token("device", (), source="push1")

    def _count(self, protocol: str, answer: bytes) -> None:
        match = re.match(rb"(RTSP/1\.0|HTTP/1\.[01]) (\d{3})", answer)
        key = f"{protocol} {match.group(2).decode()[0]}xx" if match else f"{protocol} none"
        self.tally.answers[key] += 1
        if match and match.group(2) == b"500":
            self.tally.server_errors.append(f"{protocol}: {answer[:200]!r}")

    # RTSP: one mutated message, a reader session, a publisher session
    async def rtsp_case(self) -> None:
        rng, url = self.rng, f"rtsp://127.0.0.1:{self.hub.rtsp_port}/{self.camera}"
        token_url = f"{url}?token={self.viewer}"
        tcp = {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        mode = rng.randrange(3)
        if mode == 0:
            seeds = [rtsp_request("OPTIONS", url, 1), rtsp_request("DESCRIBE", token_url, 2),
                     rtsp_request("SETUP", f"{url}/trackID=0", 3, tcp),
                     rtsp_request("GET_PARAMETER", url, 4, {"Session": "0123456789abcdef"}),
                     rtsp_request("PLAY", url, 5, {"Range": "npt=0-"})]
            data = self.mutate(rng.choice(seeds), seeds)
            answer = await converse(self.hub.rtsp_port, split_writes(rng, data), rng)
            self._count("rtsp", answer)
            self.tally.cases["rtsp message"] += 1
        elif mode == 1:
            await self._rtsp_reader(url, token_url, tcp)
            self.tally.cases["rtsp reader session"] += 1
        else:
            await self._rtsp_publisher()
            self.tally.cases["rtsp publish session"] += 1

    async def _rtsp_reader(self, url: str, token_url: str, tcp: dict[str, str]) -> None:
        rng = self.rng
        async with self._rtsp_connection() as (reader, writer):
            writer.write(rtsp_request("DESCRIBE", token_url, 1)
                         + rtsp_request("SETUP", f"{url}/trackID=0", 2, tcp))
            head = await _read_until(reader, b"Session: ", 2.5)
            found = re.search(rb"Session: ([0-9a-f]+)", head)
            self._count("rtsp", head)
            session = found.group(1).decode() if found else "deadbeefdeadbeef"
            script = [rng.choice(("PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SETUP",
                                  "OPTIONS")) for _ in range(rng.randint(1, 8))]
            messages = [rtsp_request(m, f"{url}/trackID=0" if m == "SETUP" else url + "/",
                                     3 + i, {"Session": session, **tcp})
                        for i, m in enumerate(script)]
            if rng.random() < 0.5:
                i = rng.randrange(len(messages))
                messages[i] = self.mutate(messages[i], messages)
            if rng.random() < 0.3:
                messages.append(interleaved(rng.choice((0, 1, 7, 255)),
                                            self.mutate(b"\x80\xc9\x00\x01" + b"\0" * 4)))
            await self._send_rest(writer, messages)

    async def _rtsp_publisher(self) -> None:
        rng = self.rng
        url = f"rtsp://127.0.0.1:{self.hub.rtsp_port}/push1?token={self.device}"
        sdp = PUSH_SDP if rng.random() < 0.6 else self.mutate(PUSH_SDP)
        record = {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"}
        async with self._rtsp_connection() as (reader, writer):
            writer.write(rtsp_request("ANNOUNCE", url, 1,
                                      {"Content-Type": "application/sdp"}, sdp)
                         + rtsp_request("SETUP", url.replace("?", "/streamid=0?"), 2,
                                        record))
            head = await _read_until(reader, b"Session: ", 2.5)
            self._count("rtsp", head)
            found = re.search(rb"Session: ([0-9a-f]+)", head)
            session = found.group(1).decode() if found else "0"
            frames = [rtsp_request("RECORD", url, 3, {"Session": session})]
            idr = b"\x65" + bytes(rng.randrange(256) for _ in range(rng.randint(1, 1500)))
            for seq in range(rng.randint(1, 40)):
                payload = idr if seq % 10 == 0 else b"\x41" + os.urandom(rng.randint(1, 900))
                packet = rtp_packet(rng, seq, payload)
                if rng.random() < 0.2:
                    packet = self.mutate(packet)
                frames.append(interleaved(0, packet))
            await self._send_rest(writer, frames)

    @contextlib.asynccontextmanager
    async def _rtsp_connection(self):
        """A connection to the RTSP port for one case: time-boxed, errors are the case's
        outcome, ended by a FIN or a reset."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.hub.rtsp_port)
        try:
            async with asyncio.timeout(CASE_TIMEOUT + 2):
                yield reader, writer
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort() if self.rng.random() < 0.5 else writer.close()

    async def _send_rest(self, writer: asyncio.StreamWriter, messages: list[bytes]) -> None:
        for chunk in split_writes(self.rng, b"".join(messages)):
            writer.write(chunk)
        await asyncio.sleep(self.rng.random() * 0.3)

    # RTMP: handshake (sometimes mutated), then connect/createStream/publish chunks, mutated
    async def rtmp_case(self) -> None:
        rng = self.rng
        c1 = b"\x00" * 8 + os.urandom(1528)
        chunks = b"".join(_chunk(3, 20, 0, amf0.encode(*cmd)) for cmd in (
            ("connect", 1.0, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live",
                              "flashVer": "FMLE/3.0"}),
            ("createStream", 2.0, None),
            ("publish", 3.0, None, f"push1?token={self.device}", "live")))
        chunks = _control_chunk(1, struct.pack("!I", rng.choice((128, 4096, 1, 0x7FFFFFFF)))) \
            + chunks
        media = b"".join(_chunk(6, 9, 1, b"\x17\x01\x00\x00\x00" + os.urandom(rng.randint(1, 300)))
                         for _ in range(rng.randint(0, 10)))
        reader, writer = await asyncio.open_connection("127.0.0.1", self.rtmp_port)
        try:
            async with asyncio.timeout(CASE_TIMEOUT):
                hello = b"\x03" + c1
                if rng.random() < 0.15:
                    hello = self.mutate(hello)
                writer.write(hello)
                s0s1s2 = await reader.readexactly(1 + 1536 * 2)
                writer.write(s0s1s2[1:1537])  # C2 echoes S1
                body = chunks + media
                if rng.random() < 0.85:
                    body = self.mutate(body)
                for chunk in split_writes(rng, body):
                    writer.write(chunk)
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await reader.read(65536)
            self.tally.answers["rtmp handshake ok"] += 1
        except (TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError):
            self.tally.answers["rtmp closed early"] += 1
        finally:
            writer.transport.abort() if rng.random() < 0.5 else writer.close()
        self.tally.cases["rtmp connection"] += 1

    # HTTP: REST, WHEP, WHIP, WebSocket, metrics
    async def http_case(self) -> None:
        rng = self.rng
        offer = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                 b"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
        source = json.dumps({"id": f"f{rng.randrange(1000)}", "group": "fuzz",
                             "url": "rtsp://127.0.0.1:9/x"}).encode()
        tokens = [self.viewer, self.admin, self.device]
        seeds = [
            _http("GET", "/healthz"),
            _http("GET", "/api/v1/sources?limit=5", rng.choice(tokens)),
            _http("GET", f"/api/v1/sources/{self.camera}", rng.choice(tokens)),
            _http("POST", "/api/v1/sources", self.admin, "application/json", source),
            _http("POST", "/api/v1/sources/import", self.admin, "application/x-ndjson",
                  source + b"\n" + source),
            _http("POST", f"/whep/{self.camera}", self.viewer, "application/sdp", offer),
            _http("POST", "/whip/push1", self.device, "application/sdp", offer),
            _http("GET", "/api/v1/events", self.viewer, extra=(
                b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")),
            _http("GET", "/metrics"),
            _http("GET", "/api/v1/alerts?limit=3", rng.choice(tokens)),
            _http("OPTIONS", f"/whep/{self.camera}"),
        ]
        port = int(self.hub.url.rsplit(":", 1)[1])
        data = self.mutate(rng.choice(seeds), seeds) if rng.random() < 0.9 else rng.choice(seeds)
        if rng.random() < 0.2:  # WebSocket frames after an upgrade (masked, mutated)
            data = seeds[7] + self.mutate(b"\x81\x85\x00\x00\x00\x00hello")
        answer = await converse(port, split_writes(rng, data), rng)
        self._count("http", answer)
        self.tally.cases["http request"] += 1


def _http(method: str, path: str, token: str | None = None, kind: str | None = None,
          body: bytes = b"", extra: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    if token:
        head += f"Authorization: Bearer {token}\r\n".encode()
    if kind:
        head += f"Content-Type: {kind}\r\n".encode()
    if body:
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + extra + b"Connection: close\r\n\r\n" + body


def _chunk(csid: int, type_id: int, stream_id: int, payload: bytes, size: int = 128) -> bytes:
    """One RTMP message as type-0 then type-3 chunks (chunk size ``size``)."""
    header = bytes([csid]) + b"\x00\x00\x00" + len(payload).to_bytes(3, "big") \
        + bytes([type_id]) + struct.pack("<I", stream_id)
    out = bytearray(header + payload[:size])
    for at in range(size, len(payload), size):
        out += bytes([0xC0 | csid]) + payload[at:at + size]
    return bytes(out)


def _control_chunk(type_id: int, payload: bytes) -> bytes:
    return _chunk(2, type_id, 0, payload)


async def _read_until(reader: asyncio.StreamReader, marker: bytes, timeout: float) -> bytes:
    got = bytearray()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while marker not in got:
                data = await reader.read(65536)
                if not data:
                    break
                got += data
    return bytes(got)


# -- the run ---------------------------------------------------------------------------------


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def canary(url: str, stop: asyncio.Event, worst: list[float]) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            start = time.monotonic()
            try:
                async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(10)) as r:
                    ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            elapsed = time.monotonic() - start
            worst[0] = max(worst[0], elapsed if ok else float("inf"))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await stop.wait()


async def run(minutes: float, seed: int, workers: int, max_cases: int) -> dict:
    tally = Tally()
    work = Path(tempfile.mkdtemp(prefix="fuzz-hub-"))
    duration = minutes * 60
    async with started_farm(work, work / "clips", count=1, profile="sub360",
                            duration=duration + 300) as farm:
        sources = farm.sources(group="fuzz") + [
            {"id": "push1", "group": "fuzz", "kind": "bodycam", "publish": True}]
        extra = {"rtsp": {"session_timeout": SESSION_TIMEOUT},
                 "streams": {"close_after": CLOSE_AFTER}, "log": {"level": "WARNING"}}
        async with started_hub(work, sources=sources, extra=extra) as hub:
            config = yaml.safe_load((hub.log_path.parent / "fusionhub.yaml").read_text())
            rtmp_port = config["rtmp"]["port"]
            fuzzers = [Fuzzer(hub, rtmp_port, farm.ids[0], seed + i, tally)
                       for i in range(workers)]
            stop = asyncio.Event()
            worst = [0.0]
            canary_task = asyncio.create_task(canary(hub.url, stop, worst))
            deadline = time.monotonic() + duration
            warm_at = time.monotonic() + WARM_UP
            start_sample: dict[str, float] = {}

            async def work_loop(fuzzer: Fuzzer) -> None:
                cases: list[Callable[[], Awaitable[None]]] = [
                    fuzzer.rtsp_case, fuzzer.rtmp_case, fuzzer.http_case]
                while time.monotonic() < deadline and sum(tally.cases.values()) < max_cases:
                    case = fuzzer.rng.choice(cases)
                    try:
                        await case()
                    except Exception as exc:  # noqa: BLE001 - the fuzzer's own trouble
                        tally.client_failures[type(exc).__name__] += 1
                    if not start_sample and time.monotonic() > warm_at:
                        start_sample.update(rss=read_proc(hub.pid).rss, fds=fd_count(hub.pid))

            progress_task = asyncio.create_task(_progress(tally, deadline))
            await asyncio.gather(*(work_loop(f) for f in fuzzers))
            progress_task.cancel()
            # settle: sessions time out, on-demand sources close
            await asyncio.sleep(SESSION_TIMEOUT + CLOSE_AFTER + 5)
            metrics = await scrape(hub.url)
            end_sample = {"rss": read_proc(hub.pid).rss, "fds": fd_count(hub.pid)}
            stop.set()
            await canary_task
            log_text = hub.log_path.read_text(errors="replace")
    errors = [line for line in log_text.splitlines() if re.search(r"\bERROR\b", line)]
    viewers = {k: v for k, v in metrics.items() if k.startswith("fusionhub_stream_viewers")}
    report = {
        "minutes": minutes, "seed": seed, "workers": workers,
        "cases": dict(tally.cases), "cases_total": sum(tally.cases.values()),
        "answers": dict(sorted(tally.answers.items())),
        "answers_500": tally.server_errors[:20], "answers_500_count": len(tally.server_errors),
        "hub_error_lines": len(errors), "hub_error_samples": errors[:20],
        "hub_traceback_count": log_text.count("Traceback"),
        "stream_viewers_at_end": viewers, "rtsp_sessions_active_at_end":
            metrics.get("fusionhub_rtsp_sessions"),
        "rss_mib_start": round(start_sample.get("rss", 0) / 2**20, 1),
        "rss_mib_end": round(end_sample["rss"] / 2**20, 1),
        "fds_start": start_sample.get("fds"), "fds_end": end_sample["fds"],
        "healthz_worst_s": round(worst[0], 3),
        "fuzzer_own_failures": dict(tally.client_failures),
    }
    report["pass"] = (not errors and not tally.server_errors
                      and all(v == 0 for v in viewers.values()) and worst[0] != float("inf"))
    return report


async def _progress(tally: Tally, deadline: float) -> None:
    while True:
        await asyncio.sleep(60)
        left = max(0, deadline - time.monotonic())
        print(f"{sum(tally.cases.values())} cases, {left:.0f} s left: {dict(tally.cases)}",
              file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-cases", type=int, default=200_000)
    parser.add_argument("--report", type=Path, default=Path("fuzz-hub-report.json"))
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.minutes, args.seed, args.workers, args.max_cases))
    text = json.dumps(report, indent=2)
    print(text)
    args.report.write_text(text + "\n", encoding="utf-8")
    print("RESULT:", "PASS" if report["pass"] else "FAIL", f"(report: {args.report})")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
