"""aiortc peer factory: ICE configuration, host candidates, offer checks, H.264 preferences.

Everything here is per peer connection; nothing is patched at import time.

Host candidates: aioice 0.13 has no option to choose the addresses it gathers host candidates on
(``Connection.gather_candidates`` asks the module function ``get_host_addresses``, which leaves
out 127.0.0.1; see aiortc/aioice#2 and the unmerged aiortc/aioice#57). The one supported seam is
the public coroutine ``Connection.get_component_candidates(component, addresses)`` that
``gather_candidates`` calls with that list. :func:`restrict_host_addresses` wraps it on the
connections of *one* peer connection so they bind exactly the configured addresses. It is the
only place that reaches into aiortc (``RTCIceGatherer._connection``), it runs before gathering,
and it does nothing when no addresses are configured (aioice's own choice then applies).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
)
from aiortc.sdp import H264Profile, SessionDescription, parse_h264_profile_level_id

from mediaserver.config.media import WebRtcConfig
from mediaserver.errors import OfferError
from mediaserver.protocols.errors import ProtocolError
from mediaserver.protocols.h264 import profile_level_id

logger = logging.getLogger(__name__)

#: Limits on an SDP offer (BAD-INPUTS 12); a browser offer has ~100 lines and 2-3 m-lines.
MAX_OFFER_LINES = 2000
MAX_OFFER_MEDIA = 16
MAX_OFFER_LINE = 4096
#: profile-level-id assumed when an H.264 fmtp has none (RFC 6184: constrained baseline 3.1)
DEFAULT_PROFILE_LEVEL_ID = "42e01f"


@dataclass(frozen=True, slots=True)
class OfferSummary:
    """What the endpoint learnt from a checked offer."""

    media: tuple[str, ...]  # kinds of every m-line, in order
    #: H.264 profile-level-ids the viewer offers with packetization-mode=1 that aiortc can send
    h264_profiles: tuple[str, ...]
    ice_ufrag: str | None = None


def h264_profile(profile_level_id: str) -> H264Profile | None:
    """The H.264 profile of a profile-level-id (``"42e01f"``), or None when unrecognized."""
    try:
        return parse_h264_profile_level_id(profile_level_id)[0]
    except ValueError:
        return None


def sps_profile_level_id(sps: bytes) -> str | None:
    """The profile-level-id of an H.264 SPS NAL unit (e.g. ``"640028"``), None if not an SPS."""
    try:
        return profile_level_id(sps)
    except ProtocolError:
        return None


def _sendable_h264() -> list[RTCRtpCodecCapability]:
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in caps if c.mimeType.lower() == "video/h264"
            and str(c.parameters.get("packetization-mode", "0")) == "1"]


def _rtx() -> list[RTCRtpCodecCapability]:
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in caps if c.mimeType.lower() == "video/rtx"]


def h264_preferences(camera_profile_level_id: str | None) -> list[RTCRtpCodecCapability]:
    """H.264 (packetization-mode=1) capabilities plus RTX, the camera's profile first.

    aiortc can only negotiate the baseline family (42001f / 42e01f). When the camera sends main
    or high profile no offered entry can match it exactly; constrained baseline is preferred then
    (every browser decodes higher profiles under it, the signalled profile is advisory).
    """
    camera = h264_profile(camera_profile_level_id) if camera_profile_level_id else None
    target = camera if camera in (H264Profile.PROFILE_BASELINE,
                                  H264Profile.PROFILE_CONSTRAINED_BASELINE) \
        else H264Profile.PROFILE_CONSTRAINED_BASELINE

    def rank(cap: RTCRtpCodecCapability) -> int:
        plid = str(cap.parameters.get("profile-level-id", DEFAULT_PROFILE_LEVEL_ID))
        return 0 if h264_profile(plid) is target else 1

    return sorted(_sendable_h264(), key=rank) + _rtx()


def _offered_h264(media_codecs: Iterable[object]) -> list[str]:
    """profile-level-ids of offered H.264 entries that aiortc can send."""
    ours = {h264_profile(str(c.parameters.get("profile-level-id", DEFAULT_PROFILE_LEVEL_ID)))
            for c in _sendable_h264()}
    found = []
    for codec in media_codecs:
        if getattr(codec, "mimeType", "").lower() != "video/h264" or codec.clockRate != 90000:
            continue
        params = codec.parameters
        if str(params.get("packetization-mode", "0")) != "1":
            continue
        plid = str(params.get("profile-level-id", DEFAULT_PROFILE_LEVEL_ID))
        if h264_profile(plid) in ours:
            found.append(plid.lower())
    return found


def check_offer(text: str) -> OfferSummary:
    """Validate a viewer's SDP offer before any peer connection exists; raise :class:`OfferError`.

    400: not SDP, over the size limits, unparsable, no ICE credentials or no ``a=fingerprint``;
    422: no video m-line, or no H.264 packetization-mode=1 entry aiortc can send.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "v=0":
        raise OfferError(400, "body is not an SDP offer (must start with v=0)")
    if len(lines) > MAX_OFFER_LINES:
        raise OfferError(400, f"SDP offer has more than {MAX_OFFER_LINES} lines")
    if any(len(line) > MAX_OFFER_LINE for line in lines):
        raise OfferError(400, f"SDP offer has a line longer than {MAX_OFFER_LINE} bytes")
    if sum(1 for line in lines if line.startswith("m=")) > MAX_OFFER_MEDIA:
        raise OfferError(400, f"SDP offer has more than {MAX_OFFER_MEDIA} m-lines")
    try:
        description = SessionDescription.parse(text)
    except Exception as exc:  # noqa: BLE001 - aiortc raises ValueError/KeyError/AssertionError...
        raise OfferError(400, f"malformed SDP offer ({type(exc).__name__})") from None
    if not description.media:
        raise OfferError(422, "SDP offer has no m-line")
    for media in description.media:
        if not media.ice.usernameFragment or not media.ice.password:
            raise OfferError(400, "SDP offer lacks a=ice-ufrag / a=ice-pwd")
        if media.dtls is None or not media.dtls.fingerprints:
            raise OfferError(400, "SDP offer lacks a=fingerprint / a=setup (DTLS-SRTP is "
                             "required)")
    video = [m for m in description.media if m.kind == "video" and m.port != 0]
    if not video:
        raise OfferError(422, "SDP offer has no video m-line")
    profiles = [p for m in video for p in _offered_h264(m.rtp.codecs)]
    if not profiles:
        raise OfferError(422, "viewer offers no H.264 with packetization-mode=1 and a "
                         "baseline-family profile-level-id (42e01f / 42001f)")
    return OfferSummary(media=tuple(m.kind for m in description.media),
                        h264_profiles=tuple(profiles),
                        ice_ufrag=description.media[0].ice.usernameFragment)


