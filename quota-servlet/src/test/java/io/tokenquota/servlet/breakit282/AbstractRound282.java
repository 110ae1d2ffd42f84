package io.tokenquota.servlet.breakit282;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 282 of issue 11: the local model servers' own reads and model management, which run no model,
 * charged the estimate. docs/decisions.md ("Answers that are objects no model made") releases the providers'
 * catalogues "which SDKs and chat UIs read on every start" (Ollama's {@code /api/tags}, {@code /api/ps},
 * {@code /api/version}, {@code /api/show}, the {@code …/models} lists) and stored objects read, copied or
 * deleted; the same relay also carries these, each answered 200 without usage and charged about 1,000:
 * <ul>
 *   <li>llama.cpp's server properties, {@code GET /props} ({@code ggml-org/llama.cpp}
 *       {@code tools/server/README.md}, "GET /props: Get server global properties", its response format
 *       copied here), read by llama.cpp's own web UI on every start
 *       ({@code tools/server/webui/src/lib/services/props.ts}, {@code PropsService.fetch}:
 *       {@code new URL('./props', …)} with {@code autoload=false}); and its slots, {@code GET /slots} (the same
 *       README, "GET /slots: Returns the current slots processing state", an array of slots), read by the same
 *       web UI for the context size ({@code services/slots.ts}, {@code SlotsService.getContextTotal}:
 *       {@code fetch('./slots')});</li>
 *   <li>Ollama's model management as Spring AI's {@code OllamaApi} calls it
 *       ({@code spring-projects/spring-ai} {@code models/spring-ai-ollama/…/OllamaApi.java}):
 *       {@code pullModel} ({@code POST /api/pull} with {@code "stream": true}, read as
 *       {@code Flux<ProgressResponse>}; Ollama's docs/api.md "Pull a Model": progress lines ending with
 *       {@code {"status": "success"}}), {@code copyModel} ({@code POST /api/copy}) and {@code deleteModel}
 *       ({@code DELETE /api/delete} with a JSON body), both read {@code toBodilessEntity()} (docs/api.md:
 *       "Returns a 200 OK if successful").</li>
 * </ul>
 * Found (Jetty and Tomcat alike): {@code GET /props?autoload=false} 1,003, {@code GET /props} 1,000, {@code GET /slots} 1,000,
 * {@code POST /api/pull} 1,001, {@code POST /api/copy} 1,007, {@code DELETE /api/delete} 1,001; each expected 0. Not kept:
 * the copy and the delete, answered with no body, which nothing tells from a model call answered so at a path a client
 * chose (round 285; docs/decisions.md): they stay charged.
 * Controls: {@code GET /api/tags} is released, an {@code /api/chat} answer through the same relay is charged
 * its {@code prompt_eval_count + eval_count} exactly (324). Tried without a finding (covered before): Azure's
 * asynchronous filter annotations after the usage chunk (round 252), a {@code HEAD} on a GET chat route
 * (round 236).
 */
