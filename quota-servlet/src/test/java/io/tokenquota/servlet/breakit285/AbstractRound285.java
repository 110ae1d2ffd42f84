package io.tokenquota.servlet.breakit285;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 285 of issue 11: the rules of rounds 280-283 attacked from both sides.
 * <ul>
 *   <li>Round 282 releases a local model server's own business by the path's end alone
 *       ({@code ProviderObjects.serverBusiness}: a {@code POST …/api/pull}, {@code /api/push} or
 *       {@code /api/create} whose last JSON document says {@code "status": "success"}; a {@code POST …/api/copy}
 *       answered with no body). docs/decisions.md says the path is the client's to choose on a route that takes
 *       any ({@code /ask/*}), and that a route that takes any path "gives whatever path its client names", so the
 *       shape must decide (round 141). An application's own route is such a route, and its answers have
 *       ordinary shapes: the JSend envelope ({@code github.com/omniti-labs/jsend}, README: "A basic
 *       JSend-compliant response is as simple as this: {@code {"status": "success", "data": {…}}}", required
 *       keys {@code status} and {@code data}), and a {@code 204 No Content} for a {@code POST} run for a side
 *       effect (RFC 9110 section 15.3.5; Spring's {@code ResponseEntity.noContent()}), which the filter's own
 *       rule charges the estimate ({@code Settlement.decide}: "any other 204 (a {@code POST} run for a side
 *       effect …) is charged by the rules below", ending "a 2xx without usage: the estimate is charged"). The
 *       tail is captured as the route's key, as Spring's {@code PathPattern} {@code /ask/{*path}} captures the
 *       rest of the path.</li>
 *   <li>Round 280's replayed body calls the listener inside {@code setReadListener}: Tomcat's own example of
 *       non-blocking I/O ({@code apache/tomcat} {@code webapps/examples/WEB-INF/classes/nonblocking/ByteCounter.java},
 *       {@code CounterListener}) registers one listener for reading and writing, the read listener first
 *       ({@code sis.setReadListener(this); sos.setWriteListener(this);}), and answers from
 *       {@code onAllDataRead} through {@code sos.isReady()} and {@code onWritePossible()}. Here its
 *       {@code onWritePossible} calls the model with the request it read and writes the model's stream.</li>
 * </ul>
 * Found (Jetty and Tomcat alike unless said): a question at the topic {@code api/pull}, {@code api/push} or
 * {@code api/create}, one model call answered in JSend, is released (0; the same question at {@code /ai/ask/loops}
 * is charged its estimate, 1,129); a note named {@code api/copy}, one model call answered 204, is released (0;
 * named otherwise, 1,129). Tomcat only: behind the filter Tomcat's {@code ByteCounter} listener is told
 * {@code onAllDataRead} inside {@code setReadListener}, so it writes the model's stream and completes before its
 * {@code setWriteListener}; Tomcat then drops the connection ("Calling [asyncOperation()] is not valid for a
 * request with Async state [DISPATCHED]"): the client gets no byte and is charged 5,000 for the model's answer
 * (and again for each retry: the OpenAI SDKs retry a dropped connection twice by default). The same listener
 * without the filter is answered on both containers, and on Jetty behind it too.
 */
abstract class AbstractRound285 extends ModelCallRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 3_800;

    /** What the notes application stored, by subject and path. */
    final Map<String, String> notes = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter)
                .servlet("ask", new Ask(), "/ai/ask/*")
                .servlet("notes", new Notes(), "/ai/notes/*")
                .servlet("counter", new ByteCounterModel(), "/ai/counter/*")
                // the same endpoint where the filter does not run: what the container alone does
                .servlet("open-counter", new ByteCounterModel(), "/open/counter/*");
    }

    /** A user's question to the application (its own JSON, not a provider's). */
    static final String QUESTION = "{\"question\":" + q("Explain, in plain words and with two examples, how a"
            + " compiler turns a for loop over an array into machine code, and what loop unrolling changes. ".repeat(6)) + "}";

    /** The model's answer the application wraps. */
    static final String ANSWER = "A compiler first lowers the loop to a counter, a compare and a branch. ".repeat(60);

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /**
     * An application's question route that takes any path ({@code /ai/ask/*}, the tail its topic): one model
     * call, answered in the JSend envelope, the model's text under {@code data}, no usage (the application
     * keeps only the text).
     */
    final class Ask extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"status\":\"success\",\"data\":{\"topic\":" + q(req.getPathInfo().substring(1))
                    + ",\"answer\":" + q(ANSWER) + "}}");
        }
    }

    /**
     * A notes application whose path is the note's name ({@code /ai/notes/*}): a {@code POST} has the model
     * write the note from the prompt and stores it, answering {@code 204 No Content}.
     */
    final class Notes extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            notes.put(req.getHeader("x-user-id") + req.getPathInfo(), ANSWER);
            resp.setStatus(HttpServletResponse.SC_NO_CONTENT);
        }
    }

    /**
     * Tomcat's {@code ByteCounter} example, its listener answering with a model call: it reads the body
     * without blocking, and once all of it is read and the output is ready, calls the model with it and writes
     * the model's OpenAI chat stream with its usage chunk.
     */
    final class ByteCounterModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            AsyncContext ac = req.startAsync();
            new CounterListener(ac, req.getInputStream(), resp.getOutputStream(), req.getHeader("x-user-id"), resp);
        }
    }

    final class CounterListener implements ReadListener, WriteListener {
        private final AsyncContext ac;
        private final ServletInputStream sis;
        private final ServletOutputStream sos;
        private final String subject;
        private final HttpServletResponse resp;
        private final ByteArrayOutputStream body = new ByteArrayOutputStream();
        private volatile boolean readFinished;
        private final byte[] buffer = new byte[8192];

        CounterListener(AsyncContext ac, ServletInputStream sis, ServletOutputStream sos, String subject,
                        HttpServletResponse resp) {
            this.ac = ac;
            this.sis = sis;
            this.sos = sos;
            this.subject = subject;
            this.resp = resp;
            // as Tomcat's example: the read listener first, then the write listener
            sis.setReadListener(this);
            sos.setWriteListener(this);
        }

        @Override
        public void onDataAvailable() throws IOException {
            int read = 0;
            while (sis.isReady() && read > -1) {
                read = sis.read(buffer);
                if (read > 0) {
                    body.write(buffer, 0, read);
                }
            }
        }

        @Override
        public void onAllDataRead() throws IOException {
            readFinished = true;
            if (sos.isReady()) {
                onWritePossible();
            }
        }

        @Override
        public void onWritePossible() throws IOException {
            if (readFinished) {
                if (!body.toString(StandardCharsets.UTF_8).contains("\"messages\"")) {
                    resp.sendError(400, "no request body");
                    ac.complete();
                    return;
                }
                calls.count(subject);
                String id = "chatcmpl-bc285";
                StringBuilder stream = new StringBuilder();
                for (int i = 0; i < 4; i++) {
                    stream.append(ChatCompletions.wordEvent(id));
                }
                stream.append(ChatCompletions.usageEvent(id, PROMPT, COMPLETION)).append(ChatCompletions.DONE);
                sos.write(stream.toString().getBytes(StandardCharsets.UTF_8));
                ac.complete();
            }
        }

        @Override
        public void onError(Throwable throwable) {
            ac.complete();
        }
    }

    // ---- round 282's server business, on routes whose path is the client's

    /** {@code s} posts {@code body} to {@code path}: the answer, once its call settled. */
    private HttpResponse<String> post(String s, String path, String body) {
        return TestHttp.postJson(container.uri(path), s, body);
    }

    /** What a question at the neutral topic {@code /ai/ask/loops} is charged (one model call, answered 200). */
    private long askedAtANeutralTopic() {
        String s = subject();
        HttpResponse<String> r = post(s, "/ai/ask/loops", QUESTION);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() > 0, "a model call answered without usage is charged the estimate: " + figures(s, r, a));
        return a.used();
    }

    /**
     * The attack: on the application's route that takes any path, the client names its topic
     * {@code api/pull}, {@code api/push} or {@code api/create}. The model is called and its answer comes in the
     * JSend envelope ({@code "status": "success"}, no usage), which round 282's rule takes for Ollama's last
     * progress line. Expected: charged as the same question at any other topic (the estimate); found: released.
     */
    @ParameterizedTest
    @ValueSource(strings = {"api/pull", "api/push", "api/create"})
    void aModelAnswerInTheJsendEnvelopeAtATopicTheClientNamedIsCharged(String topic) {
        long expected = askedAtANeutralTopic();
        String s = subject();
        HttpResponse<String> r = post(s, "/ai/ask/" + topic, QUESTION);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertEquals(expected, a.used(), "POST /ai/ask/" + topic + " (a model call, answered in JSend) is charged as at"
                + " /ai/ask/loops: " + figures(s, r, a));
    }

    /**
     * The attack: a notes application's model writes the note named by the path and answers 204 (a
     * {@code POST} run for its side effect, charged the estimate by the filter's own rule); the client names its
     * note {@code api/copy}, which round 282's rule takes for Ollama's model copy. Expected: charged as a note
     * named otherwise; found: released.
     */
    @Test
    void aModelWrittenNoteNamedApiCopyAnswered204IsCharged() {
        String c = subject();
        HttpResponse<String> control = post(c, "/ai/notes/2025-05-04-standup", QUESTION);
        QuotaAccount ca = assertAnswered(c, control, 204, 1);
        String s = subject();
        HttpResponse<String> r = post(s, "/ai/notes/api/copy", QUESTION);
        QuotaAccount a = assertAnswered(s, r, 204, 1);
        assertEquals(ca.used(), a.used(), "POST /ai/notes/api/copy (a model call, answered 204) is charged as"
                + " /ai/notes/2025-05-04-standup: " + figures(s, r, a));
    }

    /** Control: a question at a neutral topic is charged (the estimate: no usage in the answer). */
    @Test
    void controlAQuestionAtANeutralTopicIsCharged() {
        askedAtANeutralTopic();
    }

    /** Control: a note named otherwise, answered 204, is charged the estimate ("a POST run for a side effect"). */
    @Test
    void controlANoteAnswered204IsCharged() {
        String s = subject();
        HttpResponse<String> r = post(s, "/ai/notes/2025-05-04-standup", QUESTION);
        QuotaAccount a = assertAnswered(s, r, 204, 1);
        assertTrue(a.used() > 0, figures(s, r, a));
    }

    // ---- round 280's replayed body, read by Tomcat's own example

    /**
     * Control: without the filter, Tomcat's {@code ByteCounter} listener gets the body, calls the model and
     * streams its answer.
     */
    @Test
    void controlWithoutTheFilterTomcatsByteCounterListenerAnswers() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/open/counter/v1/chat/completions"), s,
                CountingModel.chat(4_000, true));
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        assertEquals(1, calls.of(s));
        assertTrue(r.body().contains("[DONE]"), kind() + ": " + r.body());
    }

    /**
     * The replayed body against Tomcat's own example reader: Tomcat's {@code ByteCounter} listener behind the
     * filter gets the body, calls the model once, its client gets the stream, and it is charged its usage
     * exactly (1,200 + 3,800). Found on Tomcat: no answer at all (the connection dropped), charged 5,000. The
     * container alone calls {@code onAllDataRead} from its own dispatch after {@code doPost} returned
     * ({@code CoyoteAdapter.asyncDispatch}), when the write listener is set; the replayed body calls it inside
     * {@code setReadListener}.
     */
    @Test
    void tomcatsByteCounterListenerBehindTheFilterIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r;
        try {
            // sent once, on a connection of its own: the fixture's send would send it again on a dropped connection
            r = TestHttp.fresh().send(TestHttp.jsonPost(container.uri("/ai/counter/v1/chat/completions"), s,
                    CountingModel.chat(4_000, true)), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            QuotaAccount a = settled(s);
            throw new AssertionError(kind() + ": the client got no answer (" + e + "); model calls "
                    + calls.of(s) + ", used " + a.used() + " of " + a.limit() + " (" + ledger(s) + ")", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("[DONE]"), figures(s, r, a));
        assertEquals(PROMPT + COMPLETION, a.used(), figures(s, r, a));
    }
}
