package io.tokenquota.servlet.breakit439;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Round 439 of issue 11: the snapshot rule of rounds 435 / 437 (Weighing.names: an answer whose names no row
 * covers, naming a snapshot of a model the request named that a row covers, is charged at that model's row).
 *
 * <p>Names and prices are OpenAI's: the models page lists for o3 the alias {@code o3} and the snapshot
 * {@code o3-2025-04-16}, for o3-pro the alias {@code o3-pro} and the snapshot {@code o3-pro-2025-06-10}; both can be
 * called by either name, and the Responses object's {@code model} is the snapshot that ran (OpenAI API reference,
 * "The response object", {@code model}; the reference's own example answers {@code "model": "gpt-4.1"} with
 * {@code "gpt-4.1-2025-04-14"}). Pricing page (June 2025): o3 $2 input / $0.50 cached / $8 output, o3-pro $20 input /
 * $80 output (no cached rate: cached at the input rate). o3-pro runs in the Responses API only (models page).
 *
 * <p>Two sides:
 * <ul>
 * <li>The demo's own table (quota-examples model-weights.csv) prices o3 with a prefix row {@code o3*}. An operator
 * adding o3-pro writes the README's exact-name row, {@code o3-pro} (README, Patterns: "An exact name ({@code o3}) or a
 * prefix"). An o3-pro call, held at o3-pro's rates, answered as OpenAI answers it ({@code o3-pro-2025-06-10}), is
 * charged at {@code o3*}: the prefix row "covers" the answer's name, so the snapshot rule never runs, though the
 * table's most specific row for the model that ran is {@code o3-pro}. Without the {@code o3*} row the same call is
 * charged at o3-pro's row: adding a row for a cheaper model makes the dear one ten times cheaper.</li>
 * <li>Under the README's exact row {@code o3}, a client naming the alias {@code o3} is charged at o3's row (round
 * 435), but one naming the snapshot {@code o3-2025-04-16} itself (the same model, the same answer) is charged the
 * default: the client chooses its price by the name it sends.</li>
 * </ul>
 */
