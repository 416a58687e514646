"""WebRTC signalling: WHEP (viewing) and WHIP (publishing) over aiortc, H.264 relayed as packets."""
