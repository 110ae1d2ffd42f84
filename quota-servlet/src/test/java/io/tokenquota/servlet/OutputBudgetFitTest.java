package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.QuotaPolicy;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The splice of {@link OutputBudgetFit}: only the budget values change, every other byte stays. */
class OutputBudgetFitTest {
    private static final RequestEstimator ESTIMATOR = new RequestEstimator(new DefaultTokenEstimator());

    private static String fit(String body, long budget) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        List<OutputBudgetFit.Span> spans = OutputBudgetFit.locate(bytes);
        assertNotNull(spans, body);
        return new String(OutputBudgetFit.splice(bytes, spans, budget), StandardCharsets.UTF_8);
    }

    @Test
    void rewritesTheTopLevelBudgetAndNothingElse() {
        String body = "{\"model\":\"gpt-4o\",  \"max_tokens\" :\t5000 ,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        assertEquals(body.replace("5000", "300"), fit(body, 300));
    }

    @Test
    void escapedAndUnicodeStringsBeforeTheFieldKeepTheirBytes() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 \\\"max_tokens\\\": 9000 \u2713 \uD83D\uDE00 caf\u00e9\"}],"
                + "\"max_tokens\":9000}";
        String expected = body.substring(0, body.lastIndexOf("9000")) + "40}";
        assertEquals(expected, fit(body, 40));
    }

    @Test
    void everyBudgetFieldTheEstimatorReadsIsLowered() {
        String body = "{\"max_tokens\":5000,\"max_completion_tokens\":\"6000\",\"max_output_tokens\":7000,"
                + "\"generationConfig\":{\"maxOutputTokens\":8000,\"candidateCount\":2},"
                + "\"options\":{\"num_predict\":-1},\"parameters\":{\"max_new_tokens\":1e30},"
                + "\"inferenceConfig\":{\"maxTokens\":Infinity},\"max_tokens\":5000}";
        assertEquals("{\"max_tokens\":300,\"max_completion_tokens\":\"300\",\"max_output_tokens\":300,"
                + "\"generationConfig\":{\"maxOutputTokens\":300,\"candidateCount\":2},"
                + "\"options\":{\"num_predict\":300},\"parameters\":{\"max_new_tokens\":300},"
                + "\"inferenceConfig\":{\"maxTokens\":300},\"max_tokens\":300}", fit(body, 300));
    }

    @Test
    void budgetsElsewhereSmallerOnesAndNonBudgetsStay() {
        // a metadata object is not a generation config; a smaller budget and a minimum of 0 already fit;
        // a maximum of 0 (the endpoint's own default) is lowered
        String body = "{\"metadata\":{\"max_tokens\":99999},\"messages\":[{\"max_tokens\":99999}],"
                + "\"min_tokens\":0,\"min_new_tokens\":10,\"max_tokens\":0,\"max_output_tokens\":900}";
        assertEquals("{\"metadata\":{\"max_tokens\":99999},\"messages\":[{\"max_tokens\":99999}],"
                + "\"min_tokens\":0,\"min_new_tokens\":10,\"max_tokens\":100,\"max_output_tokens\":100}",
                fit(body, 100));
        // every spelling an endpoint matches is lowered: Go folds case (a Kelvin sign is a k)
        assertEquals("{\"MAX_TOKENS\":100,\"max_to\u212Aens\":\"100\",\"Options\":{\"Num_Predict\":100}}",
                fit("{\"MAX_TOKENS\":900,\"max_to\u212Aens\":\"16_000\",\"Options\":{\"Num_Predict\":-1}}", 100));
        // a budget the estimator cannot read (NaN, words, null) may be read by the endpoint its own way:
        // such a body is not fitted
        assertNull(OutputBudgetFit.locate("{\"max_tokens\":900,\"n_predict\":NaN}".getBytes(StandardCharsets.UTF_8)));
        assertNull(OutputBudgetFit.locate("{\"max_tokens\":900,\"max_completion_tokens\":\"lots\"}".getBytes(StandardCharsets.UTF_8)));
        assertNull(OutputBudgetFit.locate("{\"max_tokens\":900,\"max_completion_tokens\":null}".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void theSettingsOfATopLevelInputObjectAreLoweredAsTheEstimatorReadsThem() {
        // a RunPod worker's input.sampling_params is the request's own; a budget nested deeper
        // (input.openai_input) is the estimator's alone and stays, so the body is refused above the cap
        String body = "{\"input\":{\"max_tokens\":900,\"sampling_params\":{\"max_tokens\":8000,\"n\":2},"
                + "\"openai_input\":{\"max_tokens\":30000}},\"sampling_params\":{\"max_tokens\":700}}";
        assertEquals("{\"input\":{\"max_tokens\":100,\"sampling_params\":{\"max_tokens\":100,\"n\":2},"
                + "\"openai_input\":{\"max_tokens\":30000}},\"sampling_params\":{\"max_tokens\":100}}", fit(body, 100));
        assertNull(OutputBudgetFit.locate("{\"input\":{\"sampling_params\":{\"max_tokens\":8},\"sampling_params\":{}}}"
                .getBytes(StandardCharsets.UTF_8)), "a settings object named twice in it");
        assertNull(OutputBudgetFit.locate("{\"input\":{\"options\":null,\"max_tokens\":8}}".getBytes(StandardCharsets.UTF_8)));
        // only the top-level input is the request's level
        assertEquals("{\"parameters\":{\"options\":{\"max_tokens\":8000}}}",
                fit("{\"parameters\":{\"options\":{\"max_tokens\":8000}}}", 100));
        // what only Gson reads is estimated from the JSON written of it: not spliced
        assertNull(OutputBudgetFit.locate("{max_tokens: 8000, model: gpt-4o}".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aThousandDigitBudgetIsLoweredWithoutConvertingIt() {
        String digits = "9".repeat(1_000);
        String body = "{\"max_tokens\":" + digits + ",\"prompt\":\"x\"}";
        assertEquals("{\"max_tokens\":64,\"prompt\":\"x\"}", fit(body, 64));
        assertEquals("{\"max_tokens\":\"64\",\"prompt\":\"x\"}", fit("{\"max_tokens\":\"" + digits + "\",\"prompt\":\"x\"}", 64));
        assertEquals("{\"max_tokens\":64}", fit("{\"max_tokens\":" + digits + "." + digits + "e" + digits + "}", 64));
    }

    @Test
    void theSplicedBodyIsEstimatedWithTheNewBudget() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":5000,\"n\":3}";
        RequestEstimator.Estimate before = ESTIMATOR.estimate(body.getBytes(StandardCharsets.UTF_8));
        RequestEstimator.Estimate after = ESTIMATOR.estimate(fit(body, 77).getBytes(StandardCharsets.UTF_8));
        assertEquals(5000, before.outputBudget());
        assertEquals(77, after.outputBudget());
        assertEquals(3, after.completions());
        assertEquals(before.inputTokens(), after.inputTokens());
    }

    @Test
    void aByteOrderMarkAndTrailingBytesStay() {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        byte[] json = "{\"max_tokens\":5000}\n{\"junk\":1}".getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(bom);
        body.writeBytes(json);
        List<OutputBudgetFit.Span> spans = OutputBudgetFit.locate(body.toByteArray());
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.writeBytes(bom);
        expected.writeBytes("{\"max_tokens\":12}\n{\"junk\":1}".getBytes(StandardCharsets.UTF_8));
        assertNotNull(spans);
        assertArrayEquals(expected.toByteArray(), OutputBudgetFit.splice(body.toByteArray(), spans, 12));
    }

    @Test
    void bodiesThatCannotBeSplicedSafelyAreNotLocated() {
        assertNull(OutputBudgetFit.locate(new byte[0]));
        assertNull(OutputBudgetFit.locate("[{\"max_tokens\":5000}]".getBytes(StandardCharsets.UTF_8)));
        assertNull(OutputBudgetFit.locate("{\"max_tokens\":5000".getBytes(StandardCharsets.UTF_8)));
        assertNull(OutputBudgetFit.locate("max_tokens=5000".getBytes(StandardCharsets.UTF_8)));
        // UTF-16 is read through a Reader: no byte offsets to splice at
        assertNull(OutputBudgetFit.locate("{\"max_tokens\":5000}".getBytes(StandardCharsets.UTF_16BE)));
        assertEquals(List.of(), OutputBudgetFit.locate("{\"prompt\":\"no budget\"}".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void theBuilderRefusesAMinimumNoBudgetCouldMeet() {
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().defaultAllocation(1_000).build());
        QuotaFilter.Builder b = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1"));
        assertThrows(IllegalArgumentException.class, () -> b.fitOutputBudget(0));
        b.outputBudgetCap(100).fitOutputBudget(101);
        assertThrows(IllegalStateException.class, b::build);
    }
}
