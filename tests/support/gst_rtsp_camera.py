"""A live test camera served by GStreamer's RTSP server.

Run it with the SYSTEM interpreter (the project's virtualenv cannot import ``gi``)::

    /usr/bin/python3 tests/support/gst_rtsp_camera.py --port 8554 --path /cam --codec h264

It prints ``READY <port>`` on stdout once the server is attached, and exits cleanly on
SIGTERM or SIGINT. Options:

* ``--codec h264|h265``: x264enc + rtph264pay, or x265enc + rtph265pay;
* ``--sps-in-sdp-only``: the payloader's ``config-interval=0``, so the parameter sets are
  sent only in the SDP (``sprop-parameter-sets`` / ``sprop-vps/sps/pps``), never in-band;
* ``--user/--password`` with ``--auth basic|digest``: protect the mount with RTSPAuth;
* ``--width/--height/--fps/--bitrate`` (kbit/s): the test picture;
* ``--shared``: one pipeline for every client (default: a pipeline per client);
* ``--bframes N`` (H.264): a "plain" camera, x264enc without ``tune=zerolatency`` and with
  N B-frames, so pictures arrive in decode order and presentation timestamps go backwards
  inside a GOP (default 0: the zero-latency encoder, no reordering).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def _launch(args: argparse.Namespace) -> str:
    config_interval = 0 if args.sps_in_sdp_only else 1
    raw = (f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={args.width},"
           f"height={args.height},framerate={args.fps}/1")
    if args.codec == "h265":
        enc = (f"x265enc tune=zerolatency key-int-max={args.gop} speed-preset=ultrafast "
               f"bitrate={args.bitrate} ! rtph265pay config-interval={config_interval} "
               "pt=96 name=pay0")
    else:
        # x264 repeats SPS/PPS before every IDR by default; with --sps-in-sdp-only it must
        # not (repeat-headers=0), and stream-format=avc puts them in codec_data, which
        # rtph264pay turns into sprop-parameter-sets: the SDP is then their only carrier.
        extra = " option-string=repeat-headers=0" if args.sps_in_sdp_only else ""
        # B-frames need a preset that keeps them (not ultrafast) and a profile above the
        # constrained baseline that rtph264pay would otherwise negotiate
        tune, profile = ((f"bframes={args.bframes} speed-preset=superfast", ",profile=main")
                         if args.bframes else ("tune=zerolatency speed-preset=ultrafast", ""))
        enc = (f"x264enc {tune} key-int-max={args.gop} "
               f"bitrate={args.bitrate}{extra} ! video/x-h264,stream-format=avc{profile} ! "
               f"rtph264pay config-interval={config_interval} pt=96 name=pay0")
    return f"( {raw} ! {enc} )"


def _auth(args: argparse.Namespace, factory: GstRtspServer.RTSPMediaFactory
          ) -> GstRtspServer.RTSPAuth:
    auth = GstRtspServer.RTSPAuth()
    auth.set_realm("fusionhub-test")
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    if args.auth == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.user, args.password, token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
    factory.add_role_from_structure(Gst.Structure.new_from_string(
        "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    return auth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264")
    parser.add_argument("--sps-in-sdp-only", action="store_true")
    parser.add_argument("--user")
    parser.add_argument("--password", default="")
    parser.add_argument("--auth", choices=("basic", "digest"), default="digest")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop", type=int, default=50)
    parser.add_argument("--bitrate", type=int, default=300)
    parser.add_argument("--shared", action="store_true")
    parser.add_argument("--bframes", type=int, default=0)
    args = parser.parse_args(argv)

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_launch(args))
    factory.set_shared(args.shared)
    if args.user:
        server.set_auth(_auth(args, factory))
    path = args.path if args.path.startswith("/") else "/" + args.path
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on {args.address}:{args.port}", file=sys.stderr, flush=True)
        return 2

    def _quit() -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, _quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, _quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
