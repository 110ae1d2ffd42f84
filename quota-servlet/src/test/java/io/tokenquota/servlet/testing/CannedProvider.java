package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.function.Predicate;

/**
 * A provider's whole API behind a relay, as a test sets it: for each subject (the {@code x-user-id}
 * header) and {@code METHOD path} (the request URI, without its query), the answers it gives in turn, the
 * last one repeated; 404 for any other request. The requests whose path {@code runsAModel} accepts are
 * counted as model calls ({@link #calls}).
 */
public final class CannedProvider extends HttpServlet {
    private final transient Map<String, Deque<String[]>> answers = new ConcurrentHashMap<>();
    private final transient ModelCalls calls;
    private final transient Predicate<String> runsAModel;

    public CannedProvider(ModelCalls calls, Predicate<String> runsAModel) {
        this.calls = calls;
        this.runsAModel = runsAModel;
    }

    /** {@code subject}'s {@code method path} is answered {@code jsons} in turn, as {@code application/json}. */
    public void answer(String subject, String method, String path, String... jsons) {
        Deque<String[]> queue = new ConcurrentLinkedDeque<>();
        for (String json : jsons) {
            queue.add(new String[] {"200", "application/json; charset=UTF-8", json});
        }
        answers.put(subject + " " + method + " " + path, queue);
    }

    /** {@code subject}'s {@code method path} is answered {@code status}, {@code type} and {@code body} (each may be null). */
    public void answerRaw(String subject, String method, String path, int status, String type, String body) {
        answers.put(subject + " " + method + " " + path,
                new ConcurrentLinkedDeque<>(List.<String[]>of(new String[] {String.valueOf(status), type, body})));
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String path = req.getRequestURI();
        String subject = req.getHeader("x-user-id");
        if (runsAModel.test(path)) {
            calls.count(subject);
        }
        Deque<String[]> queue = answers.get(subject + " " + req.getMethod() + " " + path);
        String[] answer = queue == null ? null : queue.size() > 1 ? queue.pollFirst() : queue.peekFirst();
        if (answer == null) {
            resp.sendError(404);
            return;
        }
        resp.setStatus(Integer.parseInt(answer[0]));
        if (answer[1] != null) {
            resp.setContentType(answer[1]);
        }
        if (answer[2] != null) {
            resp.getOutputStream().write(answer[2].getBytes(StandardCharsets.UTF_8));
        }
    }
}
