from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.stream import MAX_GOP_BYTES, MAX_GOP_FRAMES, Stream

SPS, PPS = b"\x67\x42\x00\x1f", b"\x68\xce\x3c\x80"


def key(pts: int, with_ps: bool = True) -> AccessUnit:
    nalus = [SPS, PPS, b"\x65idr"] if with_ps else [b"\x65idr"]
    return AccessUnit(nalus, pts, True)


def delta(pts: int) -> AccessUnit:
    return AccessUnit([b"\x41p"], pts, False)


def test_new_subscriber_starts_from_the_gop_cache():
    s = Stream("cam")
    s.begin_session()
    s.publish(delta(0))  # before the first keyframe: dropped
    s.publish(key(3600))
    s.publish(delta(7200))
    sub = s.subscribe("viewer")
    assert [a.keyframe for a in sub._queue] == [True, False]
    assert s.stats.dropped_in == 1
    s.publish(key(10800))
    assert s.latest_keyframe().pts == 10800  # the first session keeps its clock
    assert len(s.gop()) == 1


def test_parameter_sets_prepended_to_keyframes_from_track():
    s = Stream("cam")
    s.begin_session()
    s.set_track(VideoTrack("h264", 640, 360, parameter_sets=(SPS, PPS)))
    s.publish(key(0, with_ps=False))
    assert s.latest_keyframe().nalus == (SPS, PPS, b"\x65idr")


def test_pts_continue_across_sessions_and_never_go_backwards():
    s = Stream("cam")
    sub = s.subscribe("v", maxsize=50)
    s.begin_session()
    s.publish(key(900_000))
    s.publish(delta(903_600))
    s.begin_session()  # camera restarted: its clock starts again
    s.publish(key(0))
    s.publish(delta(3600))
    s.publish(delta(1800))  # backwards inside a session
    pts = [a.pts for a in sub._queue]  # the restart resynced the subscriber at its keyframe
    assert pts[0] == 903_600 + 3600  # one nominal frame after the last picture seen
    assert pts == sorted(pts) and len(set(pts)) == len(pts)


def test_b_frames_keep_their_presentation_order_across_sessions():
    """pts goes backwards inside a GOP with B-frames: it is kept; only dts must increase, and a
    restart shifts both by the same offset."""
    s = Stream("cam")
    decode_order = [(0, -7200), (10800, -3600), (3600, 0), (7200, 3600), (21600, 7200)]

    def session(start: int) -> None:
        s.begin_session()
        for i, (pts, dts) in enumerate(decode_order):
            s.publish(AccessUnit([SPS, PPS, b"\x65idr"] if i == 0 else [b"\x01b"],
                                 start + pts, i == 0, dts=start + dts))

    session(900_000)
    got = [(a.pts, a.dts) for a in s.gop()]
    session(0)  # camera restarted: its clock starts again
    got += [(a.pts, a.dts) for a in s.gop()]
    first = [(900_000 + p, 900_000 + d) for p, d in decode_order]
    assert got[:5] == first
    shift = first[-1][1] + 3600 - decode_order[0][1]  # one nominal frame after the last dts
    assert got[5:] == [(p + shift, d + shift) for p, d in decode_order]
    dts = [d for _, d in got]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)


def test_gop_cache_is_bounded():
    s = Stream("cam")
    s.begin_session()
    s.publish(key(0))
    for i in range(MAX_GOP_FRAMES + 5):
        s.publish(delta(3600 * (i + 1)))
    assert s.gop() == ()
    assert s.latest_keyframe() is None
    s.publish(key(10**9))
    assert len(s.gop()) == 1


def test_gop_cache_is_bounded_in_bytes():
    s = Stream("cam")
    s.begin_session()
    s.publish(key(0))
    big = MAX_GOP_BYTES // 4
    for i in range(3):  # key + 3 × 1/4 of the cap: still cached
        s.publish(AccessUnit([b"\x41" + bytes(big - 1)], 3600 * (i + 1), False))
    assert len(s.gop()) == 4
    s.publish(AccessUnit([b"\x41" + bytes(big - 1)], 3600 * 4, False))  # over the cap
    assert s.gop() == () and s.latest_keyframe() is None
    s.publish(delta(3600 * 5))  # nothing is cached until the next keyframe
    assert s.gop() == ()
    s.publish(key(3600 * 6))
    assert [a.pts for a in s.gop()] == [3600 * 6]


async def test_slow_subscriber_resumes_at_a_keyframe_and_never_affects_others():
    s = Stream("cam")
    s.begin_session()
    slow = s.subscribe("slow", maxsize=5)
    fast = s.subscribe("fast", maxsize=1000)
    published = [key(0)] + [key(i * 3600) if i % 50 == 0 else delta(i * 3600)
                            for i in range(1, 203)]
    received = []
    for unit in published:
        s.publish(unit)
        received.append((await fast.recv()).pts)  # the fast one keeps up
    assert received == [a.pts for a in published] and fast.dropped == 0
    assert s.stats.aus_in == 203
    # the slow one never read: what it holds starts at a keyframe and has no gap after it
    assert slow.dropped > 0
    held = [await slow.recv() for _ in range(slow.qsize())]
    assert [(a.pts, a.keyframe) for a in held] == [(200 * 3600, True), (201 * 3600, False),
                                                   (202 * 3600, False)]
    assert slow.dropped + len(held) == 203


def test_parameter_sets_go_after_the_access_unit_delimiter():
    s = Stream("cam")
    s.begin_session()
    s.set_track(VideoTrack("h264", 640, 360, parameter_sets=(SPS, PPS)))
    s.publish(AccessUnit([b"\x09\xf0", b"\x65idr"], 0, True))
    assert s.latest_keyframe().nalus == (b"\x09\xf0", SPS, PPS, b"\x65idr")
