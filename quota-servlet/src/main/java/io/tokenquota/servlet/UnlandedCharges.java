package io.tokenquota.servlet;

import io.tokenquota.Limits;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.internal.LedgerRules;
import java.time.Duration;
import java.time.YearMonth;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * The calls of this JVM whose charges have not landed in the ledger yet: running calls (what their
 * answers reported so far beyond their holds) and settlements under way or being tried again (what
 * they charge beyond their holds). A client may have such a call's answer already (a stream's last
 * event, an async answer, a flushed body) and send its next call at once; that call is admitted only if
 * its account has room for what these owe as well ({@link QuotaFilter}). One registry for every
 * {@link QuotaFilter} in the JVM, so that a second filter of the same service (another prefix, another
 * store wrapper) sees the first's calls; filed under the subject and under the team the hold was also
 * held against, so that a team-mate's call sees them against the team's account, and with the month of
 * their hold, which is the month they are charged to ({@link Owed#against}). Thread-safe.
 */
final class UnlandedCharges {
    /** The one registry of this JVM. */
    static final UnlandedCharges JVM = new UnlandedCharges();

    /**
     * The longest a reserve waits for its subject's settlements under way: a commit takes a round trip;
     * one that takes longer (a row lock, a slow store) is counted by what it owes instead.
     */
    static final Duration SETTLEMENT_WAIT = Duration.ofSeconds(2);

    /**
     * Settlements under way or being tried again, by owner (subject or team), then call: what each charges
     * beyond its hold, read when asked, since the hold may lapse while the settlement is tried again
     * (round 225: a charge retried past its hold's TTL counted by what it added to the hold, and the next
     * call was served 3,000 past the allowance).
     */
    private final Map<String, Map<String, Filed>> settling = new ConcurrentHashMap<>();
    /** Running calls, by owner, then call: what their answers so far charge beyond their holds. */
    private final Map<String, Map<String, Filed>> running = new ConcurrentHashMap<>();
    /** Settlements under way whose answers may be with the client: only those are waited for. */
    private final Set<String> answersOut = ConcurrentHashMap.newKeySet();
    /** Settlements waiting for their next retry: not waited for (the reserve tries them first). */
    private final Set<String> retrying = ConcurrentHashMap.newKeySet();
    /** Notified when a settlement ends, for a reserve waiting in {@link #awaitSettlements}. */
    private final Object landed = new Object();
    /** Reserves waiting: settlements notify only when one is. */
    private final AtomicInteger waiting = new AtomicInteger();

    /** What a call charges beyond its hold, filed with the hold's month. */
    private record Filed(YearMonth month, LongSupplier beyond) {
    }

    /**
     * What an owner's calls whose charges have not landed owe beyond their holds, by the months of their holds
     * (only those that owe something), read at once and weighed against an account by {@link #against}.
     */
    record Owed(Map<YearMonth, Long> byMonth) {
        /** Whether any call owes anything, to any month. */
        boolean any() {
            return !byMonth.isEmpty();
        }

        /**
         * What of it {@code account} must have room for: calls held in its month (or a later one) count
         * whole; calls held in an earlier month charge that closed month, and reach this one only by taking
         * back purchased tokens it carried, as the ledger takes them when the late charge lands
         * ({@link LedgerRules#lateTransfer} on the closed month as {@code closedMonth} reads it, charged what
         * they owe: at most {@code granted + carried} of this one, none with rollover off). Weighed whole, a
         * January stream's overrun refused February's first call (round 430: 15,000 reported on a 1,010 hold
         * at 23:58, and a call asking 8,000 at 00:01 refused 429 with 6,010 of February's untouched 20,000
         * left, where the overrun costs February nothing). Weighed on a closed month made up of purchased
         * tokens alone, an overrun that January's own allowance pays still counted February's carried tokens
         * (round 433: 10,000 bought on January 31st, January's 20,000 untouched, the stream's 13,990 overrun
         * counted as 10,000 owed, and a call asking 16,008 refused 429 with 22,000 of February left).
         *
         * @param closedMonth the account's own stored account of an earlier month; empty when it cannot be
         *                    read, and then what a month's calls owe counts whole, up to this one's purchased tokens
         *                    ({@code granted + carried}; none with rollover off)
         */
        long against(QuotaAccount account, QuotaPolicy policy, Function<YearMonth, Optional<QuotaAccount>> closedMonth) {
            long own = 0;
            long taken = 0;
            for (Map.Entry<YearMonth, Long> owed : byMonth.entrySet()) {
                long beyond = owed.getValue();
                if (!owed.getKey().isBefore(account.month())) {
                    own = Math.min(Limits.MAX_TOKENS, own + beyond);
                    continue;
                }
                long take = closedMonth.apply(owed.getKey())
                        .map(before -> -LedgerRules.lateTransfer(before, charged(before, beyond), account, policy))
                        .orElse(beyond);
                taken = Math.min(Limits.MAX_TOKENS, taken + take);
            }
            // several closed months' charges (and one whose month was not read) take together no more than the
            // purchased tokens this month has, each of them taking at most that much (LedgerRules#lateTransfer)
            long purchased = policy.rolloverPurchased() ? Math.max(0, account.granted() + account.carried()) : 0;
            return Math.min(Limits.MAX_TOKENS, own + Math.min(taken, purchased));
        }

        /** {@code closed} once its calls' charges land, which add {@code beyond} to its used and held tokens. */
        private static QuotaAccount charged(QuotaAccount closed, long beyond) {
            long used = closed.used() > Long.MAX_VALUE - beyond ? Long.MAX_VALUE : closed.used() + beyond;
            return new QuotaAccount(closed.subject(), closed.month(), closed.allocated(), closed.granted(),
                    closed.carried(), used, closed.reserved(), closed.createdAt(), closed.updatedAt());
        }
    }

    private static String user(String subject) {
        return "u:" + subject;
    }

    private static String team(String teamId) {
        return "t:" + teamId;
    }

    /**
     * A call holding {@code hold} runs; {@code owedSoFar} tells what its answer so far charges beyond the
     * hold. {@code call} names it among every filter's calls in the JVM: two stores number their holds
     * alike, so a hold's id alone may name two calls.
     */
    void running(String call, Reservation hold, LongSupplier owedSoFar) {
        for (String owner : owners(hold)) {
            put(running, owner, call, new Filed(hold.month(), owedSoFar));
        }
    }

    /**
     * The settlement of {@code hold} begins; {@code answerOut}: its answer may be with the client already,
     * and the subject's next reserve waits for it. An answer whose end waits for its settlement is not,
     * so a call sent meanwhile was not sent because of it.
     */
    void settlementStarts(String call, Reservation hold, boolean answerOut) {
        if (answerOut) {
            answersOut.add(call);
        }
        for (String owner : owners(hold)) {
            // until the settlement has decided ({@link #owes}) it owes what the call's answer so far charges, as a
            // running call does: the settlement runs the application's code before it decides (a trailer supplier,
            // wrappers of filters in front), and a reserve waiting past SETTLEMENT_WAIT counted it as owing
            // nothing (round 365: a stream whose usage said 15,000 on a 1,008 hold, and the next call was served
            // 8,008 past the allowance)
            Map<String, Filed> calls = running.get(owner);
            Filed soFar = calls == null ? null : calls.get(call);
            put(settling, owner, call, soFar == null ? new Filed(hold.month(), () -> 0L) : soFar);
        }
    }

    /** The settlement of {@code hold} charges {@code beyond} tokens more than it holds (as the hold stands when read). */
    void owes(String call, Reservation hold, LongSupplier beyond) {
        for (String owner : owners(hold)) {
            settling.computeIfPresent(owner, (o, byId) -> {
                byId.replace(call, new Filed(hold.month(), beyond));
                return byId;
            });
        }
    }

    /** The settlement of {@code hold} waits for its next retry. */
    void retrying(String call) {
        retrying.add(call);
    }

    /** The call of {@code hold} has settled, or finally failed to, or is no longer kept. */
    void landed(String call, Reservation hold) {
        for (String owner : owners(hold)) {
            remove(running, owner, call);
            remove(settling, owner, call);
        }
        answersOut.remove(call);
        retrying.remove(call);
        if (waiting.get() > 0) {
            synchronized (landed) {
                landed.notifyAll();
            }
        }
    }

    /**
     * Waits until the subject's settlements under way now whose answers may be with the client have
     * ended (not those tried again later, nor those that start meanwhile: a busy user's next call would
     * wait for ever more), or {@link #SETTLEMENT_WAIT}.
     */
    void awaitSettlements(String subject) {
        Set<String> earlier = underWay(user(subject), null);
        if (earlier.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() + SETTLEMENT_WAIT.toNanos();
        waiting.incrementAndGet();
        try {
            synchronized (landed) {
                long left;
                while (!underWay(user(subject), earlier).isEmpty() && (left = deadline - System.nanoTime()) > 0) {
                    TimeUnit.NANOSECONDS.timedWait(landed, left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            waiting.decrementAndGet();
        }
    }

    /** What the subject's calls whose charges have not landed owe beyond their holds, by their holds' months. */
    Owed owedBySubject(String subject) {
        return owed(user(subject));
    }

    /** What the team's members' calls whose charges have not landed owe beyond their holds, by their holds' months. */
    Owed owedByTeam(String teamId) {
        return owed(team(teamId));
    }

    /**
     * The owner's settlements under way whose answers may be with the client, not waiting for a retry;
     * only those among {@code among}, when given.
     */
    private Set<String> underWay(String owner, Set<String> among) {
        Map<String, Filed> now = settling.get(owner);
        if (now == null) {
            return Set.of();
        }
        Set<String> ids = new HashSet<>();
        for (String id : now.keySet()) {
            if (answersOut.contains(id) && !retrying.contains(id) && (among == null || among.contains(id))) {
                ids.add(id);
            }
        }
        return ids;
    }

    /** Those settling by their decision, those still running by the usage their answers reported so far. */
    private Owed owed(String owner) {
        Map<String, Filed> now = settling.get(owner);
        Map<YearMonth, Long> byMonth = new HashMap<>();
        if (now != null) {
            for (Filed beyond : now.values()) {
                add(byMonth, beyond);
            }
        }
        Map<String, Filed> calls = running.get(owner);
        if (calls != null) {
            for (Map.Entry<String, Filed> call : calls.entrySet()) {
                if (now == null || !now.containsKey(call.getKey())) {
                    add(byMonth, call.getValue());
                }
            }
        }
        return new Owed(byMonth);
    }

    private static void add(Map<YearMonth, Long> byMonth, Filed call) {
        long beyond = read(call.beyond());
        if (beyond > 0) {
            byMonth.merge(call.month(), beyond, (a, b) -> Math.min(Limits.MAX_TOKENS, a + b));
        }
    }

    /** What a call owes beyond its hold; one that cannot be read now counts for nothing: its settlement decides. */
    private static long read(LongSupplier beyond) {
        try {
            return beyond.getAsLong();
        } catch (RuntimeException unreadable) {
            return 0;
        }
    }

    private static String[] owners(Reservation hold) {
        return hold.teamId() == null ? new String[] {user(hold.subject())}
                : new String[] {user(hold.subject()), team(hold.teamId())};
    }

    private static <V> void put(Map<String, Map<String, V>> map, String owner, String id, V value) {
        // inside the map's lock of the owner, so removing a last entry cannot drop the map under this one
        map.compute(owner, (o, byId) -> {
            Map<String, V> m = byId == null ? new ConcurrentHashMap<>() : byId;
            m.put(id, value);
            return m;
        });
    }

    private static <V> void remove(Map<String, Map<String, V>> map, String owner, String id) {
        map.computeIfPresent(owner, (o, byId) -> {
            byId.remove(id);
            return byId.isEmpty() ? null : byId;
        });
    }
}
