"""The per-client outbox: lossless while the client keeps up, conflated (newest
per channel and symbol) once it falls behind, and overdue past the lag limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tickcast.bridge.outbox import Outbox


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def drain(box: Outbox) -> list[tuple[object, int, str]]:
    out = []
    while (e := box.pop()) is not None:
        box.sent(e)
        out.append((e.key, e.seq, e.text))
    return out


def test_below_the_soft_limit_every_update_is_kept_in_order() -> None:
    box = Outbox(soft_limit=16, max_lag_frames=100, max_lag_s=30)
    for seq in range(10):
        box.put_update(("predictions", "A"), seq, f"A{seq}")
    assert [t for _, _, t in drain(box)] == [f"A{s}" for s in range(10)]
    assert box.conflated == 0 and box.behind == 0


def test_behind_the_newest_update_replaces_the_pending_one() -> None:
    box = Outbox(soft_limit=2, max_lag_frames=100, max_lag_s=30)
    for seq in range(1, 6):
        box.put_update(("predictions", "A"), seq, f"A{seq}")
    box.put_update(("predictions", "B"), 1, "B1")
    assert len(box) == 3 and box.behind == 6 and box.conflated == 3
    assert [t for _, _, t in drain(box)] == ["A1", "A5", "B1"]
    assert box.behind == 0


def test_ordered_frames_are_never_conflated() -> None:
    box = Outbox(soft_limit=1, max_lag_frames=100, max_lag_s=30)
    for i in range(5):
        box.put(f"reply{i}")
    assert [t for _, _, t in drain(box)] == [f"reply{i}" for i in range(5)]


def test_frames_behind_beyond_the_limit_is_overdue_even_when_conflated() -> None:
    box = Outbox(soft_limit=1, max_lag_frames=3, max_lag_s=30)
    for seq in range(3):
        box.put_update(("predictions", "A"), seq, "x")
    assert len(box) == 1 and box.overdue() is None
    box.put_update(("predictions", "A"), 3, "x")
    assert box.overdue() == "4 frames behind (limit 3)"


def test_age_of_the_oldest_unsent_frame_is_overdue_past_max_lag_s() -> None:
    clock = Clock()
    box = Outbox(soft_limit=8, max_lag_frames=100, max_lag_s=30, clock=clock)
    box.put("a")
    in_flight = box.pop()  # a write that never completes (peer stopped reading)
    assert in_flight is not None
    clock.t = 29.0
    assert box.overdue() is None
    clock.t = 31.0
    assert box.overdue() == "31.0 s behind (limit 30 s)"
    box.sent(in_flight)
    assert box.overdue() is None and box.lag_s() == 0.0


@given(
    soft=st.integers(1, 6),
    puts=st.lists(st.tuples(st.sampled_from("ABC"), st.booleans()), max_size=60),
)
def test_per_key_order_is_kept_and_the_newest_state_always_arrives(
    soft: int, puts: list[tuple[str, bool]]
) -> None:
    box = Outbox(soft_limit=soft, max_lag_frames=10**6, max_lag_s=1e9)
    got: list[tuple[object, int, str]] = []
    seqs = {"A": 0, "B": 0, "C": 0}
    for symbol, read_one in puts:
        seqs[symbol] += 1
        box.put_update(("predictions", symbol), seqs[symbol], symbol)
        if read_one and (e := box.pop()) is not None:
            box.sent(e)
            got.append((e.key, e.seq, e.text))
    got += drain(box)
    for symbol, last in seqs.items():
        mine = [seq for key, seq, _ in got if key == ("predictions", symbol)]
        assert mine == sorted(set(mine))  # in order, once each
        assert (mine[-1] if mine else 0) == last  # the newest state is never lost
    if len(puts) <= soft:
        assert box.conflated == 0  # a client that is not behind loses nothing
    assert box.behind == 0
