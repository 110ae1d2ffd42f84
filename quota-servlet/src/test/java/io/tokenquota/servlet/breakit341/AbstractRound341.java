package io.tokenquota.servlet.breakit341;

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
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Round 341 of issue 11 ("no model call goes unpaid"): per-model weights ({@code QuotaFilter.Builder.modelWeights},
 * README "Per-model weights") in front of an Ollama server that serves several models, with a table of their own
 * for its prefix (README: "give its prefix a table of its own").
 *
 * <p>The rule (README "Per-model weights", Patterns: names are compared case-insensitively "so a client cannot
 * dodge a row with {@code GPT-4O}"; Which model is charged: "the model the answer names"). Ollama resolves a model
 * name by its own grammar (ollama/ollama {@code types/model/name.go}, {@code ParseName}: {@code { host } "/"
 * { namespace } "/" { model } ":" { tag }}, merged with {@code DefaultName()}: host {@code registry.ollama.ai},
 * namespace {@code library}, tag {@code latest}), so {@code llama3.3:70b}, {@code library/llama3.3:70b} and
 * {@code registry.ollama.ai/library/llama3.3:70b} are the one model; and it answers with the name as the request
 * wrote it ({@code server/routes.go}, {@code ChatHandler}: {@code api.ChatResponse{Model: req.Model, ...}}).
 * The operator's row {@code llama3.3:70b*} then misses the fully qualified spelling of the very model it prices,
 * and the call is weighed at the table's default: a client picks its rate by spelling its model's name the long
 * way. Unlike llama.cpp's server (docs/decisions.md, "Weights follow the model the answer names": one served
 * model, a prefix table whose default is its rates), Ollama serves many models at one prefix, so no default can
 * stand for "the served model".
 */
