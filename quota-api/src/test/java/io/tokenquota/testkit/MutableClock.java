package io.tokenquota.testkit;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A {@link Clock} that stands still until a test moves it, so tests cross TTLs and month boundaries
 * without sleeping. Thread-safe: the instant is held in an atomic reference, and a clock obtained
 * through {@link #withZone} shares it.
 */
public final class MutableClock extends Clock {
    private final AtomicReference<Instant> now;
    private final ZoneId zone;

    private MutableClock(AtomicReference<Instant> now, ZoneId zone) {
        this.now = now;
        this.zone = zone;
    }

    /** A UTC clock standing at {@code start}. */
    public MutableClock(Instant start) {
        this(new AtomicReference<>(Objects.requireNonNull(start, "start")), ZoneOffset.UTC);
    }

    /** A UTC clock standing at {@code day} of {@code month}, {@code hour}:00. */
    public static MutableClock at(YearMonth month, int day, int hour) {
        return new MutableClock(month.atDay(day).atTime(hour, 0).toInstant(ZoneOffset.UTC));
    }

    @Override
    public ZoneId getZone() {
        return zone;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return new MutableClock(now, zone);
    }

    @Override
    public Instant instant() {
        return now.get();
    }

    public void set(Instant instant) {
        now.set(Objects.requireNonNull(instant, "instant"));
    }

    /** Moves the clock forward (or back, for a negative duration) and returns the new instant. */
    public Instant advance(Duration duration) {
        return now.updateAndGet(i -> i.plus(duration));
    }

    /** Moves to {@code day} of the month {@code months} after the current one, at {@code hour}:00 UTC. */
    public Instant advanceMonths(int months, int day, int hour) {
        YearMonth target = YearMonth.from(instant().atZone(ZoneOffset.UTC)).plusMonths(months);
        Instant next = target.atDay(day).atTime(hour, 0).toInstant(ZoneOffset.UTC);
        set(next);
        return next;
    }

    @Override
    public String toString() {
        return "MutableClock[" + instant() + ", " + zone + "]";
    }
}
