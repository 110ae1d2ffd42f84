package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * A round on a model's text answered raw, without its usage: Spring AI's {@code call().content()} returned
 * as a {@code String} from a {@code @PostMapping} ({@code text/plain}, at {@code /ai/text/<shape>}), its
 * {@code stream().content()} as a {@code Flux<String>} (one event a piece of about a token, at
 * {@code /ai/events/<shape>}), or the whole text sent as one event by an {@code SseEmitter} between status
 * events (at {@code /ai/event/<shape>}, a {@code data:} line per line of it; at {@code /ai/jsonstring/<shape>},
 * one {@code data:} line of the text as a JSON string). The round says what the model writes for each shape
 * ({@link #answer}); the filter must charge at least the text.
 */
public abstract class RawTextRound extends ModelCallRound {
    /** The filter's own estimator, to tell what a text is worth. */
    protected static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** What the model writes for {@code shape}: the last segment of the request's path, with its slash ("/hex"). */
    protected abstract String answer(String shape);

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("text", new Text(), "/ai/text/*")
                .servlet("events", new Events(), "/ai/events/*")
                .servlet("event", new WholeAnswerEvent(), "/ai/event/*")
                .servlet("jsonstring", new JsonStringEvent(), "/ai/jsonstring/*");
    }

    /** {@code @PostMapping("/ai/text") String text(@RequestBody Ask ask)}: the model's text, as Spring writes a String. */
    private final class Text extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(answer(req.getPathInfo()).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** {@code Flux<String>} of {@code stream().content()}: each piece of four characters its own event. */
    private final class Events extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            String text = answer(req.getPathInfo());
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < text.length(); i += 4) {
                out.write(("data:" + text.substring(i, Math.min(text.length(), i + 4)) + "\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /** Writes {@code text} as one event named {@code name}, a data: line per line of it, as Spring does. */
    protected static void event(OutputStream out, String name, String text) throws IOException {
        StringBuilder e = new StringBuilder("event:" + name + "\n");
        for (String line : text.split("\n", -1)) {
            e.append("data:").append(line).append('\n');
        }
        e.append('\n');
        byte[] bytes = e.toString().getBytes(StandardCharsets.UTF_8);
        // written as a servlet's buffer hands it on, 8 KB at a time
        for (int i = 0; i < bytes.length; i += 8192) {
            out.write(bytes, i, Math.min(8192, bytes.length - i));
        }
    }

    /**
     * {@code SseEmitter}: a {@code status} event, then the model's answer ({@code call().content()}) as one
     * {@code answer} event, then {@code done}.
     */
    private final class WholeAnswerEvent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            out.write("event:status\ndata:thinking\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            event(out, "answer", answer(req.getPathInfo()));
            out.write("event:status\ndata:done\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The answer as one event whose data is the answer as a JSON string, as Jackson writes a String. */
    private final class JsonStringEvent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            String json = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(answer(req.getPathInfo()));
            resp.getOutputStream().write(("event:answer\ndata:" + json + "\n\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** What the model writes for a request to {@code path}. */
    protected String answerTo(String path) {
        return answer(path.substring(path.lastIndexOf('/')));
    }

    /** {@code s} asks {@code ask} at {@code path}: answered 200 after one model call; what {@code s} was charged. */
    protected long charged(String path, String s, String ask) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, "{\"message\":\"" + ask + "\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * A new subject asks {@code ask} at {@code path} and is charged at least {@code minimum}, what
     * {@code worth} says the answer is worth (named in a failure).
     */
    protected void assertChargedAtLeast(String path, String ask, long minimum, String worth) {
        String s = subject();
        long used = charged(path, s, ask);
        assertTrue(used >= minimum, kind() + ": the model wrote " + answerTo(path).length() + " characters ("
                + worth + "), charged " + used + ": " + ledger(s));
    }

    /** As {@link #assertChargedAtLeast}: at least the text's tokens by the filter's estimator, less a tenth for its spread. */
    protected void assertChargedTheText(String path, String ask) {
        long text = TOKENS.estimate(answerTo(path));
        assertChargedAtLeast(path, ask, text * 9 / 10, text + " tokens by the default estimator");
    }

    /**
     * A new subject asks {@code ask} at {@code path} {@code times} times on the round's allowance: each call
     * served is charged at least {@code perCall} ({@code worth} says why, in a failure).
     */
    protected void assertNotServedPastTheAllowance(String path, String ask, int times, long perCall, String worth) {
        String s = subject();
        assertServedCallsCharged(s, times, () -> TestHttp.postJson(container.uri(path), s, "{\"message\":\"" + ask + "\"}"),
                perCall, worth);
    }

    /**
     * A new subject asks {@code ask} at {@code path}, an endpoint that adds a file of its own ({@code file}
     * says which) to a model's answer and records the model's tokens ({@link ModelTokens}): it is charged
     * no more than twice what the model read and wrote (or twice the 1,000 of a call's estimate).
     */
    protected void assertNotChargedTheFile(String path, String ask, String file) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, "{\"message\":\"" + ask + "\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "one model call");
        long used = settled(s).used();
        long model = ModelTokens.modelTokens(s);
        assertTrue(used <= 2 * Math.max(model, 1_000), kind() + ": the model read and wrote " + model
                + " tokens; the answer carries " + file + " the application made (" + r.body().length()
                + " characters answered); charged " + used + ": " + ledger(s));
    }
}
