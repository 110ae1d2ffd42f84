package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights.Rates;
import java.math.BigDecimal;
import java.math.RoundingMode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** The weighing arithmetic against an independent BigDecimal computation, over the whole range of counts and rates. */
class ModelWeightsPropertiesTest {

    @Provide
    Arbitrary<Rates> rates() {
        Arbitrary<BigDecimal> m = Combinators.combine(Arbitraries.longs().between(0, 1_000_000),
                Arbitraries.longs().between(0, 999_999_999), Arbitraries.integers().between(0, 9))
                .as((whole, fraction, scale) -> {
                    BigDecimal f = BigDecimal.valueOf(fraction % (long) Math.pow(10, scale), scale);
                    BigDecimal v = BigDecimal.valueOf(whole).add(f);
                    return v.compareTo(ModelWeights.MAX_MULTIPLIER) > 0 ? ModelWeights.MAX_MULTIPLIER : v;
                });
        return Combinators.combine(m, m, m, m).as(Rates::new);
    }

    @Provide
    Arbitrary<Long> counts() {
        return Arbitraries.oneOf(Arbitraries.longs().between(0, 100_000),
                Arbitraries.longs().between(0, Limits.MAX_TOKENS), Arbitraries.of(0L, 1L, Limits.MAX_TOKENS));
    }

    @Property(tries = 2000)
    void aChargeIsTheExactSumRoundedUpOrTheOverflowError(@ForAll("rates") Rates r, @ForAll("counts") long in,
                                                          @ForAll("counts") long cached, @ForAll("counts") long out,
                                                          @ForAll("counts") long reasoning) {
        ModelWeights w = ModelWeights.builder().model("m*", r).build();
        BigDecimal exact = r.input().multiply(BigDecimal.valueOf(in))
                .add(r.cachedInput().multiply(BigDecimal.valueOf(cached)))
                .add(r.output().multiply(BigDecimal.valueOf(out)))
                .add(r.reasoning().multiply(BigDecimal.valueOf(reasoning)));
        BigDecimal expected = exact.setScale(0, RoundingMode.CEILING);
        TokenUsage usage = new TokenUsage("m-1", in, cached, out, reasoning);
        if (expected.compareTo(BigDecimal.valueOf(Limits.MAX_TOKENS)) > 0) {
            QuotaException e = org.junit.jupiter.api.Assertions.assertThrows(QuotaException.class, () -> w.charge(usage));
            assertEquals(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW, e.code());
        } else {
            long charge = w.charge(usage);
            assertEquals(expected.longValueExact(), charge);
            // never under the exact amount, and less than one unit over it
            assertTrue(BigDecimal.valueOf(charge).compareTo(exact) >= 0);
            assertTrue(BigDecimal.valueOf(charge).subtract(exact).compareTo(BigDecimal.ONE) < 0);
        }
    }

    @Property(tries = 1000)
    void aCallWithinItsEstimateIsChargedNoMoreThanItsHold(@ForAll("rates") Rates r,
                                                          @ForAll("smallCounts") long in, @ForAll("smallCounts") long out,
                                                          @ForAll("smallCounts") long cachedShare,
                                                          @ForAll("smallCounts") long reasoningShare) {
        ModelWeights w = ModelWeights.builder().defaults(r).build();
        long cached = Math.min(in, cachedShare);
        long reasoning = Math.min(out, reasoningShare);
        long hold;
        try {
            hold = w.hold(null, in, out);
        } catch (QuotaException overflow) {
            // a hold past the maximum is refused outright; nothing to compare
            assertEquals(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW, overflow.code());
            return;
        }
        assertTrue(w.charge(new TokenUsage(null, in - cached, cached, out - reasoning, reasoning)) <= hold);
    }

    @Provide
    Arbitrary<Long> smallCounts() {
        return Arbitraries.longs().between(0, 1_000_000_000L);
    }

    @Property(tries = 500)
    void unitWeightsChargeTheTotal(@ForAll("counts") long in, @ForAll("counts") long cached,
                                   @ForAll("counts") long out, @ForAll("counts") long reasoning) {
        TokenUsage usage = new TokenUsage("any", in, cached, out, reasoning);
        ModelWeights unit = ModelWeights.builder().build();
        if (usage.total() > Limits.MAX_TOKENS) {
            assertEquals(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW,
                    org.junit.jupiter.api.Assertions.assertThrows(QuotaException.class, () -> unit.charge(usage)).code());
        } else {
            assertEquals(usage.total(), unit.charge(usage));
        }
    }
}
