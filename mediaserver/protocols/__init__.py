"""Pure wire formats: RTP/RTCP, H.264/H.265 payloads, SDP, RTSP.

Modules in this package import only the standard library and their siblings, never
the rest of the application.
"""