abstract class AbstractRound341 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The Ollama prefix's own table: the 70B model dear, the 3B one cheap, the README's default (1, 1, 4, 4) for
     * anything else (input, cached input, output, reasoning).
     */
    static final ModelWeights OLLAMA = ModelWeights.builder()
            .model("llama3.3:70b*", ModelWeights.Rates.of("2", "2", "8", "8"))
            .model("llama3.2:3b*", ModelWeights.Rates.of("0.1", "0.1", "0.4", "0.4"))
            .defaults(ModelWeights.Rates.of("1", "1", "4", "4"))
            .build();

    /** What Ollama reports for each call: {@code prompt_eval_count} and {@code eval_count}. */
    static final long PROMPT = 1_000;
    static final long COMPLETION = 2_000;
    /** The 70B model's charge at its row's rates: 1,000 x 2 + 2,000 x 8. */
    static final long LARGE_CHARGE = PROMPT * 2 + COMPLETION * 8;
    /** The 3B model's charge at its row's rates: 1,000 x 0.1 + 2,000 x 0.4. */
    static final long SMALL_CHARGE = 900;

    /** The models pulled on the Ollama server, fully qualified as {@code ParseName} qualifies them. */
    static final Set<String> PULLED = Set.of("registry.ollama.ai/library/llama3.3:70b",
            "registry.ollama.ai/library/llama3.2:3b");

    static final String CHAT = "/ai/ollama/api/chat";

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(ONE_UNIT_A_TOKEN).modelWeights("/ai/ollama/", OLLAMA)
                .build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("ollama", new Ollama(), "/ai/ollama/*");
    }

    /**
     * A name as Ollama's {@code model.ParseName} reads it (types/model/name.go, {@code ParseNameBare} then
     * {@code Merge} with {@code DefaultName()}): the tag after the last {@code :} that follows the last {@code /},
     * then model, namespace and host from the right, each missing part defaulted; a scheme ({@code https://})
     * is cut off the host. Case is kept (Ollama's {@code getExistingName} matches each part with
     * {@code strings.EqualFold}).
     */
    static String qualified(String name) {
        String s = name;
        String tag = "latest";
        if (s.lastIndexOf(':') > s.lastIndexOf('/')) {
            tag = s.substring(s.lastIndexOf(':') + 1);
            s = s.substring(0, s.lastIndexOf(':'));
        }
        String[] parts = s.split("/", -1);
        String model = parts[parts.length - 1];
        String namespace = parts.length >= 2 ? parts[parts.length - 2] : "library";
        String host = parts.length >= 3 ? String.join("/", java.util.Arrays.copyOf(parts, parts.length - 2))
                : "registry.ollama.ai";
        int scheme = host.indexOf("://");
        if (scheme >= 0) {
            host = host.substring(scheme + 3);
        }
        return (host + "/" + namespace + "/" + model + ":" + tag).toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Ollama's {@code POST /api/chat} with {@code "stream": false} (docs/api.md, "Chat request (No streaming)"):
     * a model it has not pulled is 404 {@code {"error": "model '…' not found"}} ({@code ChatHandler}); the answer
     * is {@code api.ChatResponse} (api/types.go): {@code model} (the request's {@code req.Model} as written),
     * {@code created_at}, {@code message}, {@code done}, {@code done_reason} and {@code Metrics}
     * ({@code total_duration}, {@code load_duration}, {@code prompt_eval_count}, {@code prompt_eval_duration},
     * {@code eval_count}, {@code eval_duration}).
     */
    class Ollama extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (!"/api/chat".equals(req.getPathInfo()) || !body.has("messages")) {
                resp.sendError(404);
                return;
            }
            String model = body.path("model").asText("");
            resp.setContentType("application/json; charset=utf-8");
            if (!PULLED.contains(qualified(model))) {
                resp.setStatus(404);
                resp.getOutputStream().write(("{\"error\":\"model '" + model + "' not found\"}")
                        .getBytes(StandardCharsets.UTF_8));
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.getOutputStream().write(("{\"model\":" + JSON.writeValueAsString(model) + ","
                    + "\"created_at\":\"2025-12-05T10:00:00.000000Z\",\"message\":{\"role\":\"assistant\",\"content\":\""
                    + "The clause allows thirty days' notice. ".repeat(250) + "\"},\"done_reason\":\"stop\",\"done\":true,"
                    + "\"total_duration\":61812345678,\"load_duration\":12345678,\"prompt_eval_count\":" + PROMPT
                    + ",\"prompt_eval_duration\":812400000,\"eval_count\":" + COMPLETION
                    + ",\"eval_duration\":60987654321}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A chat as Ollama's docs/api.md shows it, with its output budget in {@code options.num_predict}. */
    static String chat(String model) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a contracts assistant.\"},"
                + "{\"role\":\"user\",\"content\":\"Summarise the termination clauses of the attached contract.\"}],"
                + "\"stream\":false,\"options\":{\"num_predict\":2000}}";
    }

    long call(String s, String model) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, chat(model));
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: the 70B model under its short name (as {@code ollama run llama3.3:70b} names it) is charged its row's rates. */
    @Test
    void theLargeModelByItsShortNameIsChargedItsRowsRates() {
        String s = subject();
        assertEquals(LARGE_CHARGE, call(s, "llama3.3:70b"), kind() + ": " + ledger(s));
    }

    /** Control: the 3B model is charged its own (cheap) row's rates: the table is read per model. */
    @Test
    void theSmallModelIsChargedItsRowsRates() {
        String s = subject();
        assertEquals(SMALL_CHARGE, call(s, "llama3.2:3b"), kind() + ": " + ledger(s));
    }

    /** Control: a model the server has not pulled is 404 and calls no model: nothing is charged. */
    @Test
    void aModelNotPulledIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, chat("library/llama3.3:405b"));
        assertCharged(s, r, 404, 0, 0, "a model Ollama has not pulled");
    }

    /**
     * The attack: the same call naming the same model by its namespaced name, {@code library/llama3.3:70b}, which
     * Ollama's {@code ParseName} resolves to {@code registry.ollama.ai/library/llama3.3:70b}, the 70B model it runs;
     * Ollama echoes the name as written, the row {@code llama3.3:70b*} misses it, and the call is weighed at the
     * default (1,000 x 1 + 2,000 x 4 = 9,000) instead of the 70B row (18,000).
     */
    @Test
    void theLargeModelByItsNamespacedNameIsChargedItsRowsRates() {
        String s = subject();
        long used = call(s, "library/llama3.3:70b");
        assertEquals(LARGE_CHARGE, used, kind() + ": Ollama ran llama3.3:70b (" + PROMPT + " in, " + COMPLETION
                + " out) for \"model\": \"library/llama3.3:70b\" and echoed that name; charged at the table's default: "
                + ledger(s));
    }
}
