"""The WebRTC relay's fast path: packetize once per source, per viewer only rewrite headers,
protect with SRTP and send (see ``docs/webrtc-relay.md``)."""
