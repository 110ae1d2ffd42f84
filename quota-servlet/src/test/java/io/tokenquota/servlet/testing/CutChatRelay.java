package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * An OpenAI chat relay passing the provider's stream on as it comes ({@code include_usage}: the usage
 * would come in the last chunk), cut by its client: it writes the answer's words, then {@link #END}, and
 * waits until the client has hung up ({@link #postAndHangUp}); then its keep-alive comments fail and it
 * cancels the upstream call. The provider has read (and bills) the whole prompt by then, and the answer
 * carried no usage: the call is charged its estimate, or the text it carried.
 */
public final class CutChatRelay extends HttpServlet {
    /** The last thing the relay writes before its client hangs up. */
    public static final String END = "END-OF-TEXT";

    private final ModelCalls calls;
    private final String id;
    private final String answer;
    /** Per subject: released once its client has hung up. */
    private final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();

    /** A relay counting its calls in {@code calls}, answering {@code answer} in chunks of the completion {@code id}. */
    public CutChatRelay(ModelCalls calls, String id, String answer) {
        this.calls = calls;
        this.id = id;
        this.answer = answer;
    }

    /** Posts {@code body} as {@code subject}, reads up to {@link #END} and hangs up: what the client read. */
    public String postAndHangUp(int port, String path, String subject, String body) throws IOException {
        try {
            return TestHttp.postAndHangUpAfter(port, path, subject, body, END);
        } finally {
            latch(subject).countDown();
        }
    }

    private CountDownLatch latch(String subject) {
        return hungUp.computeIfAbsent(subject, s -> new CountDownLatch(1));
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String subject = req.getHeader("x-user-id");
        calls.count(subject);
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        String head = "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                + "\"model\":\"gpt-4o-mini\",";
        for (String word : answer.split(" ")) {
            out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word + " \"},"
                    + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
        }
        out.write(("data: {\"mark\":\"" + END + "\"}\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        try {
            latch(subject).await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // the client has gone: keep-alive comments fail, and the relay cancels the upstream call
        byte[] ping = (": ping " + "x".repeat(4000) + "\n\n").getBytes(StandardCharsets.UTF_8);
        try {
            for (int i = 0; i < 2000; i++) {
                out.write(ping);
                out.flush();
            }
        } catch (IOException gone) {
            // stopped relaying
        }
    }
}
