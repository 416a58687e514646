#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to, when they are missing:
# ffmpeg/ffprobe (real RTSP clients) and GStreamer's RTSP server for the system python3 (a real
# camera), Chromium and iproute2 for the browser tests. Needs root (or sudo) and the Debian package index.
set -euo pipefail

missing=()
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); \
from gi.repository import GstRtspServer" >/dev/null 2>&1; then
  missing+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp)
fi
command -v gst-inspect-1.0 >/dev/null 2>&1 || missing+=(gstreamer1.0-tools)
# headless Chromium for the web app tests, and ip netns (Chromium's WebRTC needs a veth pair)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if command -v gst-inspect-1.0 >/dev/null 2>&1; then
  gst-inspect-1.0 x264enc >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-ugly)
  gst-inspect-1.0 rtph264pay >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-good)
  gst-inspect-1.0 x265enc >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-bad)
else
  missing+=(gstreamer1.0-plugins-ugly gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null
