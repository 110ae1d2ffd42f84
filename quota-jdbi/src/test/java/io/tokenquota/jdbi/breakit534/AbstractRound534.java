package io.tokenquota.jdbi.breakit534;

import io.tokenquota.Currency;
import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 534 (a ledger round): the SQL store against the in-memory reference on random one-at-a-time sequences that
 * the model comparisons of the contract suites leave out together: team members who join, leave and change teams
 * with holds open, purchases, bonuses and refunds of both members and teams, plan changes, holds outliving their
 * TTL and their month (up to a 20-day hold), both overrun policies and rollover on or off. Every call's outcome
 * (its hold's month, state, held and charged, its account, or its error code) and, at the end, every month's
 * account of every subject must be the same on both stores. Seeded: a failure names its seed and every step.
 * Runs and steps: -Dround534Runs, -Dround534Steps, -Dround534Seed.
 */
abstract class AbstractRound534 {

    /** The database the SQL store runs on. */
    abstract javax.sql.DataSource data();

    /** How many sequences this database runs by default. */
    abstract int defaultRuns();

    @Test
    void sqlStoreEndsEveryRandomSequenceAsTheReferenceDoes() {
        int runs = Integer.getInteger("round534Runs", defaultRuns());
        long seed0 = Long.getLong("round534Seed", 1L);
        List<String> fails = new ArrayList<>();
        for (long seed = seed0; seed < seed0 + runs && fails.size() < 5; seed++) {
            String f = run(data(), seed, Integer.getInteger("round534Steps", 80));
            if (f != null) {
                fails.add("seed " + seed + ": " + f);
            }
        }
        if (!fails.isEmpty()) {
            throw new AssertionError(String.join("\n\n", fails));
        }
    }

    static String run(javax.sql.DataSource ds, long seed, int steps) {
        Random r = new Random(seed);
        String p = "f" + UUID.randomUUID().toString().substring(0, 6) + "-";
        MutableClock clock = new MutableClock(Instant.parse("2031-01-20T12:00:00Z"));
        OverrunPolicy op = r.nextBoolean() ? OverrunPolicy.CAP_AT_HOLD : OverrunPolicy.CHARGE_ACTUAL;
        boolean rollover = r.nextInt(4) != 0;
        QuotaPolicy policy = QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(10_000)
                .overrunPolicy(op).rolloverPurchased(rollover).holdTtl(Duration.ofMinutes(10)).historyMonths(24)
                .build();
        QuotaStore mem = new InMemoryQuotaStore(policy);
        QuotaStore sql = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(true).build();
        String[] users = {p + "u0", p + "u1", p + "u2"};
        String[] teams = {p + "t0", p + "t1"};
        List<String[]> holds = new ArrayList<>(); // mem id, sql id
        List<String> txs = new ArrayList<>();
        StringBuilder log = new StringBuilder("policy " + op + " rollover " + rollover + "\n");
        for (int i = 0; i < steps; i++) {
            int kind = r.nextInt(100);
            String desc;
            Object a;
            Object b;
            if (kind < 8) {
                String u = users[r.nextInt(3)];
                String t = r.nextInt(4) == 0 ? null : teams[r.nextInt(2)];
                desc = "setTeam(" + u + "," + t + ")";
                a = call(() -> { mem.setTeam(u, t); return "ok"; });
                b = call(() -> { sql.setTeam(u, t); return "ok"; });
            } else if (kind < 30) {
                String u = users[r.nextInt(3)];
                long tok = 1 + r.nextInt(r.nextBoolean() ? 3_000 : 12_000);
                int ttlMin = new int[] {1, 10, 60, 60 * 24 * 20}[r.nextInt(4)];
                boolean key = r.nextBoolean();
                String k = key ? p + "k" + r.nextInt(6) : null;
                desc = "reserve(" + u + "," + tok + ",key " + k + ",ttl " + ttlMin + "m)";
                HoldRequest req = HoldRequest.of(u, tok).idempotencyKey(k).ttl(Duration.ofMinutes(ttlMin)).build();
                a = call(() -> mem.reserve(req).reservation());
                b = call(() -> sql.reserve(req).reservation());
                if (a instanceof Reservation ra && b instanceof Reservation rb) {
                    holds.add(new String[] {ra.id(), rb.id()});
                    a = view(ra);
                    b = view(rb);
                }
            } else if (kind < 38) {
                String u = users[r.nextInt(3)];
                long tok = 1 + r.nextInt(4_000);
                desc = "consume(" + u + "," + tok + ")";
                a = call(() -> view(mem.consume(u, tok, null)));
                b = call(() -> view(sql.consume(u, tok, null)));
            } else if (kind < 55 && !holds.isEmpty()) {
                String[] h = holds.get(r.nextInt(holds.size()));
                long actual = r.nextInt(3) == 0 ? r.nextInt(200) : r.nextInt(15_000);
                desc = "commit(" + h[1] + "," + actual + ")";
                a = call(() -> view(mem.commit(h[0], actual)));
                b = call(() -> view(sql.commit(h[1], actual)));
            } else if (kind < 62 && !holds.isEmpty()) {
                String[] h = holds.get(r.nextInt(holds.size()));
                desc = "release(" + h[1] + ")";
                a = call(() -> view(mem.release(h[0])));
                b = call(() -> view(sql.release(h[1])));
            } else if (kind < 66) {
                desc = "expireStale";
                // the counts are not compared: the database is shared by every sequence of the class, and a sweep
                // there expires the earlier sequences' stale holds too
                mem.expireStale();
                sql.expireStale();
                a = "swept";
                b = a;
            } else if (kind < 74) {
                boolean team = r.nextInt(3) == 0;
                String s = team ? Team.subject(teams[r.nextInt(2)]) : users[r.nextInt(3)];
                String tx = p + "tx" + txs.size();
                txs.add(tx);
                long tok = 1_000 * (1 + r.nextInt(6));
                boolean bonus = r.nextInt(4) == 0;
                PurchaseRequest req = new PurchaseRequest(tx, s, tok, bonus ? PurchaseType.BONUS : PurchaseType.PURCHASE,
                        "card", bonus ? null : new BigDecimal("10.00"), bonus ? null : Currency.USD, bonus ? "gift" : null);
                desc = "buy(" + s + "," + tok + "," + tx + (bonus ? ",bonus" : "") + ")";
                if (bonus) {
                    a = call(() -> mem.grant(req).status());
                    b = call(() -> sql.grant(req).status());
                } else {
                    a = call(() -> { mem.recordPending(req); return mem.complete(tx, new BigDecimal("10.00"), Currency.USD).status(); });
                    b = call(() -> { sql.recordPending(req); return sql.complete(tx, new BigDecimal("10.00"), Currency.USD).status(); });
                }
            } else if (kind < 80 && !txs.isEmpty()) {
                String tx = txs.get(r.nextInt(txs.size()));
                desc = "refund(" + tx + ")";
                a = call(() -> { var x = mem.refund(tx); return x.status() + " " + x.unrecovered(); });
                b = call(() -> { var x = sql.refund(tx); return x.status() + " " + x.unrecovered(); });
            } else if (kind < 84) {
                boolean team = r.nextInt(3) == 0;
                String s = team ? Team.subject(teams[r.nextInt(2)]) : users[r.nextInt(3)];
                long plan = new long[] {0, 2_000, 10_000, 30_000}[r.nextInt(4)];
                desc = "setPlan(" + s + "," + plan + ")";
                a = call(() -> view(mem.setPlan(s, plan)));
                b = call(() -> view(sql.setPlan(s, plan)));
            } else {
                int c = r.nextInt(5);
                Duration d = switch (c) {
                    case 0 -> Duration.ofMinutes(5);
                    case 1 -> Duration.ofMinutes(11);
                    case 2 -> Duration.ofHours(2);
                    case 3 -> Duration.ofDays(3);
                    default -> Duration.ofDays(12);
                };
                desc = "advance " + d;
                clock.advance(d);
                a = "t";
                b = "t";
            }
            log.append(i).append(' ').append(clock.instant()).append(' ').append(desc).append(" -> ").append(a)
                    .append('\n');
            if (!String.valueOf(a).equals(String.valueOf(b))) {
                return log + "DIFF at step " + i + ": mem " + a + " | h2 " + b;
            }
        }
        // every month's account of every subject, up to the clock's month's accounts of every subject, read without side effects where possible
        List<String> subjects = new ArrayList<>(List.of(users));
        for (String t : teams) {
            subjects.add(Team.subject(t));
        }
        YearMonth m0 = YearMonth.of(2031, 1);
        for (String s : subjects) {
            for (int k = 0; k < 6; k++) {
                YearMonth m = m0.plusMonths(k);
                if (m.isAfter(policy.monthOf(clock.instant()))) {
                    break;
                }
                String av = mem.account(s, m).map(AbstractRound534::view).orElse("none");
                String bv = sql.account(s, m).map(AbstractRound534::view).orElse("none");
                if (!av.equals(bv)) {
                    return log + "END DIFF " + s + " " + m + ": mem " + av + " | h2 " + bv;
                }
            }
        }
        return null;
    }

    static String view(QuotaAccount x) {
        return "[" + x.month() + " alloc " + x.allocated() + " granted " + x.granted() + " carried " + x.carried()
                + " used " + x.used() + " reserved " + x.reserved() + "]";
    }

    static String view(Reservation x) {
        return "[" + x.month() + " " + x.state() + " held " + x.held() + " charged " + x.charged() + "]";
    }

    interface Body {
        Object run();
    }

    static Object call(Body b) {
        try {
            return b.run();
        } catch (QuotaException e) {
            return e.code();
        }
    }
}
