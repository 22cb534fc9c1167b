from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.throttle import RateLimiter, Verdict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.check("u", T0) is Verdict.ALLOW for _ in range(1000))
    assert len(limiter) == 0


def test_over_the_limit_refuses_once_then_quietly_until_the_window_ends() -> None:
    limiter = RateLimiter(2)
    verdicts = [limiter.check("u", T0 + timedelta(seconds=i)) for i in range(5)]
    assert verdicts == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.REFUSE,
        Verdict.REFUSE_QUIETLY,
        Verdict.REFUSE_QUIETLY,
    ]
    assert limiter.check("u", T0 + timedelta(minutes=1)) is Verdict.ALLOW


def test_users_are_counted_separately() -> None:
    limiter = RateLimiter(1)
    assert limiter.check("a", T0) is Verdict.ALLOW
    assert limiter.check("b", T0) is Verdict.ALLOW
    assert limiter.check("a", T0) is Verdict.REFUSE


def test_memory_stays_bounded_and_drops_the_least_recently_seen() -> None:
    limiter = RateLimiter(1, capacity=3)
    for user in ["a", "b", "c"]:
        limiter.check(user, T0)
    limiter.check("a", T0)  # refused, and now the most recently seen
    for i in range(100):
        limiter.check(f"other{i}", T0)
    assert len(limiter) == 3
    # Dropped users start a fresh window: the price of a fixed memory.
    assert limiter.check("b", T0) is Verdict.ALLOW
