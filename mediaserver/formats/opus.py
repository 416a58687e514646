"""The Opus processor's constants (RFC 7587): the RTP clock is 48 kHz whatever the input
rate, and the hub's Opus frames are 20 ms. The AAC → Opus transcoder encodes with them and
the relay to WHEP viewers stamps packets with them."""

from __future__ import annotations

from fractions import Fraction

CLOCK_RATE = 48_000
TIME_BASE = Fraction(1, CLOCK_RATE)
FRAME_SAMPLES = 960  # 20 ms
