package io.tokenquota.servlet.breakit333;

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
import org.junit.jupiter.api.Test;

/**
 * Round 333 of issue 11 ("no model call goes unpaid"), a new hostile user with the README: per-model weights
 * ({@code QuotaFilter.Builder.modelWeights}, README "Per-model weights") in front of a self-hosted llama.cpp
 * server, the OpenAI-compatible server the README lists among the formats it reads.
 *
 * <p>The rule (README: "the charge the answer's usage by kind weighed for the model the answer names";
 * {@code Weighing}'s javadoc: "The charge is at the rates of the model the answer names ... the provider's own
 * envelope, never content a model wrote: <b>the request cannot choose its price</b>"). llama.cpp's
 * {@code llama-server} serves the one model it loaded and answers every OpenAI-compatible call with the
 * {@code model} the <i>request</i> named: ggml-org/llama.cpp {@code tools/server/server.cpp},
 * {@code params_from_json_cmpl}: {@code std::string model_name = params_base.model_alias.empty() ?
 * DEFAULT_OAICOMPAT_MODEL : params_base.model_alias; params.oaicompat_model = json_value(data, "model",
 * model_name);}, and the final response writes {@code {"model", oaicompat_model}}. So on such a server the
 * answer's {@code model} is the client's choice: a client that names the cheapest model in the operator's table
 * is charged that model's rates for the big model the server runs.
 *
 * <p>The deployment is the README's own table ({@code gpt-4o-mini*} at 0.15 / 0.075 / 0.6 / 0.6 for the OpenAI
 * relay; the default 1 / 1 / 4 / 4 for everything else, here the local model) and one filter protecting
 * {@code /ai/} with an OpenAI relay and a llama-server relay under it, as a gateway does. Found: under that
 * table alone, naming {@code gpt-4o-mini} was charged 1,350 for 9,000. The answer cannot say which model ran, so
 * the fix is the operator's, as the README now says: the llama-server prefix gets a table of its own
 * ({@code QuotaFilter.Builder.modelWeights(prefix, weights)}) whose default is the served model's rates; these
 * tests run with it.
 */
abstract class AbstractRound333 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /** README "Per-model weights": input, cached input, output, reasoning. */
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
            .defaults(ModelWeights.Rates.of("1", "1", "4", "4"))
            .build();

    /** The llama-server prefix's own table: whatever the request names, the model it serves (README "Per-model weights"). */
    static final ModelWeights SERVED = ModelWeights.builder().defaults(ModelWeights.Rates.of("1", "1", "4", "4")).build();

    /** What llama-server reports for each call: prompt and completion tokens. */
    static final long PROMPT = 1_000;
    static final long COMPLETION = 2_000;
    /** The served model's charge at the table's default rates (the model llama-server runs is no gpt-4o-mini). */
    static final long LOCAL_CHARGE = PROMPT * 1 + COMPLETION * 4;

    /** The alias the operator started llama-server with ({@code llama-server -m qwen3-235b.gguf --alias ...}). */
    static final String ALIAS = "qwen3-235b-a22b";

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(WEIGHTS).modelWeights("/ai/local/", SERVED).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("llama-server", new LlamaServer(), "/ai/local/*");
    }

    /**
     * A relay to llama-server's {@code POST /v1/chat/completions}, answering as llama-server does (its
     * README, "POST /v1/chat/completions", and {@code server.cpp}'s {@code to_json_oaicompat_chat}):
     * {@code choices}, {@code created}, {@code model} (the request's, else the alias), {@code system_fingerprint},
     * {@code object}, {@code usage} {@code {completion_tokens, prompt_tokens, total_tokens}}, {@code id} and
     * {@code timings}.
     */
    class LlamaServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (!"/v1/chat/completions".equals(req.getPathInfo()) || !body.has("messages")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String model = body.hasNonNull("model") ? body.get("model").asText() : ALIAS;
            resp.setContentType("application/json; charset=utf-8");
            resp.getOutputStream().write(("{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"message\":{"
                    + "\"role\":\"assistant\",\"content\":\"" + "The clause allows thirty days' notice. ".repeat(250)
                    + "\"}}],\"created\":1764900000,\"model\":" + JSON.writeValueAsString(model) + ","
                    + "\"system_fingerprint\":\"b7231-5d6bd842e\",\"object\":\"chat.completion\","
                    + "\"usage\":{\"completion_tokens\":" + COMPLETION + ",\"prompt_tokens\":" + PROMPT
                    + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "},\"id\":\"chatcmpl-Wq3e9QkVx2\","
                    + "\"timings\":{\"prompt_n\":1000,\"prompt_ms\":812.4,\"predicted_n\":2000,\"predicted_ms\":61234.1}}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    static String chat(String modelField) {
        return "{" + modelField + "\"messages\":[{\"role\":\"system\",\"content\":\"You are a contracts assistant.\"},"
                + "{\"role\":\"user\",\"content\":\"Summarise the termination clauses of the attached contract.\"}],"
                + "\"max_tokens\":2000}";
    }

    long call(String s, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/local/v1/chat/completions"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * Control: the client names no model (llama-server needs none; llama.cpp's own web UI and most of its
     * clients send none): the answer names the server's alias, and the table's default rates apply.
     */
    @Test
    void aLocalCallNamingNoModelIsChargedAtTheServedModelsRates() {
        String s = subject();
        long used = call(s, chat(""));
        assertEquals(LOCAL_CHARGE, used, kind() + ": llama-server's call (" + PROMPT + " in, " + COMPLETION
                + " out) at the default rates: " + ledger(s));
    }

    /**
     * Control: the client names the server's own alias, which llama-server echoes: the default rates apply.
     */
    @Test
    void aLocalCallNamingTheServersAliasIsChargedAtTheServedModelsRates() {
        String s = subject();
        long used = call(s, chat("\"model\":\"" + ALIAS + "\","));
        assertEquals(LOCAL_CHARGE, used, kind() + ": " + ledger(s));
    }

    /**
     * The attack: the same call naming {@code "model": "gpt-4o-mini"}, the cheapest row of the operator's table.
     * llama-server runs the same model and reports the same usage, and echoes the name; the filter weighs the
     * usage at gpt-4o-mini's rates (1,000 x 0.15 + 2,000 x 0.6 = 1,350) instead of the served model's (9,000).
     */
    @Test
    void aLocalCallNamingACheapModelIsChargedAtTheServedModelsRates() {
        String s = subject();
        long used = call(s, chat("\"model\":\"gpt-4o-mini\","));
        assertEquals(LOCAL_CHARGE, used, kind() + ": llama-server ran its one model (" + PROMPT + " in, " + COMPLETION
                + " out) and echoed the client's \"model\": \"gpt-4o-mini\"; charged at the name the client chose: "
                + ledger(s));
    }
}
