package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A round on an agent that relays several model calls in one HTTP answer. Its relay endpoint
 * ({@code POST /ai/relay/<scenario>} unless the round says otherwise) makes the scenario's model calls,
 * counted in {@link #calls}, and writes their documents as they come, each as the scenario's
 * {@link Framing} says, or the scenario's pieces as they are under its status and content type, behind
 * a quota filter that weighs them by {@link #weights()}. The round declares its scenarios and checks
 * what each is {@link #charged}.
 */
public abstract class RelayedCalls extends ModelCallRound {
    /** What the user asks the agent, in every scenario. */
    protected static final String TASK =
            "{\"task\":\"Read the three vendor contracts in the shared folder and draft a memo.\"}";

    /**
     * The providers' list prices per million tokens (input, cached input, output, reasoning), as the demo's
     * {@code model-weights.csv} sets them for the models it lists; any other model one unit a token.
     */
    protected static final ModelWeights LIST_PRICES = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
            .model("gpt-4.1*", ModelWeights.Rates.of("2", "0.5", "8", "8"))
            .model("mistral-large*", ModelWeights.Rates.of("2", "2", "6", "6"))
            .model("mistral-small*", ModelWeights.Rates.of("0.1", "0.1", "0.3", "0.3"))
            .model("llama-3.3-70b*", ModelWeights.Rates.of("0.6", "0.6", "0.8", "0.8"))
            .model("llama-3.1-8b*", ModelWeights.Rates.of("0.05", "0.05", "0.08", "0.08"))
            .model("claude-sonnet-4*", ModelWeights.Rates.of("3", "0.3", "15", "15"))
            .model("claude-3-5-haiku*", ModelWeights.Rates.of("0.8", "0.08", "4", "4"))
            .model("gemini-2.5-pro*", ModelWeights.Rates.of("1.25", "0.3125", "10", "10"))
            .model("gemini-2.5-flash*", ModelWeights.Rates.of("0.3", "0.075", "2.5", "2.5"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    /** A document of the relayed answer: its server-sent {@code event:} name ({@code null}: none) and its data. */
    public record Event(String name, String data) {
    }

    /** How the relay writes a scenario's documents. */
    protected enum Framing {
        /** Server-sent events as a hand-written relay writes them: {@code event: } when named, {@code data: }. */
        SSE("text/event-stream"),
        /** Server-sent events as Spring's {@code SseEmitter} writes them: no space after the colon. */
        SPRING_SSE("text/event-stream"),
        /** Newline-delimited JSON, each document's data on a line (Ollama's own framing). */
        NDJSON("application/x-ndjson");

        private final String contentType;

        Framing(String contentType) {
            this.contentType = contentType;
        }

        String frame(Event e) {
            return switch (this) {
                case SSE -> (e.name() == null ? "" : "event: " + e.name() + "\n") + "data: " + e.data() + "\n\n";
                case SPRING_SSE -> (e.name() == null ? "" : "event:" + e.name() + "\n") + "data:" + e.data() + "\n\n";
                case NDJSON -> e.data() + "\n";
            };
        }
    }

    /**
     * A scenario: the status and content type it is answered with, the pieces written (each flushed), the
     * model calls they stand for, and the tokens the endpoint reports for itself ({@code null}: none).
     */
    private record Scenario(int status, String type, List<String> pieces, int calls, Long reported) {
    }

    private final Map<String, Scenario> scenarios = new ConcurrentHashMap<>();

    /** The rates the round's filter weighs each call at: {@link #LIST_PRICES} unless the round says otherwise. */
    protected ModelWeights weights() {
        return LIST_PRICES;
    }

    /** Where the relay is mapped, its path info naming the scenario: {@code /ai/relay/*} unless the round says otherwise. */
    protected String[] relayPaths() {
        return new String[] {"/ai/relay/*"};
    }

    /** What the user asks the agent: {@link #TASK} unless the round says otherwise. */
    protected String task() {
        return TASK;
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        return filteredByServletName(filterFor("/ai/").modelWeights(weights()).build())
                .servlet("relay", new Relay(), relayPaths());
    }

    /** Declares scenario {@code name}: {@code calls} model calls, whose documents are {@code events}, written as {@code framing}. */
    protected void relay(String name, int calls, Framing framing, List<Event> events) {
        answer(name, 200, framing.contentType, events.stream().map(framing::frame).toList(), calls);
    }

    /** Declares scenario {@code name}: {@code calls} model calls, answered {@code status} as {@code type}, {@code pieces} written as they are. */
    protected void answer(String name, int status, String type, List<String> pieces, int calls) {
        scenarios.put(name, new Scenario(status, type, List.copyOf(pieces), calls, null));
    }

    /** Declares scenario {@code name} as {@link #answer(String, int, String, List, int)}, answered 200. */
    protected void answer(String name, String type, List<String> pieces, int calls) {
        answer(name, 200, type, pieces, calls);
    }

    /**
     * Declares scenario {@code name} as {@link #answer(String, int, String, List, int)}, its endpoint
     * reporting {@code reported} tokens for itself ({@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}).
     */
    protected void answerReporting(String name, int status, String type, List<String> pieces, int calls, long reported) {
        scenarios.put(name, new Scenario(status, type, List.copyOf(pieces), calls, reported));
    }

    /** Declares scenario {@code name}, relayed as server-sent events. */
    protected void sse(String name, int calls, List<Event> events) {
        relay(name, calls, Framing.SSE, events);
    }

    /** Declares scenario {@code name}, relayed as NDJSON. */
    protected void ndjson(String name, int calls, List<Event> events) {
        relay(name, calls, Framing.NDJSON, events);
    }

    /** The relay: makes the scenario's model calls and writes its pieces as they come. */
    final class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            Scenario scenario = scenarios.get(req.getPathInfo().substring(1));
            if (scenario == null) {
                resp.sendError(404);
                return;
            }
            for (int i = 0; i < scenario.calls(); i++) {
                calls.count(req.getHeader("x-user-id"));
            }
            if (scenario.reported() != null) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, scenario.reported());
            }
            resp.setStatus(scenario.status());
            resp.setContentType(scenario.type());
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            for (String piece : scenario.pieces()) {
                EventStreams.write(out, piece);
            }
        }
    }

    /**
     * A new subject posts {@link #task()} to scenario {@code scenario}: it must be answered the scenario's
     * status, make its model calls and be charged {@code expected}, a failure naming {@code what}. Returns
     * the charge.
     */
    protected long charged(String scenario, long expected, String what) {
        return charged(scenario, task(), expected, what);
    }

    /** As {@link #charged(String, long, String)}, the request's body {@code body}. */
    protected long charged(String scenario, String body, long expected, String what) {
        String s = subject();
        long used = post(s, scenario, body);
        assertEquals(expected, used, kind() + " " + scenario + ": " + what + "; charged " + used + "; " + ledger(s));
        return used;
    }

    /** A new subject posts {@link #task()} to scenario {@code scenario}, answered as {@link #charged} says: its charge. */
    protected long post(String scenario) {
        return post(subject(), scenario, task());
    }

    private long post(String s, String scenario, String body) {
        Scenario declared = scenarios.get(scenario);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/relay/" + scenario), s, body);
        assertEquals(declared.status(), r.statusCode(), r.body().length() > 300 ? r.body().substring(0, 300) : r.body());
        QuotaAccount a = settled(s);
        assertEquals(declared.calls(), calls.of(s), "model calls");
        return a.used();
    }

    // ------------------------------------------------------------------ documents

    /** A document with data only ({@code data:} alone, or an NDJSON line). */
    protected static Event data(String json) {
        return new Event(null, json);
    }

    /** A server-sent event as {@link Framing#SSE} writes it ({@code name} {@code null}: data only), to write as it is. */
    protected static String sse(String name, String data) {
        return Framing.SSE.frame(new Event(name, data));
    }

    /** {@code parts}' documents or pieces, one after the other. */
    @SafeVarargs
    protected static <T> List<T> concat(List<T>... parts) {
        List<T> all = new ArrayList<>();
        for (List<T> p : parts) {
            all.addAll(p);
        }
        return all;
    }

    /**
     * Spring AI's {@code ChatResponse} as Jackson writes it: {@code text} {@code null}, no generation;
     * {@code finish} {@code null}, a chunk that finishes nothing; {@code nativeUsage} {@code null}, none kept.
     */
    protected static String springAi(String id, String text, String finish, long prompt, long completion, String nativeUsage) {
        String usage = "{\"promptTokens\":" + prompt + ",\"completionTokens\":" + completion + ",\"totalTokens\":"
                + (prompt + completion) + (nativeUsage == null ? "" : ",\"nativeUsage\":" + nativeUsage) + "}";
        String result = text == null ? "null" : "{\"output\":{\"messageType\":\"ASSISTANT\",\"metadata\":{\"role\":\"ASSISTANT\"},"
                + "\"toolCalls\":[],\"media\":[],\"text\":\"" + text + "\"},\"metadata\":{\"finishReason\":\""
                + (finish == null ? "" : finish) + "\",\"contentFilters\":[],\"empty\":true}}";
        return "{\"result\":" + result + ",\"results\":" + (text == null ? "[]" : "[" + result + "]") + ",\"metadata\":{\"id\":\""
                + id + "\",\"model\":\"gpt-4o-mini-2024-07-18\",\"rateLimit\":{},\"usage\":" + usage
                + ",\"promptMetadata\":[],\"empty\":false}}";
    }

    /** A streamed Ollama {@code /api/chat} chunk of {@code text}. */
    protected static Event ollamaChunk(String model, String text) {
        return data("{\"model\":\"" + model + "\",\"created_at\":\"2025-01-01T10:00:00.000000Z\",\"message\":{\"role\":"
                + "\"assistant\",\"content\":\"" + text + "\"},\"done\":false}");
    }

    /** A streamed Ollama call's last chunk: no text, the call's counts. */
    protected static Event ollamaLast(String model, long prompt, long eval) {
        return ollamaWhole(model, "", prompt, eval);
    }

    /** A whole Ollama answer ({@code "stream": false}). */
    protected static Event ollamaWhole(String model, String text, long prompt, long eval) {
        return data("{\"model\":\"" + model + "\",\"created_at\":\"2025-01-01T10:00:01.000000Z\",\"message\":{\"role\":"
                + "\"assistant\",\"content\":\"" + text + "\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":5191566416,"
                + "\"load_duration\":2154458,\"prompt_eval_count\":" + prompt + ",\"prompt_eval_duration\":383809000,"
                + "\"eval_count\":" + eval + ",\"eval_duration\":4799921000}");
    }

    /** A whole Bedrock Converse answer (it names no call). */
    protected static Event converseWhole(String text, long in, long out) {
        return data("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"" + text + "\"}]}},"
                + "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out
                + ",\"totalTokens\":" + (in + out) + "},\"metrics\":{\"latencyMs\":1180}}");
    }
}
