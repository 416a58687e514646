"""Checks of a WHIP publisher's SDP offer, before any peer connection exists."""

from __future__ import annotations

from aiortc.sdp import SessionDescription

from mediaserver.errors import OfferError

from .peer import OfferSummary, check_offer

_SENDING = ("sendonly", "sendrecv")


def check_publish_offer(text: str) -> OfferSummary:
    """The structural checks of :func:`~signalling.peer.check_offer` (400 for malformed SDP,
    missing ICE credentials or fingerprint), then: a video m-line the publisher sends on
    (422), offering H.264 packetization-mode=1 or VP8 (422)."""
    try:
        summary = check_offer(text)
    except OfferError as exc:
        if exc.status != 422 or "H.264" not in str(exc):
            raise
        summary = None
    description = SessionDescription.parse(text)  # parsed fine in check_offer
    video = [m for m in description.media if m.kind == "video" and m.port != 0]
    if not any(m.direction in _SENDING for m in video):
        raise OfferError(422, "WHIP offer must send video (a=sendonly or a=sendrecv)")
    if summary is not None:
        return summary
    if not any(c.mimeType.lower() == "video/vp8" for m in video for c in m.rtp.codecs):
        raise OfferError(422, "publisher offers neither H.264 (packetization-mode=1, "
                         "baseline family) nor VP8")
    return OfferSummary(media=tuple(m.kind for m in description.media), h264_profiles=(),
                        ice_ufrag=description.media[0].ice.usernameFragment)
