"""The pieces' clock: a piece's packets and start time from the source's index."""
from __future__ import annotations

from fractions import Fraction

from yaffmpegp.piececlock import PieceClock, first_packets_end, in_order, listed_as, parse_segment_list
from yaffmpegp.probe import Packet, parse_piece_probe

# decode order, B-frames: as an MP4 from x264 (time base 1/12800, 512 ticks a frame)
SOURCE = [Packet(0, True), Packet(2048, False), Packet(1024, False), Packet(512, False),
          Packet(1536, False), Packet(4096, True), Packet(6144, False), Packet(5120, False)]


def _as_piece(packets: list[Packet], scale: int, offset: int) -> list[Packet]:
    return [Packet(p.pts * scale + offset, p.key, 2048) for p in packets]


def test_learns_the_map_a_piece_follows() -> None:
    probed = _as_piece(SOURCE[5:], 4, 4096)  # NUT's 1/51200, shifted by the mux's 0.08 s
    clock = PieceClock.learn(SOURCE, 5, Fraction(1, 12800), Fraction(1, 51200), probed)
    assert clock == PieceClock(Fraction(1, 51200), 4, 4096)
    assert clock.packets(SOURCE, 0, 5) == [Packet(p.pts * 4 + 4096, p.key) for p in SOURCE[:5]]
    assert clock.matches(SOURCE, 0, _as_piece(SOURCE[:5], 4, 4096))
    # joined by the concat demuxer, a unit starts at 0: the same packets, moved
    assert not clock.matches(SOURCE, 0, _as_piece(SOURCE[:5], 4, 0))
    assert clock.matches(SOURCE, 0, _as_piece(SOURCE[:5], 4, 0), moved=True)
    assert not clock.matches(SOURCE, 0, _as_piece(SOURCE[1:6], 4, 0), moved=True)


def test_no_map_when_one_packet_differs_or_the_time_bases_do_not_divide() -> None:
    probed = _as_piece(SOURCE[:5], 4, 4096)
    moved = [*probed[:3], Packet(probed[3].pts + 1, False), probed[4]]
    assert PieceClock.learn(SOURCE, 0, Fraction(1, 12800), Fraction(1, 51200), moved) is None
    unkeyed = [Packet(probed[0].pts, False), *probed[1:]]
    assert PieceClock.learn(SOURCE, 0, Fraction(1, 12800), Fraction(1, 51200), unkeyed) is None
    # 1/90000 into 1/60000 rounds: no exact map
    assert PieceClock.learn(SOURCE, 0, Fraction(1, 90000), Fraction(1, 60000), probed) is None
    assert PieceClock.learn(SOURCE, 0, Fraction(1, 12800), Fraction(1, 51200), []) is None


def test_start_time_is_ffprobes_microseconds() -> None:
    # 1/60000 from a 1/1000 source shifted by 4004 ticks: 0.0667333… s -> 0.066733
    clock = PieceClock(Fraction(1, 60000), 60, 4004)
    src = [Packet(0, True), Packet(100, False), Packet(33, False)]
    assert clock.start_time(src, 0) == Fraction(66733, 10**6)
    # half a microsecond rounds away from zero, as av_rescale_q does: 5/2 ticks of 1/10**6
    half = PieceClock(Fraction(1, 2 * 10**6), 1, 0)
    assert half.start_time([Packet(5, True)], 0) == Fraction(3, 10**6)
    # an open GOP: the keyframe's time, not its leading pictures' (as ffprobe reports it)
    open_gop = [Packet(4096, True), Packet(3584, False), Packet(5120, False)]
    assert PieceClock(Fraction(1, 12800), 1, 0).start_time(open_gop, 0) == Fraction(320000, 10**6)


def test_the_segment_muxers_list() -> None:
    listed = parse_segment_list("p00000.nut,0.000000,2.068733\np00001.nut,2.068733,4.070733\n"
                                '"odd,name.nut",4.070733,6.000000\nbroken\n')
    assert listed == {"p00000.nut": 0.0, "p00001.nut": 2.068733, "odd,name.nut": 4.070733}
    assert listed_as(listed, "p00001.nut", Fraction(2068733, 10**6))
    assert not listed_as(listed, "p00001.nut", Fraction(2068738, 10**6))  # 5 µs off: elsewhere
    assert not listed_as(listed, "p00002.nut", Fraction(4070733, 10**6))  # not closed yet
    assert not listed_as(listed, "p00001.nut", None)


def test_one_probe_gives_time_base_and_packets() -> None:
    tb, packets = parse_piece_probe("packet,124124,N/A,2002,K_\npacket,130124,N/A,2002,__\n"
                                    "packet,126104,124124,2002,__,\nstream,1/60000\n")
    assert tb == Fraction(1, 60000)
    assert packets == [Packet(124124, True, 2002), Packet(130124, False, 2002), Packet(126104, False, 2002)]


def test_the_outpoint_that_keeps_the_first_packets() -> None:
    intra = [Packet(k * 1001, True) for k in range(10)]  # 29.97 fps in 1/30000
    assert in_order(intra) and not in_order(SOURCE)
    clock = PieceClock(Fraction(1, 30000), 1, 0)
    # packet 2 of the piece from packet 4: 6 * 1001 / 30000 s = 0.2002 s, exactly
    assert first_packets_end(clock, intra, 4, 2) == Fraction(200200, 10**6)
    # 1/60000 ticks: rounded down, so packet n's decode timestamp reaches it
    end = first_packets_end(PieceClock(Fraction(1, 60000), 2, 7), intra, 4, 2)
    assert end == Fraction(200316, 10**6) and end <= Fraction(6 * 1001 * 2 + 7, 60000)
    assert first_packets_end(clock, intra, 8, 2) is None  # the stream ends first