class PeerFactory:
    """Builds aiortc peer connections configured from :class:`WebRtcConfig`."""

    def __init__(self, webrtc: WebRtcConfig) -> None:
        self.webrtc = webrtc

    def configuration(self) -> RTCConfiguration:
        """``iceServers=[]`` when none are configured: aiortc's default Google STUN server would
        otherwise be queried (and is unreachable on closed networks)."""
        return RTCConfiguration(iceServers=[RTCIceServer(urls=url)
                                            for url in self.webrtc.ice_servers])

    def create(self) -> RTCPeerConnection:
        return RTCPeerConnection(configuration=self.configuration())

    def prepare_gathering(self, pc: RTCPeerConnection) -> None:
        """Apply the host-address policy; call after the last transceiver is created (after
        ``setRemoteDescription`` on the answering side) and before ``setLocalDescription``."""
        restrict_host_addresses(pc, self.webrtc.host_addresses)

    def link_headers(self) -> list[str]:
        """RFC 9725 ``Link: <url>; rel="ice-server"`` values for the configured servers."""
        return [f'<{url}>; rel="ice-server"' for url in self.webrtc.ice_servers]


def restrict_host_addresses(pc: RTCPeerConnection, addresses: Sequence[str], *,
                            relay_only: bool = False) -> None:
    """Gather host candidates of ``pc`` on exactly ``addresses`` (no-op when empty).

    Wraps ``aioice.Connection.get_component_candidates`` on this peer connection's ICE
    connections only. Pass ``relay_only=True`` for a peer connection configured with
    ``iceTransportPolicy=RELAY`` (it gathers no host candidates, so this is a no-op then).
    """
    if not addresses or relay_only:
        return
    wanted = list(dict.fromkeys(addresses))
    for gatherer in _ice_gatherers(pc):
        if gatherer.state != "new":
            raise RuntimeError("host addresses must be set before ICE gathering starts")
        connection = gatherer._connection  # noqa: SLF001 - the documented seam, see module doc
        if getattr(connection, "_fusionhub_hosts", None) == wanted:
            continue
        original = type(connection).get_component_candidates.__get__(connection)

        async def get_component_candidates(component: int, addresses: list[str],
                                           timeout: int = 5, _original=original,
                                           _wanted=wanted):  # type: ignore[no-untyped-def]
            # aioice's own list is replaced, even when it is empty (a host with loopback only)
            return await _original(component=component, addresses=_wanted, timeout=timeout)

        connection.get_component_candidates = get_component_candidates
        connection._fusionhub_hosts = wanted


def _ice_gatherers(pc: RTCPeerConnection) -> list[object]:
    gatherers = []
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.sender.transport.transport.iceGatherer
        if gatherer not in gatherers:
            gatherers.append(gatherer)
    if pc.sctp is not None:
        gatherer = pc.sctp.transport.transport.iceGatherer
        if gatherer not in gatherers:
            gatherers.append(gatherer)
    return gatherers
