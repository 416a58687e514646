"""The RTMP server: publishers pushing FLV over RTMP."""
