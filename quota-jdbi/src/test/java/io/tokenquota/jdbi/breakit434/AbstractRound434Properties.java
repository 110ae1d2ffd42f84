package io.tokenquota.jdbi.breakit434;

import io.tokenquota.Currency;
import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Round 434 (a ledger round): with rollover off for the ledger's whole life (docs/decisions.md, "One rollover
 * setting per ledger"), random sequences of pack purchases ({@code grant}, as a host's payment handler records a
 * {@code payment_intent.succeeded}, docs.stripe.com/api/events/types), model calls (consume; reserve with a
 * 10-minute or a 31-day TTL, then commit above or below the hold, or release), refunds of completed packs
 * ({@code charge.refunded}), clock moves across month ends and sweeps, applied to the in-memory reference and the
 * store under test with one clock.
 *
 * <p>After every step, for every month M and every store (docs/semantics.md, "Credits and refunds": every spent
 * token of a refunded pack is taken back, {@code unrecovered}, or the month's overdraft; no paid unrefunded token
 * is taken): with the month's allowance A (10,000, no plan change), U the tokens of M's packs not refunded and C
 * its {@code used + reserved}, the tokens of refunded packs M consumed, {@code max(0, C - A - U)}, equal what is
 * recorded, {@code max(0, C - limit)} plus the {@code unrecovered} of M's refunded packs. And both stores hold
 * the same accounts and purchases.
 */
abstract class AbstractRound434Properties {
    protected abstract QuotaStore newStore(QuotaPolicy policy);

    static final long ALLOWANCE = 10_000;

