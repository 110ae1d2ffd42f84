package io.tokenquota.servlet.breakit557;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 557 (issue 14, per-model weights): a hold weighed at the table's default for a spelling of a model
 * the answer is then charged at that model's row.
 *
 * <p>Vertex AI serves Anthropic's models at {@code .../publishers/anthropic/models/{model}@{version}:rawPredict}
 * (Vertex AI docs, "Use Anthropic's Claude models": {@code claude-sonnet-4@20250514}); the body names no model, and
 * the answer is Anthropic's Messages object, {@code "model": "claude-sonnet-4-20250514"}. Under a table with the
 * exact row {@code claude-sonnet-4} (3 per input token, 15 per output; default 1), the path's snapshot spelling
 * {@code @20250514} matches no row: the hold is weighed at the default (about 1,000 for max_tokens 1,000), the answer
 * at the row (10 x 3 + 1,000 x 15 = 15,030; the usage within the estimate of 22 in, 1,000 out). The same call spelt with a dash ({@code claude-sonnet-4-20250514},
 * the snapshot rule of rounds 435/437) is held at the row. So a client picks its price by spelling:
 * <ul>
 * <li>CHARGE_ACTUAL: a subject with 5,000 left is served a call costing 15,030 (held 1,022; the dash spelling
 * is refused 429);</li>
 * <li>CAP_AT_HOLD: the call is charged its default-weighted hold (1,022) for 15,030 of usage within its
 * estimate (ModelWeights.hold: "a call using no more than its estimate is charged no more than its hold"; here
 * the reverse).</li>
 * </ul>
 */
abstract class AbstractRound557 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static final ModelWeights TABLE = ModelWeights.builder()
            .model("claude-sonnet-4", ModelWeights.Rates.of("3", "0.3", "15", "15"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    /** Within the filter's estimate of the prompt (22 tokens), so CAP_AT_HOLD caps nothing of an honest hold. */
    static final long PROMPT = 10;
    static final long COMPLETION = 1_000;
    /** The answer at claude-sonnet-4's row: 10 x 3 + 1,000 x 15. */
    static final long AT_ROW = 30 + 15_000;

    /** A CAP_AT_HOLD ledger for the /cap/ filter. */
    final InMemoryQuotaStore capped = new InMemoryQuotaStore(QuotaPolicy.builder().defaultAllocation(100_000)
            .overrunPolicy(OverrunPolicy.CAP_AT_HOLD).build());

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(TABLE).build();
        QuotaFilter cap = filterFor(capped, "/cap/").modelWeights(TABLE).build();
        return Deployment.create()
                .filter("weighted", weighted, "/ai/*")
                .filter("capped", cap, "/cap/*")
                .servlet("vertex", new VertexClaude(), "/ai/vertex/*")
                .servlet("vertex-cap", new VertexClaude(), "/cap/vertex/*");
    }

    /** Vertex AI's rawPredict for Claude: Anthropic's Messages answer naming the snapshot with a dash. */
    class VertexClaude extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (!req.getPathInfo().endsWith(":rawPredict") || !body.has("messages")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"msg_vrtx_01ABC\",\"type\":\"message\",\"role\":\"assistant\","
                    + "\"model\":\"claude-sonnet-4-20250514\",\"content\":[{\"type\":\"text\",\"text\":\""
                    + "The clause allows thirty days' notice. ".repeat(60) + "\"}],\"stop_reason\":\"end_turn\","
                    + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + PROMPT + ",\"cache_creation_input_tokens\":0,"
                    + "\"cache_read_input_tokens\":0,\"output_tokens\":" + COMPLETION + "}}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String MESSAGES = "{\"anthropic_version\":\"vertex-2023-10-16\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise the termination clauses of the attached contract.\"}],\"max_tokens\":1000}";

    HttpResponse<String> vertex(String prefix, String s, String model) {
        return TestHttp.postJson(container.uri(prefix + "vertex/v1/projects/p1/locations/us-east5/publishers/anthropic/models/"
                + model + ":rawPredict"), s, MESSAGES);
    }

    /** Control: the dash spelling is held at the row, so a subject with 5,000 left is refused (its hold, 22 x 3 + 1,000 x 15 = 15,066, is no fit). */
    @Test
    void aDashSnapshotIsHeldAtItsRowAndRefusedPastTheBalance() {
        String s = subject();
        store.setPlan(s, 5_000);
        HttpResponse<String> r = vertex("/ai/", s, "claude-sonnet-4-20250514");
        assertEquals(429, r.statusCode(), r.body());
        assertEquals(0, calls.of(s));
    }

    /** Finding: Vertex's @ spelling of the same snapshot is held at the default: served, 15,030 on a 5,000 balance. */
    @Test
    void aVertexSnapshotIsHeldAtItsRowAndRefusedPastTheBalance() {
        String s = subject();
        store.setPlan(s, 5_000);
        HttpResponse<String> r = vertex("/ai/", s, "claude-sonnet-4@20250514");
        long used = r.statusCode() == 200 ? settled(s).used() : 0;
        assertEquals(429, r.statusCode(), kind() + ": claude-sonnet-4@20250514 held at the default, served and charged "
                + used + " on a 5,000 balance; " + ledger(s));
    }

    /** Control: CAP_AT_HOLD, the dash spelling: held at the row, charged the row (15,030). */
    @Test
    void underCapAtHoldADashSnapshotIsChargedAtItsRow() {
        String s = subject();
        HttpResponse<String> r = vertex("/cap/", s, "claude-sonnet-4-20250514");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(AT_ROW, io.tokenquota.servlet.testing.Ledgers.settled(capped, s).used());
    }

    /** Finding: CAP_AT_HOLD, the @ spelling: charged its default-weighted hold, not 15,030. */
    @Test
    void underCapAtHoldAVertexSnapshotIsChargedAtItsRow() {
        String s = subject();
        HttpResponse<String> r = vertex("/cap/", s, "claude-sonnet-4@20250514");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(AT_ROW, io.tokenquota.servlet.testing.Ledgers.settled(capped, s).used(), kind()
                + ": the usage (10 in, 1,000 out, within the estimate) at claude-sonnet-4's row; "
                + capped.events(s, capped.policy().currentMonth()));
    }
}
