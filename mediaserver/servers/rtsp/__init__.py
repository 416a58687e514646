"""The RTSP server: readers (DESCRIBE/SETUP/PLAY) and publishers (ANNOUNCE/SETUP/RECORD)."""
