package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights.Rates;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModelWeightsTest {
    private static final Rates GPT4O = Rates.of("2.5", "1.25", "10", "10");
    private static final Rates MINI = Rates.of("0.15", "0.075", "0.6", "0.6");
    private static final Rates O3 = Rates.of("2", "0.5", "8", "8");

    private static ModelWeights table() {
        return ModelWeights.builder().model("gpt-4o*", GPT4O).model("gpt-4o-mini*", MINI).model("o3", O3)
                .defaults(Rates.of("3", "3", "15", "15")).build();
    }

    @Test
    void theMostSpecificPatternWins() {
        ModelWeights w = table();
        assertSame(O3, w.rates("o3"));
        assertSame(MINI, w.rates("gpt-4o-mini-2024-07-18"));
        assertSame(GPT4O, w.rates("gpt-4o-2024-08-06"));
        assertSame(GPT4O, w.rates("gpt-4o"));
        // an exact name does not cover longer names, a prefix does not cover shorter ones
        assertEquals(w.rates(null), w.rates("o3-mini"));
        assertEquals(w.rates(null), w.rates("gpt-4"));
        // a client cannot dodge a row by writing the name in capitals
        assertSame(MINI, w.rates("GPT-4O-MINI"));
    }

    @Test
    void anExactNameBeatsALongerPrefix() {
        ModelWeights w = ModelWeights.builder().model("gpt-4o-mini-2024-07-18*", MINI).model("gpt-4o-mini", O3).build();
        assertSame(O3, w.rates("gpt-4o-mini"));
        assertSame(MINI, w.rates("gpt-4o-mini-2024-07-18-x"));
    }

    @Test
    void unknownModelsGetTheDefaultAndWithoutOneAreUnweighted() {
        assertEquals(Rates.of("3", "3", "15", "15"), table().rates("llama-3"));
        ModelWeights plain = ModelWeights.builder().model("o3", O3).build();
        TokenUsage usage = new TokenUsage("mystery", 7, 5, 3, 2);
        assertEquals(usage.total(), plain.charge(usage));
        assertEquals(usage.total(), plain.charge(new TokenUsage(null, 7, 5, 3, 2)));
    }

    @Test
    void chargesTheExactSumRoundedUpOnce() {
        ModelWeights w = table();
        // 1000 x 2.5 + 200 x 1.25 + 300 x 10 = 5750 exactly
        assertEquals(5_750, w.charge(new TokenUsage("gpt-4o", 1_000, 200, 300, 0)));
        // 1 x 0.15 + 1 x 0.075 + 1 x 0.6 + 1 x 0.6 = 1.425 -> 2 (one rounding of the sum, not four)
        assertEquals(2, w.charge(new TokenUsage("gpt-4o-mini", 1, 1, 1, 1)));
        // 7 x 0.075 = 0.525 -> 1: a fraction of a unit is never dropped
        assertEquals(1, w.charge(new TokenUsage("gpt-4o-mini", 0, 7, 0, 0)));
        assertEquals(0, w.charge(new TokenUsage("gpt-4o-mini", 0, 0, 0, 0)));
        // reasoning is weighed by its own multiplier
        ModelWeights thinking = ModelWeights.builder().model("r", Rates.of("1", "0.1", "2", "7")).build();
        assertEquals(10 + 1 + 40 + 70, thinking.charge(new TokenUsage("r", 10, 10, 20, 10)));
    }

    @Test
    void aZeroMultiplierMakesAKindFree() {
        ModelWeights w = ModelWeights.builder().model("free-cache", Rates.of("1", "0", "1", "1")).build();
        assertEquals(5, w.charge(new TokenUsage("free-cache", 2, 1_000_000, 3, 0)));
    }

    @Test
    void holdsAtTheLargerRateOfEachSide() {
        ModelWeights w = ModelWeights.builder().model("m", Rates.of("1", "3", "2", "5")).build();
        // input at max(1, 3), output at max(2, 5): a call within its estimate is never charged more
        assertEquals(100 * 3 + 10 * 5, w.hold("m", 100, 10));
        assertEquals(3, ModelWeights.builder().model("x", Rates.of("0.5", "0.5", "0.5", "0.5")).build()
                .hold("x", 3, 2));
    }

    @Test
    void overflowPastTheLedgersMaximumIsItsOwnErrorNeverAWrap() {
        ModelWeights w = ModelWeights.builder().model("big", Rates.of("1000000", "1000000", "1000000", "1000000"))
                .build();
        QuotaException e = assertThrows(QuotaException.class,
                () -> w.charge(new TokenUsage("big", Limits.MAX_TOKENS, 0, 0, 0)));
        assertEquals(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW, e.code());
        assertTrue(e.getMessage().contains("big"), e.getMessage());
        assertEquals(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW,
                assertThrows(QuotaException.class, () -> w.hold("big", 1_000_000_000, 1)).code());
        // exactly the maximum is still a charge; one unit more is not
        ModelWeights unit = ModelWeights.builder().build();
        assertEquals(Limits.MAX_TOKENS, unit.charge(new TokenUsage(null, Limits.MAX_TOKENS - 3, 1, 1, 1)));
        assertEquals(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW, assertThrows(QuotaException.class,
                () -> unit.charge(new TokenUsage(null, Limits.MAX_TOKENS, 1, 0, 0))).code());
        // past 64 bits in the scaled sum but within the maximum: computed exactly, not refused
        assertEquals(40_000_000_000L, unit.charge(new TokenUsage(null, 10_000_000_000L, 10_000_000_000L,
                10_000_000_000L, 10_000_000_000L)));
    }

    @Test
    void badTablesFailWhenBuiltNamingTheEntry() {
        assertThrows(IllegalArgumentException.class, () -> Rates.of("-1", "1", "1", "1"));
        assertThrows(IllegalArgumentException.class, () -> Rates.of("abc", "1", "1", "1"));
        assertThrows(IllegalArgumentException.class, () -> Rates.of("NaN", "1", "1", "1"));
        assertThrows(IllegalArgumentException.class, () -> Rates.of("1000001", "1", "1", "1"));
        assertThrows(IllegalArgumentException.class, () -> Rates.of("0.0000000001", "1", "1", "1"));
        assertThrows(IllegalArgumentException.class, () -> new Rates(BigDecimal.ONE, null, BigDecimal.ONE, BigDecimal.ONE));
        ModelWeights.Builder b = ModelWeights.builder().model("gpt-4o*", GPT4O);
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class, () -> b.model("GPT-4O*", MINI));
        assertTrue(dup.getMessage().contains("twice"), dup.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ModelWeights.builder().model("gpt-*-mini", MINI));
        assertThrows(IllegalArgumentException.class, () -> ModelWeights.builder().model("", MINI));
        assertThrows(IllegalArgumentException.class, () -> ModelWeights.builder().model("gpt 4", MINI));
        assertThrows(IllegalArgumentException.class, () -> ModelWeights.builder().defaults(GPT4O).model("*", MINI));
    }

    @Test
    void readsCsvWithHeaderCommentsAndDefault() throws IOException {
        ModelWeights w = ModelWeights.fromCsv(new StringReader("""
                \uFEFFmodel,input,cached_input,output,reasoning
                # relative weights, not prices

                gpt-4o*, 2.5, 1.25, 10, 10
                default,3,3,15,15
                """), "weights.csv");
        assertEquals(GPT4O, w.rates("gpt-4o"));
        assertEquals(Rates.of("3", "3", "15", "15"), w.rates("other"));
        assertEquals(Map.of("gpt-4o*", GPT4O, "*", Rates.of("3", "3", "15", "15")), w.table());
    }

    @Test
    void badCsvNamesTheLine() {
        assertLine("weights.csv line 3", "model,input,cached_input,output,reasoning\na,1,1,1,1\nb,1,-2,1,1\n");
        assertLine("weights.csv line 2", "a,1,1,1,1\nb,1,1,1\n");
        assertLine("weights.csv line 2", "a,1,1,1,1\na,1,1,1,1\n");
        assertLine("weights.csv line 1", "a,1,one,1,1\n");
        assertLine("weights.csv line 1", "\"a,b\",1,1,1,1\n");
        assertLine("weights.csv line 2", "*,1,1,1,1\ndefault,1,1,1,1\n");
    }

    private static void assertLine(String where, String csv) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelWeights.fromCsv(new StringReader(csv), "weights.csv"));
        assertTrue(e.getMessage().startsWith(where), e.getMessage());
    }

    @Test
    void readsPropertiesRowsAndNamesTheBadEntry() {
        Map<String, String> rows = new LinkedHashMap<>();
        rows.put("gpt-4o*", "2.5,1.25,10,10");
        rows.put("default", "1, 1, 1, 1");
        ModelWeights w = ModelWeights.fromMap(rows, "quota.weights.models");
        assertEquals(GPT4O, w.rates("gpt-4o-x"));
        rows.put("o3", "2,0.5,8");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelWeights.fromMap(rows, "quota.weights.models"));
        assertTrue(e.getMessage().startsWith("quota.weights.models, entry 'o3'"), e.getMessage());
    }

    @Test
    void usageIsValidated() {
        assertEquals(ErrorCode.INVALID_AMOUNT, assertThrows(QuotaException.class,
                () -> new TokenUsage("m", -1, 0, 0, 0)).code());
        assertEquals(ErrorCode.INVALID_AMOUNT, assertThrows(QuotaException.class,
                () -> new TokenUsage("m", 0, 0, Limits.MAX_TOKENS + 1, 0)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(QuotaException.class,
                () -> new TokenUsage(" ", 0, 0, 0, 0)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(QuotaException.class,
                () -> new TokenUsage("a\u0000b", 0, 0, 0, 0)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(QuotaException.class,
                () -> new TokenUsage("m".repeat(Limits.MAX_MODEL_LENGTH + 1), 0, 0, 0, 0)).code());
    }

    /**
     * An exact row covers its model's snapshots as a prefix of its length (rounds 435, 437, 439): OpenAI answers
     * {@code o3} as {@code o3-2025-04-16}, Gemini {@code gemini-1.5-pro} as {@code gemini-1.5-pro-002}, and Vertex AI
     * names a version after an {@code @} ({@code claude-sonnet-4@20250514}).
     */
    @Test
    void anExactRowCoversItsModelsSnapshotsAsAPrefixOfItsLength() {
        ModelWeights.Rates o3 = ModelWeights.Rates.parse("2,0.5,8,8");
        ModelWeights.Rates o3Pro = ModelWeights.Rates.parse("20,20,80,80");
        ModelWeights.Rates gpt4o = ModelWeights.Rates.parse("5,5,15,15");
        ModelWeights.Rates gpt4oAugust = ModelWeights.Rates.parse("2.5,1.25,10,10");
        ModelWeights.Rates latePro = ModelWeights.Rates.parse("30,30,90,90");
        ModelWeights w = ModelWeights.builder()
                .model("o3*", o3)
                .model("o3-pro", o3Pro)
                .model("o3-pro-2026*", latePro)
                .model("gpt-4o", gpt4o)
                .model("gpt-4o-2024-08-06", gpt4oAugust)
                .model("gemini-1.5-pro", ModelWeights.Rates.parse("1.25,0.3125,5,5"))
                .build();
        assertEquals(o3Pro, w.rates("o3-pro-2025-06-10"), "the exact row o3-pro beats the shorter prefix o3*");
        assertEquals(o3Pro, w.rates("O3-PRO-20250610"), "a compact date, any case");
        assertEquals(latePro, w.rates("o3-pro-2026-01-15"), "a longer prefix beats the snapshot's model");
        assertEquals(gpt4o, w.rates("gpt-4o-2024-05-13"), "a snapshot without a row: its model's");
        assertEquals(gpt4oAugust, w.rates("gpt-4o-2024-08-06"), "a snapshot's own row");
        assertEquals(ModelWeights.Rates.parse("1.25,0.3125,5,5"), w.rates("gemini-1.5-pro-002"), "a version number");
        assertEquals(o3, w.rates("o3-mini-2025-01-31"), "another model: its own patterns (o3*), no snapshot of o3");
        assertEquals(ModelWeights.Rates.ONE, w.rates("gemini-1.5-pro-exp-0827"), "a name after the model is another model");
        assertEquals(ModelWeights.Rates.ONE, w.rates("gemini-1.5-pro-latest"), "an alias needs a row of its own");
        // Vertex AI names a model's version after an @ (round 557: held at the default by that name, charged at the
        // row by the answer's dated name)
        assertEquals(gpt4o, w.rates("gpt-4o@2024-05-13"), "a Vertex version: its model's row");
        assertEquals(o3Pro, w.rates("O3-PRO@20250610"), "a Vertex version, any case");
        assertEquals(latePro, w.rates("o3-pro-2026@001"), "a longer prefix still beats it");
        assertEquals(o3, w.rates("o3-mini@20250131"), "another model's version: its own patterns");
        assertEquals(ModelWeights.Rates.ONE, w.rates("gpt-4o-mini@2024-07-18"), "another model without a row: the default");
    }

    /**
     * Names are remembered once resolved (most calls name a few models), at most a bound of them: a client
     * sending thousands of names gets each one's own rates, before the bound, past it and when asked again.
     */
    @Test
    void everyNameGetsItsOwnRatesWhetherRememberedOrNot() {
        ModelWeights.Rates gpt4o = ModelWeights.Rates.parse("5,5,15,15");
        ModelWeights.Rates mini = ModelWeights.Rates.parse("0.15,0.075,0.6,0.6");
        ModelWeights w = ModelWeights.builder().model("gpt-4o", gpt4o).model("gpt-4o-mini*", mini).build();
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < 3_000; i++) {
                String snapshot = String.format(java.util.Locale.ROOT, "GPT-4o-%08d", 20_240_000 + i);
                assertEquals(gpt4o, w.rates(snapshot), snapshot + ", pass " + pass);
                assertEquals(mini, w.rates("gpt-4o-mini-" + i), "gpt-4o-mini-" + i + ", pass " + pass);
                assertEquals(ModelWeights.Rates.ONE, w.rates("unknown-" + i), "unknown-" + i + ", pass " + pass);
            }
        }
        assertEquals(2_000 * 5 + 1_000 * 15, w.hold("gpt-4o-20240101", 2_000, 1_000),
                "the hold weighs by the remembered rates");
    }
}