abstract class AbstractRound282 extends H2FilterRound {
    protected final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u282-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("server", new Server(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    static final String PROPS = "{\"default_generation_settings\":{\"id\":0,\"id_task\":-1,\"n_ctx\":1024,\"speculative\":false,"
            + "\"is_processing\":false,\"params\":{\"n_predict\":-1,\"seed\":4294967295,\"temperature\":0.800000011920929,"
            + "\"top_k\":40,\"top_p\":0.949999988079071,\"min_p\":0.05000000074505806,\"stop\":[],\"max_tokens\":-1,\"n_keep\":0,"
            + "\"stream\":true,\"n_probs\":0,\"samplers\":[\"dry\",\"top_k\",\"typ_p\",\"top_p\",\"min_p\",\"xtc\",\"temperature\"],"
            + "\"timings_per_token\":false},\"prompt\":\"\",\"next_token\":{\"has_next_token\":true,\"has_new_line\":false,"
            + "\"n_remain\":-1,\"n_decoded\":0,\"stopping_word\":\"\"}},\"total_slots\":1,"
            + "\"model_path\":\"../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf\",\"chat_template\":\"{{ bos_token }}\","
            + "\"chat_template_caps\":{},\"modalities\":{\"vision\":false},"
            + "\"media_marker\":\"<__media_YoNhud46VdDqbuFmKYEO9PY7A4ARzRfg__>\",\"build_info\":\"b6000-abcdef0\",\"is_sleeping\":false}";

    static final String SLOTS = "[{\"id\":0,\"id_task\":135,\"n_ctx\":65536,\"speculative\":false,\"is_processing\":true,"
            + "\"params\":{\"n_predict\":-1,\"seed\":4294967295,\"temperature\":0.800000011920929,\"top_k\":40,\"max_tokens\":-1,"
            + "\"n_keep\":0,\"stream\":true,\"chat_format\":\"GPT-OSS\",\"samplers\":[\"penalties\",\"dry\",\"top_k\"],\"lora\":[]},"
            + "\"next_token\":{\"has_next_token\":true,\"has_new_line\":true,\"n_remain\":-1,\"n_decoded\":136}}]";

    static final String TAGS = "{\"models\":[{\"name\":\"llama3.2:latest\",\"model\":\"llama3.2:latest\",\"modified_at\":"
            + "\"2025-05-04T17:37:44.706015396-07:00\",\"size\":2019393189,\"digest\":"
            + "\"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72\",\"details\":{\"parent_model\":\"\","
            + "\"format\":\"gguf\",\"family\":\"llama\",\"families\":[\"llama\"],\"parameter_size\":\"3.2B\",\"quantization_level\":\"Q4_K_M\"}}]}";

    /** Ollama's {@code /api/chat} answer, not streamed (docs/api.md, "Chat request (No streaming)"). */
    static final String CHAT = "{\"model\":\"llama3.2\",\"created_at\":\"2023-12-12T14:13:43.416799Z\",\"message\":{\"role\":"
            + "\"assistant\",\"content\":\"Hello! How are you today?\"},\"done_reason\":\"stop\",\"done\":true,"
            + "\"total_duration\":5191566416,\"load_duration\":2154458,\"prompt_eval_count\":26,\"prompt_eval_duration\":383809000,"
            + "\"eval_count\":298,\"eval_duration\":4799921000}";

    /**
     * A relay that passes a llama.cpp server's and an Ollama server's whole HTTP API on under the protected
     * prefix (as the web UIs and Spring AI clients in front of it reach it); only {@code /api/chat} calls the
     * model ({@link #calls}).
     */
    final class Server extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            resp.setContentType("application/json; charset=utf-8");
            switch (path) {
                case "/props" -> resp.getWriter().write(PROPS);
                case "/slots" -> resp.getWriter().write(SLOTS);
                case "/api/tags" -> resp.getWriter().write(TAGS);
                default -> resp.sendError(404);
            }
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getPathInfo();
            switch (path) {
                case "/api/pull" -> {
                    resp.setContentType("application/x-ndjson");
                    PrintWriter w = resp.getWriter();
                    w.write("{\"status\":\"pulling manifest\"}\n");
                    w.write("{\"status\":\"downloading digestname\",\"digest\":\"digestname\",\"total\":2142590208,\"completed\":241970}\n");
                    w.write("{\"status\":\"verifying sha256 digest\"}\n");
                    w.write("{\"status\":\"writing manifest\"}\n");
                    w.write("{\"status\":\"success\"}\n");
                }
                case "/api/copy" -> resp.setStatus(200);
                case "/api/chat" -> {
                    calls.count(req.getHeader("x-user-id"));
                    resp.setContentType("application/json; charset=utf-8");
                    resp.getWriter().write(CHAT);
                }
                default -> resp.sendError(404);
            }
        }

        @Override
        protected void doDelete(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setStatus(200);
        }
    }

    /**
     * Sends {@code method path} as {@code s}, with {@code body} (JSON) or none, expects 200, and returns what
     * the ledger charged once the call settled.
     */
    private long charged(String s, String method, String path, String body) {
        HttpRequest.Builder b = TestHttp.requestAs(container.uri(path), s, "Content-Type", "application/json");
        HttpRequest r = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody()).build()
                : b.method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        HttpResponse<String> a = TestHttp.send(r);
        assertEquals(200, a.statusCode(), a.body());
        return settled(s).used();
    }

    private void free(String method, String path, String body, String what) {
        String s = subject();
        long used = charged(s, method, path, body);
        assertEquals(0, calls.of(s), "no model ran");
        assertEquals(0, used, what + ": no model was called, charged " + used + ": " + ledger(s));
    }

    /**
     * The attack: llama.cpp's web UI reads the server's properties on every start ({@code PropsService.fetch}:
     * {@code GET ./props?autoload=false}; {@code GET ./props} from older clients). Answered with llama.cpp's
     * {@code /props} object, no usage: no model ran.
     */
    @ParameterizedTest
    @ValueSource(strings = {"/ai/props?autoload=false", "/ai/props"})
    void llamaCppServerPropertiesReadByItsWebUiAreNotCharged(String path) {
        free("GET", path, null, "GET " + path);
    }

    /** The attack: llama.cpp's web UI reads the slots for the context size ({@code SlotsService.getContextTotal}). */
    @Test
    void llamaCppSlotsReadByItsWebUiAreNotCharged() {
        free("GET", "/ai/slots", null, "GET /ai/slots");
    }

    /**
     * The attack: Spring AI's {@code OllamaApi.pullModel} ({@code POST /api/pull}, {@code "stream": true},
     * read as {@code Flux<ProgressResponse>}), what its {@code OllamaModelManager} calls for a model that is
     * missing ({@code spring.ai.ollama.init.pull-model-strategy}). Ollama streams progress lines and ends with
     * {@code {"status":"success"}}: a download, no model ran.
     */
    @Test
    void anOllamaModelPulledIsNotCharged() {
        free("POST", "/ai/api/pull", "{\"model\":\"llama3.2\",\"insecure\":false,\"stream\":true}", "POST /api/pull");
    }

    /** Control: Ollama's list of local models ({@code GET /api/tags}, {@code OllamaApi.listModels}) is released. */
    @Test
    void controlOllamasModelListIsNotCharged() {
        free("GET", "/ai/api/tags", null, "GET /api/tags");
    }

    /** Control: a chat through the same relay is charged its usage exactly (26 + 298). */
    @Test
    void controlAnOllamaChatIsChargedItsUsage() {
        String s = subject();
        long used = charged(s, "POST", "/ai/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"why is the sky blue?\"}],\"stream\":false}");
        assertEquals(1, calls.of(s));
        assertEquals(324, used, ledger(s));
    }
}
