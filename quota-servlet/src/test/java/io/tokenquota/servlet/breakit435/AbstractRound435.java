package io.tokenquota.servlet.breakit435;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
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
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Round 435 of issue 11: per-model weights meet a model <em>alias</em> and its dated snapshot.
 *
 * <p>The README ("Per-model weights", Patterns) offers two kinds of row: "An exact name ({@code o3}) or a
 * prefix ending in {@code *}". OpenAI's model names without a date are aliases of a dated snapshot, and the
 * chat completion object's {@code model} is "the model used for the chat completion", i.e. the snapshot
 * the alias resolved to: OpenAI API reference, "Create chat completion", example request
 * {@code "model": "gpt-4.1"} answered with {@code "model": "gpt-4.1-2025-04-14"}; OpenAI's models page for
 * o3: alias {@code o3}, snapshot {@code o3-2025-04-16}. The filter charges "the answer's usage by kind weighed
 * for the model the answer names", and the snapshot name matches no exact {@code o3} row: the o3 call the
 * request named (and was held for at o3's rates) is charged at the table's default.
 */
abstract class AbstractRound435 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /** The README's exact-name row, {@code o3}, at the demo table's o3 rates; every other model one unit a token. */
    static final ModelWeights EXACT = ModelWeights.builder()
            .model("o3", ModelWeights.Rates.of("2", "0.5", "8", "8"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();
    /** The same rates as a prefix row ({@code o3*}), as the demo's model-weights.csv writes it. */
    static final ModelWeights PREFIXED = ModelWeights.builder()
            .model("o3*", ModelWeights.Rates.of("2", "0.5", "8", "8"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    static final long PROMPT = 1_000;
    static final long COMPLETION = 1_000;
    /** The call at o3's rates: 1,000 x 2 + 1,000 x 8. */
    static final long AT_O3 = PROMPT * 2 + COMPLETION * 8;

    /** OpenAI's alias -> snapshot (OpenAI models page: o3 -> o3-2025-04-16; gpt-4.1 -> gpt-4.1-2025-04-14). */
    static final Map<String, String> SNAPSHOTS = Map.of("o3", "o3-2025-04-16", "gpt-4.1", "gpt-4.1-2025-04-14");

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(EXACT).modelWeights("/ai/prefixed/", PREFIXED).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("openai", new OpenAiChat(), "/ai/*");
    }

    /**
     * A relay of OpenAI's {@code POST /v1/chat/completions}, answering with the chat completion object
     * (OpenAI API reference): {@code id}, {@code object}, {@code created}, {@code model} (the snapshot the
     * requested alias runs as), {@code choices}, {@code usage} with its details, {@code service_tier},
     * {@code system_fingerprint}.
     */
    class OpenAiChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (!req.getPathInfo().endsWith("/v1/chat/completions") || !body.has("messages")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String asked = body.get("model").asText();
            String model = "snapshot".equals(req.getHeader("x-answer")) ? SNAPSHOTS.getOrDefault(asked, asked) : asked;
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
                    + "\"created\":1741570283,\"model\":" + JSON.writeValueAsString(model) + ",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "The clause allows thirty days' notice. ".repeat(100)
                    + "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + COMPLETION
                    + ",\"total_tokens\":" + (PROMPT + COMPLETION) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,"
                    + "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                    + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fc9f1d7035\"}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    static String chat(String model) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Summarise the termination clauses of the attached contract.\"}],\"max_completion_tokens\":1500}";
    }

    long call(String path, String s, String model, String answer) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, chat(model), "x-answer", answer);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: the answer names the alias as the request wrote it: o3's exact row applies. */
    @Test
    void anO3CallAnsweredAsO3IsChargedAtO3sRates() {
        String s = subject();
        assertEquals(AT_O3, call("/ai/v1/chat/completions", s, "o3", "alias"), kind() + ": " + ledger(s));
    }

    /** Control: the demo table's prefix row {@code o3*} covers the snapshot the answer names. */
    @Test
    void anO3CallAnsweredAsItsSnapshotUnderAPrefixRowIsChargedAtO3sRates() {
        String s = subject();
        assertEquals(AT_O3, call("/ai/prefixed/v1/chat/completions", s, "o3", "snapshot"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: the same o3 call, answered as OpenAI answers it ({@code "model": "o3-2025-04-16"}), under the
     * README's exact row {@code o3}: held at o3's rates, charged at the default (2,000 for 10,000).
     */
    @Test
    void anO3CallAnsweredAsItsSnapshotIsChargedAtO3sRates() {
        String s = subject();
        assertEquals(AT_O3, call("/ai/v1/chat/completions", s, "o3", "snapshot"), kind()
                + ": the request named o3 (row o3: 2 / 8), OpenAI answered with o3's snapshot o3-2025-04-16; "
                + ledger(s));
    }
}
