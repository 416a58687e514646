"""Every place the fast relay reaches into aiortc 1.16 / aioice 0.10, in one module.

aiortc keeps ICE, DTLS, SDP negotiation and RTCP parsing; the fast path takes over only the
per-packet media send. It needs, per viewer:

- the negotiated send parameters: ``RTCRtpTransceiver._codecs`` (payload types, RTX ``apt``),
  ``_headerExtensions`` and ``mid``, ``RTCRtpSender._ssrc`` / ``_rtx_ssrc`` (announced in the
  answer's ``a=ssrc`` lines, so the packets must carry them);
- the SRTP context: ``RTCDtlsTransport._tx_srtp`` (a ``pylibsrtp.Session``), set once DTLS is
  connected; the fast path protects with it, as ``RTCDtlsTransport._send_rtp`` does;
- the UDP path: aioice ``Connection._nominated[1]`` (the selected candidate pair), whose
  ``protocol.transport`` is the asyncio datagram transport and ``remote_addr`` the peer. A pair
  over TURN has no such transport; :class:`DatagramPath` then awaits aioice's own ``sendto``;
- RTCP from the viewer: aiortc routes NACK / PLI / FIR for our SSRC to
  ``RTCRtpSender._handle_rtcp_packet``; :func:`intercept_rtcp` puts a handler in front of it
  on that one sender instance (receiver reports still reach aiortc for its RTT statistics);
- ``RTCRtpReceiver._RTCRtpReceiver__remote_bitrate_estimator``: every transceiver has a
  receiver, and a video one builds a 1000-bucket bitrate estimator (~100 KiB of Python objects)
  that a send-only viewer transceiver never uses; :func:`slim_send_only` drops it (aiortc's
  audio receivers run with None there);
- the sender's counters ``_RTCRtpSender__packet_count`` / ``__octet_count`` /
  ``__ntp_timestamp`` / ``__rtp_timestamp``: aiortc's RTCP task builds its sender reports and
  ``getStats()`` from them, so :func:`report_sent` keeps them true.

:func:`check_seams` verifies the private names exist, so an aiortc upgrade that moves them
fails loudly when a session is set up (the endpoint then uses aiortc's own sender).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aioice.ice import StunProtocol
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport

from .udp_batch import BatchSocket

logger = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"
_COUNTERS = ("_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count",
             "_RTCRtpSender__ntp_timestamp", "_RTCRtpSender__rtp_timestamp")


class SeamMissing(RuntimeError):
    """This aiortc version lacks an internal the fast path relies on."""


@dataclass(frozen=True, slots=True)
class SendParameters:
    """What one viewer negotiated for the video stream the hub sends."""

    payload_type: int
    ssrc: int
    rtx_payload_type: int | None
    rtx_ssrc: int
    mid: str | None
    mid_id: int | None
    abs_send_time_id: int | None
    codec: str  # mime subtype, lower case ("h264")


def missing_seams() -> list[str]:
    """Internals of this aiortc's classes the fast path needs that are not there (checked
    once, before any session: the private attributes its ``__init__`` methods assign)."""
    sender_names = RTCRtpSender.__init__.__code__.co_names
    missing = [name for name in _COUNTERS + ("_ssrc", "_rtx_ssrc") if name not in sender_names]
    if not hasattr(RTCRtpSender, "_handle_rtcp_packet"):
        missing.append("RTCRtpSender._handle_rtcp_packet")
    if "_tx_srtp" not in RTCDtlsTransport.__init__.__code__.co_names:
        missing.append("RTCDtlsTransport._tx_srtp")
    return missing


def check_seams(sender: RTCRtpSender) -> None:
    """Raise :class:`SeamMissing` unless ``sender`` has every internal used here."""
    missing = [name for name in ("_ssrc", "_rtx_ssrc", "_handle_rtcp_packet", *_COUNTERS)
               if not hasattr(sender, name)]
    transport = sender.transport
    if not hasattr(transport, "_tx_srtp"):
        missing.append("RTCDtlsTransport._tx_srtp")
    connection = getattr(transport.transport, "_connection", None)
    if not hasattr(connection, "_nominated"):
        missing.append("aioice Connection._nominated")
    if missing:
        raise SeamMissing("aiortc internals missing: " + ", ".join(missing))


def send_parameters(transceiver: RTCRtpTransceiver) -> SendParameters:
    """The negotiated parameters (call after ``setLocalDescription``)."""
    codecs = transceiver._codecs  # noqa: SLF001 - see the module docstring
    if not codecs:
        raise SeamMissing("transceiver has no negotiated codec")
    main = codecs[0]
    rtx = next((c for c in codecs if c.mimeType.lower().endswith("/rtx")
                and str(c.parameters.get("apt")) == str(main.payloadType)), None)
    ids = {ext.uri: ext.id for ext in transceiver._headerExtensions}  # noqa: SLF001
    sender = transceiver.sender
    return SendParameters(payload_type=main.payloadType, ssrc=sender._ssrc,  # noqa: SLF001
                          rtx_payload_type=rtx.payloadType if rtx else None,
                          rtx_ssrc=sender._rtx_ssrc,  # noqa: SLF001
                          mid=transceiver.mid, mid_id=ids.get(MID_URI),
                          abs_send_time_id=ids.get(ABS_SEND_TIME_URI),
                          codec=main.mimeType.split("/")[-1].lower())


class DatagramPath:
    """Protect-and-send for one DTLS transport, straight to the selected pair's socket.

    The function from :meth:`sync_sender` takes the RTP packets of one access unit, protects
    them and sends them without yielding to the event loop (one wake-up per access unit), in
    as few system calls as UDP GSO allows (:mod:`.udp_batch`), when the pair is a plain UDP
    one; over TURN :meth:`send_slow` awaits aioice per packet. Both return the bytes sent, or
    -1 when the transport is not connected (the viewer is gone). :meth:`close` releases the
    duplicated socket.
    """

    def __init__(self, dtls: RTCDtlsTransport, *, gso: bool = True) -> None:
        self._dtls = dtls
        self._connection = dtls.transport._connection  # noqa: SLF001 - see the module doc
        self._gso = gso
        self._batch: BatchSocket | None = None
        self._batch_for: object = None
        #: send system calls made (sendmsg with GSO counts once for several packets)
        self.calls = 0

    @property
    def ready(self) -> bool:
        return self._dtls.state == "connected" and self._dtls._tx_srtp is not None  # noqa: SLF001

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None
            self._batch_for = None

    def write_buffer_size(self) -> int:
        """Bytes the datagram transport holds because the socket was full (0 when sending)."""
        pair = self._connection._nominated.get(1)  # noqa: SLF001
        if pair is None or not isinstance(pair.protocol, StunProtocol):
            return 0
        return pair.protocol.transport.get_write_buffer_size()

    def _batch_socket(self, transport: asyncio.DatagramTransport) -> BatchSocket | None:
        if not self._gso:
            return None
        if self._batch_for is not transport:
            self.close()
            sock = transport.get_extra_info("socket")
            if sock is None:
                return None
            self._batch = BatchSocket(sock.fileno())
            self._batch_for = transport
        return self._batch

    def sync_sender(self) -> Callable[[list[bytes]], int] | None:
        """A function sending packets synchronously on the current pair, or None (TURN, or not
        connected)."""
        if not self.ready:
            return None
        pair = self._connection._nominated.get(1)  # noqa: SLF001
        if pair is None or not isinstance(pair.protocol, StunProtocol):
            return None
        transport = pair.protocol.transport
        if transport is None or transport.is_closing():
            return None
        sendto = transport.sendto
        addr = pair.remote_addr
        protect = self._dtls._tx_srtp.protect  # noqa: SLF001
        batch = self._batch_socket(transport)

        def send(packets: list[bytes]) -> int:
            datagrams = [protect(packet) for packet in packets]
            done = 0
            if batch is not None and transport.get_write_buffer_size() == 0:
                calls = batch.calls
                done = batch.send(datagrams, addr)
                self.calls += batch.calls - calls
            for data in datagrams[done:]:
                sendto(data, addr)  # buffered by the transport when the socket is full
            self.calls += len(datagrams) - done
            return sum(len(d) for d in datagrams)

        return send

    async def send_slow(self, packets: list[bytes]) -> int:
        """The TURN path: aioice's own send, one await per packet."""
        if not self.ready:
            return -1
        protect = self._dtls._tx_srtp.protect  # noqa: SLF001
        total = 0
        for packet in packets:
            data = protect(packet)
            try:
                await self._connection.sendto(data, 1)
            except ConnectionError:
                return -1
            self.calls += 1
            total += len(data)
        return total


