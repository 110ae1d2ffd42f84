package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.TokenUsage;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Weighted charges through a store: random sequences of calls of random models against a random
 * table, each held at {@link ModelWeights#hold} and then committed at {@link ModelWeights#charge} with
 * its usage, released, or consumed in one step. Afterwards: every charge event's amount is the exact
 * decimal sum of count times multiplier rounded up (computed here independently, in BigDecimal), its
 * usage is the call's; the account is conserved ({@code used} is the sum of the charge events,
 * {@code reserved} the open holds, {@code available = limit - used - reserved}); and the per-model
 * report sums the same raw counts and charges. Subclass it and implement {@link #newStore}.
 */
public abstract class WeightedChargeProperties {
    private static final String[] MODELS = {"gpt-4o", "gpt-4o-mini-2024", "o3", "claude-sonnet-4", "GPT-4O-X", null,
        "unknown-model"};

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    /** One call: a model, its estimate (input, output), its usage by kind, and how it ends. */
    record Call(String model, long estimateIn, long estimateOut, long input, long cached, long output, long reasoning,
                int ending) {
    }

    @Provide
    Arbitrary<Rates> rates() {
        Arbitrary<BigDecimal> m = Combinators.combine(Arbitraries.integers().between(0, 20),
                Arbitraries.integers().between(0, 999), Arbitraries.integers().between(0, 3))
                .as((whole, milli, scale) -> BigDecimal.valueOf(whole).add(BigDecimal.valueOf(milli % (int) Math.pow(10,
                        scale), scale)));
        return Combinators.combine(m, m, m, m).as(Rates::new);
    }

    @Provide
    Arbitrary<List<Call>> calls() {
        Arbitrary<Long> small = Arbitraries.longs().between(0, 5_000);
        Arbitrary<Call> call = Combinators.combine(Arbitraries.of(MODELS).injectNull(0.05), small, small, small, small,
                small, small, Arbitraries.integers().between(0, 3)).as(Call::new);
        return call.list().ofMinSize(1).ofMaxSize(25);
    }

    @Property(tries = 60)
    void weightedChargesAreExactAndTheAccountIsConserved(@ForAll("rates") Rates a, @ForAll("rates") Rates b,
                                                         @ForAll("rates") Rates fallback,
                                                         @ForAll("calls") List<Call> calls,
                                                         @ForAll boolean capAtHold) {
        ModelWeights weights = ModelWeights.builder().model("gpt-4o*", a).model("o3", b).defaults(fallback).build();
        QuotaStore store = newStore(QuotaPolicy.builder().defaultAllocation(2_000_000)
                .overrunPolicy(capAtHold ? OverrunPolicy.CAP_AT_HOLD : OverrunPolicy.CHARGE_ACTUAL).build());
        String subject = "p" + UUID.randomUUID().toString().substring(0, 18);
        YearMonth month = store.account(subject).month();
        Map<String, TokenUsage> usageOf = new HashMap<>();
        Map<String, Long> heldOf = new HashMap<>();
        List<Reservation> open = new ArrayList<>();
        for (Call c : calls) {
            TokenUsage usage = new TokenUsage(c.model(), c.input(), c.cached(), c.output(), c.reasoning());
            long charge = weights.charge(usage);
            assertEquals(exact(weights.rates(c.model()), usage), charge);
            try {
                if (c.ending() == 3) {
                    if (charge > 0) {
                        Reservation r = store.consume(HoldRequest.of(subject, charge).usage(usage).build());
                        usageOf.put(r.id(), usage);
                        heldOf.put(r.id(), charge);
                    }
                    continue;
                }
                long hold = Math.max(1, weights.hold(c.model(), c.estimateIn(), c.estimateOut()));
                Reservation r = store.reserve(subject, hold, null);
                heldOf.put(r.id(), hold);
                if (c.ending() == 0) {
                    store.commit(r.id(), charge, usage);
                    usageOf.put(r.id(), usage);
                } else if (c.ending() == 1) {
                    store.release(r.id());
                } else {
                    open.add(r);
                }
            } catch (QuotaExceededException refused) {
                // out of tokens: the refusal changed nothing, which the sums below check
            }
        }
        List<LedgerEvent> charges = store.events(subject, month).stream().filter(e -> e.kind().charges()).toList();
        long used = 0;
        for (LedgerEvent e : charges) {
            TokenUsage usage = usageOf.get(e.reservationId());
            assertEquals(usage, e.usage(), "the usage kept on " + e);
            long full = weights.charge(usage);
            long held = heldOf.get(e.reservationId());
            long expected = capAtHold && e.overage() > 0 && !isConsume(store, e) ? held : full;
            assertEquals(expected, e.tokens(), "the charge of " + e);
            assertEquals(full > held && !isConsume(store, e) ? full - held : 0, e.overage());
            used += e.tokens();
        }
        QuotaAccount account = store.account(subject);
        assertEquals(used, account.used());
        assertEquals(open.stream().mapToLong(Reservation::held).sum(), account.reserved());
        assertEquals(account.limit() - account.used() - account.reserved(), account.available());
        assertTrue(account.available() >= 0 || !capAtHold, "no overdraft under CAP_AT_HOLD");

        List<ModelUsage> report = store.modelUsage(subject, month);
        assertEquals(used, report.stream().mapToLong(ModelUsage::charged).sum());
        assertEquals(charges.size(), report.stream().mapToLong(ModelUsage::calls).sum());
        Map<String, long[]> expected = new HashMap<>();
        for (LedgerEvent e : charges) {
            long[] s = expected.computeIfAbsent(e.usage().model(), k -> new long[5]);
            s[0] += e.usage().input();
            s[1] += e.usage().cachedInput();
            s[2] += e.usage().output();
            s[3] += e.usage().reasoning();
            s[4] += e.tokens();
        }
        assertEquals(expected.size(), report.size());
        for (ModelUsage m : report) {
            long[] s = expected.get(m.model());
            assertEquals(List.of(s[0], s[1], s[2], s[3], s[4]),
                    List.of(m.input(), m.cachedInput(), m.output(), m.reasoning(), m.charged()), "model " + m.model());
        }
        open.forEach(r -> store.release(r.id()));
        assertEquals(0, store.account(subject).reserved());
    }

    private static boolean isConsume(QuotaStore store, LedgerEvent e) {
        return store.reservation(e.reservationId()).map(r -> r.expiresAt().equals(r.createdAt())).orElse(true);
    }

    /** count x multiplier summed over the kinds, exactly, then rounded up once. */
    private static long exact(Rates r, TokenUsage u) {
        return r.input().multiply(BigDecimal.valueOf(u.input()))
                .add(r.cachedInput().multiply(BigDecimal.valueOf(u.cachedInput())))
                .add(r.output().multiply(BigDecimal.valueOf(u.output())))
                .add(r.reasoning().multiply(BigDecimal.valueOf(u.reasoning())))
                .setScale(0, RoundingMode.CEILING).longValueExact();
    }
}
