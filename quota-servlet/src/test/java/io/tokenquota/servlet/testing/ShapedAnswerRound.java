package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.StringJoiner;
import java.util.function.IntFunction;

/**
 * A round whose model, at {@code /ai/{shape}}, answers one long text ({@link #TEXT}, about 4,400 tokens by
 * the default estimator) in the shape the path names and without usage: a whole JSON answer
 * ({@link #body}), or, for the shapes a round streams or cuts ({@link #answered}), whatever that writes.
 * Each {@code POST} is a model call ({@link #calls}); a {@code GET} reads what a round stores ({@link #read}).
 */
public abstract class ShapedAnswerRound extends H2FilterRound {
    /** About 4,400 tokens of prose by the default estimator (28,000 characters). */
    public static final String TEXT = Prose.english(28_000);

    protected final ModelCalls calls = new ModelCalls();

    /** {@code s} as a JSON string. */
    public static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    /** A JSON array of {@code n} elements, the {@code i}-th {@code element.apply(i)}: a tokenizer's token list. */
    public static String list(int n, IntFunction<String> element) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (int i = 0; i < n; i++) {
            j.add(element.apply(i));
        }
        return j.toString();
    }

    /** The {@code i}-th of {@code n} equal slices of {@link #TEXT}, the last one taking the rest. */
    public static String slice(int i, int n) {
        int size = TEXT.length() / n;
        return TEXT.substring(i * size, i == n - 1 ? TEXT.length() : (i + 1) * size);
    }

    /** Posts {@code request} to {@code path} as {@code s}: answered 200 after one model call; what {@code s} is charged. */
    protected long chargedOneCall(String path, String s, String request) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, request);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * The count rounds' finding (rounds 472, 477, 482): the model's answer in {@code shape} at an id naming no count
     * ({@code /ai/{shape}-invoice}) is charged its estimate (above 1,000), and the same answer at the id ending
     * {@code /tokenize} must be charged as much. {@code round} prefixes the subjects; {@code what} names the call.
     */
    protected void assertChargedAsAtAnAppId(String round, String shape, String request, String what) {
        String c = round + "-ctl-" + shape + "-" + kind() + "-" + System.nanoTime();
        long expected = chargedOneCall("/ai/" + shape + "-invoice", c, request);
        assertTrue(expected > 1_000, kind() + ": " + expected + " " + ledger(c));
        String s = round + "-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape + "-invoice/tokenize", s, request);
        assertEquals(expected, used, kind() + ": a model call (" + what + ") charged " + used + ", should be "
                + expected + " as at /ai/" + shape + "-invoice; " + ledger(s));
    }

    /** The count rounds' control: each answer in {@code shapes} at an id naming no count is charged its estimate. */
    protected void assertChargedTheirEstimateAtAnAppId(String round, String request, String... shapes) {
        for (String shape : shapes) {
            String s = round + "-ctl0-" + shape + "-" + kind() + "-" + System.nanoTime();
            long used = chargedOneCall("/ai/" + shape + "-invoice", s, request);
            assertTrue(used > 1_000, kind() + " " + shape + ": " + used + " " + ledger(s));
        }
    }

    /** The count rounds' control the other way: each genuine count in {@code shapes} at {@code /tokenize} is released. */
    protected void assertGenuineCountsReleased(String round, String request, String... shapes) {
        for (String shape : shapes) {
            String s = round + "-gen-" + shape + "-" + kind() + "-" + System.nanoTime();
            long used = chargedOneCall("/ai/" + shape + "-gw/tokenize", s, request);
            assertEquals(0, used, kind() + " " + shape + ": a genuine count charged " + used + "; " + ledger(s));
        }
    }

    /** The whole answer in {@code shape}, as JSON. */
    protected abstract String body(String shape);

    /** Writes the answer of a shape that is not a whole JSON answer (a stream, a cut stream); false for the others. */
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        return false;
    }

    /** Answers a read of {@code path} (an application's stored data: no model call); false for 404. */
    protected boolean read(String path, HttpServletResponse resp) throws IOException {
        return false;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Model(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    private final class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String shape = req.getPathInfo().substring(1);
            if (answered(shape, resp)) {
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(body(shape).getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!read(req.getPathInfo(), resp)) {
                resp.sendError(404);
            }
        }
    }
}