    /** One step: kind 0 buy, 1 consume, 2 reserve, 3 commit, 4 release, 5 refund, 6 clock, 7 sweep. */
    record Op(int kind, long a, long b) {
        @Override
        public String toString() {
            return switch (kind) {
                case 0 -> "buy(" + a + ")";
                case 1 -> "consume(" + a + ")";
                case 2 -> "reserve(" + a + (b % 2 == 0 ? ", 10min)" : ", 31d)");
                case 3 -> "commit(hold#" + a + ", " + b + ")";
                case 4 -> "release(hold#" + a + ")";
                case 5 -> "refund(pack#" + a + ")";
                case 6 -> "clock(" + new String[] {"+1h", "lastEvening", "+1d", "nextMonth2nd"}[(int) (a % 4)] + ")";
                default -> "sweep";
            };
        }
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Op> op = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(3, Arbitraries.longs().between(1, 6).map(k -> new Op(0, k * 1_000, 0))),
                net.jqwik.api.Tuple.of(2, Arbitraries.longs().between(1, 16).map(k -> new Op(1, k * 500, 0))),
                net.jqwik.api.Tuple.of(3, Combinators.combine(Arbitraries.longs().between(1, 16),
                        Arbitraries.of(0L, 1L, 1L)).as((k, t) -> new Op(2, k * 500, t))),
                net.jqwik.api.Tuple.of(3, Combinators.combine(Arbitraries.longs().between(0, 5),
                        Arbitraries.longs().between(0, 24)).as((h, k) -> new Op(3, h, k * 500))),
                net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(0, 5).map(h -> new Op(4, h, 0))),
                net.jqwik.api.Tuple.of(4, Arbitraries.longs().between(0, 5).map(k -> new Op(5, k, 0))),
                net.jqwik.api.Tuple.of(2, Arbitraries.of(0L, 1L, 1L, 2L, 3L, 3L, 3L).map(k -> new Op(6, k, 0))),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(new Op(7, 0, 0))));
        // two to four months, each its own steps, then its last evening (steps that outlive it) and the next month
        return op.list().ofMinSize(1).ofMaxSize(10).list().ofMinSize(2).ofMaxSize(4).map(months -> {
            List<Op> all = new ArrayList<>();
            for (int i = 0; i < months.size(); i++) {
                List<Op> month = months.get(i);
                all.addAll(month.subList(0, month.size() / 2 + 1));
                all.add(new Op(6, 1, 0));
                all.addAll(month.subList(month.size() / 2 + 1, month.size()));
                if (i + 1 < months.size()) {
                    all.add(new Op(6, 3, 0));
                }
            }
            return all;
        });
    }

    @Property(tries = 150)
    void rolloverOffChargeActual(@ForAll("ops") List<Op> ops) {
        run(OverrunPolicy.CHARGE_ACTUAL, ops);
    }

    @Property(tries = 150)
    void rolloverOffCapAtHold(@ForAll("ops") List<Op> ops) {
        run(OverrunPolicy.CAP_AT_HOLD, ops);
    }

    void run(OverrunPolicy overrun, List<Op> ops) {
        MutableClock clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
        QuotaPolicy policy = QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(ALLOWANCE)
                .rolloverPurchased(false).overrunPolicy(overrun).holdTtl(Duration.ofMinutes(10)).historyMonths(24)
                .build();
        List<QuotaStore> stores = List.of(new InMemoryQuotaStore(policy), newStore(policy));
        String p = "r434" + UUID.randomUUID().toString().substring(0, 8) + "-";
        String s = p + "u";
        List<String> packs = new ArrayList<>();
        List<String[]> holds = new ArrayList<>();
        List<String> done = new ArrayList<>();
        int n = 0;
        int lapsedRefunds = 0;
        int lateFinishes = 0;
        for (Op op : ops) {
            n++;
            done.add(op.toString());
            String key = p + "k" + n;
            switch (op.kind()) {
                case 6 -> {
                    Instant now = clock.instant();
                    YearMonth m = YearMonth.from(now.atZone(ZoneOffset.UTC));
                    clock.set(switch ((int) (op.a() % 4)) {
                        case 0 -> now.plus(Duration.ofHours(1));
                        case 1 -> m.atEndOfMonth().atTime(23, 50).toInstant(ZoneOffset.UTC);
                        case 2 -> now.plus(Duration.ofDays(1));
                        default -> m.plusMonths(1).atDay(2).atTime(12, 0).toInstant(ZoneOffset.UTC);
                    });
                    continue;
                }
                default -> {
                }
            }
            String[] ids = new String[stores.size()];
            String[] outcome = new String[stores.size()];
            for (int i = 0; i < stores.size(); i++) {
                QuotaStore st = stores.get(i);
                try {
                    switch (op.kind()) {
                        case 0 -> {
                            st.grant(new PurchaseRequest(p + "pi" + n, s, op.a(), PurchaseType.PURCHASE, "card",
                                    new BigDecimal("33.00"), Currency.USD, null));
                            outcome[i] = "ok";
                        }
                        case 1 -> outcome[i] = st.consume(HoldRequest.of(s, op.a()).idempotencyKey(key).build())
                                .state().toString();
                        case 2 -> {
                            Reservation r = st.reserve(HoldRequest.of(s, op.a()).idempotencyKey(key)
                                    .ttl(op.b() % 2 == 0 ? Duration.ofMinutes(10) : Duration.ofDays(31)).build())
                                    .reservation();
                            ids[i] = r.id();
                            outcome[i] = "held";
                        }
                        case 3 -> {
                            if (holds.isEmpty()) {
                                outcome[i] = "skip";
                            } else {
                                Reservation r = st.commit(holds.get((int) (op.a() % holds.size()))[i], op.b());
                                outcome[i] = r.state() + "/" + r.actual();
                            }
                        }
                        case 4 -> {
                            if (holds.isEmpty()) {
                                outcome[i] = "skip";
                            } else {
                                outcome[i] = st.release(holds.get((int) (op.a() % holds.size()))[i]).state().toString();
                            }
                        }
                        case 5 -> {
                            if (packs.isEmpty()) {
                                outcome[i] = "skip";
                            } else {
                                Purchase r = st.refund(packs.get((int) (op.a() % packs.size())));
                                outcome[i] = r.status() + "/" + r.unrecovered();
                            }
                        }
                        default -> {
                            st.expireStale(); // the count spans the shared database: not compared
                            outcome[i] = "swept";
                        }
                    }
                } catch (QuotaException e) {
                    outcome[i] = "error " + e.code();
                }
            }
            if (!Objects.equals(outcome[0], outcome[1])) {
                throw new AssertionError("after " + done + ": the model answered " + outcome[0]
                        + ", the store under test " + outcome[1]);
            }
            if (op.kind() == 5 && outcome[0].startsWith("REFUNDED")) {
                Purchase r = stores.get(0).purchase(packs.get((int) (op.a() % packs.size()))).orElseThrow();
                if (r.month() != null && r.month().isBefore(stores.get(0).account(s).month())) {
                    lapsedRefunds++;
                }
            }
            if ((op.kind() == 3 || op.kind() == 4) && !holds.isEmpty()) {
                Reservation r = stores.get(0).reservation(holds.get((int) (op.a() % holds.size()))[0]).orElseThrow();
                if (r.month().isBefore(stores.get(0).account(s).month()) && outcome[0].startsWith("COMMITTED")) {
                    lateFinishes++;
                }
            }
            if (op.kind() == 0 && "ok".equals(outcome[0])) {
                packs.add(p + "pi" + n);
            }
            if (op.kind() == 2 && "held".equals(outcome[0])) {
                holds.add(ids);
            }
            check(stores, s, packs, done);
        }
        net.jqwik.api.statistics.Statistics.label("lapsed refunds").collect(Math.min(lapsedRefunds, 3));
        net.jqwik.api.statistics.Statistics.label("late commits").collect(Math.min(lateFinishes, 3));
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    void check(List<QuotaStore> stores, String s, List<String> packs, List<String> done) {
        List<String> shown = new ArrayList<>();
        for (QuotaStore st : stores) {
            StringBuilder all = new StringBuilder();
            for (QuotaAccount a : st.history(s, 24)) {
                long unrefunded = 0;
                long unrecovered = 0;
                for (String tx : packs) {
                    Purchase pack = st.purchase(tx).orElseThrow();
                    if (!a.month().equals(pack.month())) {
                        continue;
                    }
                    if (pack.status() == PurchaseStatus.REFUNDED) {
                        unrecovered += pack.unrecovered();
                    } else {
                        unrefunded += pack.tokens();
                    }
                }
                long consumed = a.used() + a.reserved();
                // what the month's limit holds beyond the allowance, the packs not refunded and the refunded
                // packs' tokens recorded spent: refunded tokens that lapsed unspent in a closed month
                long lapsed = a.limit() - ALLOWANCE - unrefunded - unrecovered;
                boolean latest = a.month().equals(st.account(s).month());
                // the money events and charges, as a multiset (the SQL stores list a hold's events by its number)
                all.append(st.events(s, a.month()).stream().filter(e -> e.kind() == io.tokenquota.EventKind.DEBITED
                                || e.kind() == io.tokenquota.EventKind.CREDITED || e.kind().charges())
                        .map(e -> e.kind() + ":" + e.tokens() + "/" + e.overage()).sorted().toList()).append(' ');
                all.append(a.month()).append(view(a)).append(" unrefunded ").append(unrefunded)
                        .append(" unrecovered ").append(unrecovered).append("; ");
                String why = lapsed < 0 ? "paid, unrefunded tokens taken"
                        : latest && lapsed != 0 ? "refunded tokens usable in the current month"
                        : lapsed > 0 && consumed > ALLOWANCE + unrefunded + unrecovered
                                ? "refunded tokens consumed, recorded nowhere" : null;
                if (why != null) {
                    throw new AssertionError(st.getClass().getSimpleName() + " after " + done + ": month " + a.month()
                            + " " + view(a) + " limit " + a.limit() + ": " + why + " (limit beyond allowance "
                            + ALLOWANCE + " + unrefunded packs " + unrefunded + " + unrecovered " + unrecovered + ": "
                            + lapsed + "; used + reserved " + consumed + ")");
                }
            }
            shown.add(all.toString());
        }
        if (!shown.get(0).equals(shown.get(1))) {
            throw new AssertionError("after " + done + ": the model holds " + shown.get(0) + " the store under test "
                    + shown.get(1));
        }
    }
}