abstract class AbstractRound439 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /** The demo table's o3 prefix row (model-weights.csv: {@code o3*,2,0.5,8,8}) and an exact o3-pro row at its price. */
    static final ModelWeights DEMO_WITH_O3_PRO = ModelWeights.builder()
            .model("o3*", ModelWeights.Rates.of("2", "0.5", "8", "8"))
            .model("o3-pro", ModelWeights.Rates.of("20", "20", "80", "80"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    /** The README's exact rows: {@code o3}, and {@code o3-pro} at its price. */
    static final ModelWeights EXACT = ModelWeights.builder()
            .model("o3", ModelWeights.Rates.of("2", "0.5", "8", "8"))
            .model("o3-pro", ModelWeights.Rates.of("20", "20", "80", "80"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    static final long INPUT = 100;
    static final long OUTPUT = 100;
    static final long REASONING = 60;
    /** At o3-pro's row: 100 x 20 + 40 x 80 + 60 x 80. */
    static final long AT_O3_PRO = 2_000 + 3_200 + 4_800;
    /** At o3's row: 100 x 2 + 40 x 8 + 60 x 8. */
    static final long AT_O3 = 200 + 320 + 480;

    /** OpenAI's alias -> snapshot (models page). */
    static final Map<String, String> SNAPSHOTS = Map.of("o3", "o3-2025-04-16", "o3-pro", "o3-pro-2025-06-10");

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(DEMO_WITH_O3_PRO).modelWeights("/ai/exact/", EXACT).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("responses", new Responses(), "/ai/*");
    }

    /**
     * A relay of OpenAI's {@code POST /v1/responses} (API reference, "Create a model response"): the response object
     * ({@link ResponsesApi#response}) with {@code model} the snapshot the alias ran as ({@code x-answer: snapshot}),
     * or the name the request sent (a snapshot named is the snapshot that runs), a reasoning model's usage:
     * {@code input_tokens}, {@code input_tokens_details.cached_tokens}, {@code output_tokens},
     * {@code output_tokens_details.reasoning_tokens}, {@code total_tokens}.
     */
    class Responses extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (!req.getPathInfo().endsWith("/v1/responses") || !body.has("input")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String asked = body.get("model").asText();
            String model = "snapshot".equals(req.getHeader("x-answer")) ? SNAPSHOTS.getOrDefault(asked, asked) : asked;
            String usage = "{\"input_tokens\":" + INPUT + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                    + "\"output_tokens\":" + OUTPUT + ",\"output_tokens_details\":{\"reasoning_tokens\":" + REASONING
                    + "},\"total_tokens\":" + (INPUT + OUTPUT) + "}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(ResponsesApi.response("resp_68487e3a4b6c8191a3b8e5f0d2c1b7a9", "completed",
                            "\"error\":null,\"incomplete_details\":null,\"instructions\":null,\"max_output_tokens\":150,",
                            model, usage, "The clause allows thirty days' notice.")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A Responses request (API reference): {@code model}, {@code input}, {@code max_output_tokens}, {@code reasoning.effort}. */
    static String request(String model) {
        return "{\"model\":\"" + model + "\",\"input\":\"Summarise the termination clauses of the attached contract.\","
                + "\"max_output_tokens\":150,\"reasoning\":{\"effort\":\"high\"}}";
    }

    long call(String path, String s, String model, String answer) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, request(model), "x-answer", answer);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: under the exact rows alone, o3-pro answered as its snapshot o3-pro-2025-06-10 is charged at o3-pro's row. */
    @Test
    void anO3ProCallAnsweredAsItsSnapshotUnderExactRowsIsChargedAtO3ProsRow() {
        String s = subject();
        assertEquals(AT_O3_PRO, call("/ai/exact/v1/responses", s, "o3-pro", "snapshot"), kind() + ": " + ledger(s));
    }

    /** Control: under the demo table with the o3-pro row, o3-pro answered under the name it was asked by: o3-pro's row. */
    @Test
    void anO3ProCallAnsweredAsO3ProUnderTheDemoTableIsChargedAtO3ProsRow() {
        String s = subject();
        assertEquals(AT_O3_PRO, call("/ai/v1/responses", s, "o3-pro", "echo"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: the same o3-pro call answered as OpenAI answers it, {@code "model": "o3-pro-2025-06-10"}, under the demo's
     * {@code o3*} row plus an exact {@code o3-pro} row: held at o3-pro's rates, charged at o3's (1,000 for 10,000).
     */
    @Test
    void anO3ProCallAnsweredAsItsSnapshotBesideTheDemosO3PrefixIsChargedAtO3ProsRow() {
        String s = subject();
        assertEquals(AT_O3_PRO, call("/ai/v1/responses", s, "o3-pro", "snapshot"), kind()
                + ": the request named o3-pro (exact row 20 / 80), OpenAI answered o3-pro-2025-06-10, which the shorter"
                + " prefix row o3* (2 / 8) matches; " + ledger(s));
    }

    /** Control (round 435): the alias o3 answered as its snapshot o3-2025-04-16 is charged at o3's exact row. */
    @Test
    void anO3CallAnsweredAsItsSnapshotIsChargedAtO3sRow() {
        String s = subject();
        assertEquals(AT_O3, call("/ai/exact/v1/responses", s, "o3", "snapshot"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: a client naming the snapshot o3-2025-04-16 itself (OpenAI's models page lists it as o3's snapshot; the
     * answer names it as the control's does) is charged the default, 200 for 1,000: the request chooses its price.
     */
    @Test
    void aCallNamingO3sSnapshotIsChargedAtO3sRow() {
        String s = subject();
        assertEquals(AT_O3, call("/ai/exact/v1/responses", s, "o3-2025-04-16", "echo"), kind()
                + ": the request and the answer named o3-2025-04-16, o3's snapshot (exact row o3: 2 / 8), as the control's"
                + " answer does; " + ledger(s));
    }
}