RtcpHandler = Callable[[object], bool]


def intercept_rtcp(sender: RTCRtpSender, handler: RtcpHandler) -> None:
    """Route the sender's RTCP to ``handler`` first; what it declines (returns False) goes on
    to aiortc (receiver reports, REMB)."""
    original: Callable[[object], Awaitable[None]] = sender._handle_rtcp_packet  # noqa: SLF001

    async def handle(packet: object) -> None:
        try:
            if handler(packet):
                return
        except Exception:  # noqa: BLE001 - never raise into aiortc's DTLS receive loop
            logger.exception("fast relay RTCP handler failed")
            return
        await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]  # noqa: SLF001


def report_sent(sender: RTCRtpSender, packets: int, octets: int, ntp_timestamp: int,
                rtp_timestamp: int) -> None:
    """Keep aiortc's sender-report and ``getStats()`` counters in step with what we sent."""
    sender._RTCRtpSender__packet_count = packets  # noqa: SLF001
    sender._RTCRtpSender__octet_count = octets  # noqa: SLF001
    sender._RTCRtpSender__ntp_timestamp = ntp_timestamp  # noqa: SLF001
    sender._RTCRtpSender__rtp_timestamp = rtp_timestamp  # noqa: SLF001


def slim_send_only(transceiver: RTCRtpTransceiver) -> None:
    """Free the unused receiver's bitrate estimator of a send-only transceiver."""
    receiver = transceiver.receiver
    if getattr(receiver, _ESTIMATOR, None) is not None:
        setattr(receiver, _ESTIMATOR, None)


async def wait_connected(dtls: RTCDtlsTransport) -> bool:
    """Wait until DTLS is connected (SRTP keys exist); False if it closed or failed first."""
    if dtls.state == "connected":
        return True
    done = asyncio.get_running_loop().create_future()

    def on_state() -> None:
        if dtls.state in ("connected", "closed", "failed") and not done.done():
            done.set_result(dtls.state == "connected")

    dtls.on("statechange", on_state)
    try:
        on_state()
        return await done
    finally:
        dtls.remove_listener("statechange", on_state)
