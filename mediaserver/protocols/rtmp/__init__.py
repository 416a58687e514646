"""RTMP publishing, sans-IO (Adobe RTMP 1.0 specification, enhanced RTMP v1).

- :mod:`.handshake`: the simple (version 3) handshake, server side.
- :mod:`.chunk`: the chunk stream, both directions, with limits on chunk size, message size,
  chunk streams and buffered bytes (BAD-INPUTS row 18).
- :mod:`.amf0`: AMF0 values with a depth and item budget.
- :mod:`.messages`: message types, protocol control messages and NetConnection/NetStream
  commands.
- :mod:`.flv`: FLV video tag bodies → H.264/H.265 access units (AVC sequence header, NALUs,
  enhanced-RTMP ``hvc1``/``avc1`` FourCCs and the legacy codec id 12 for HEVC).

Every parser raises a subclass of :class:`~.errors.RtmpError` (a ``ProtocolError``) with an
exact message; after a chunk-stream error the connection cannot be resynchronised.
"""
