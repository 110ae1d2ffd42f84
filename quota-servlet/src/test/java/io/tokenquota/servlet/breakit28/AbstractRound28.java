package io.tokenquota.servlet.breakit28;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static io.tokenquota.servlet.testing.RelayedAnswers.completionJson;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpUpgradeHandler;
import jakarta.servlet.http.WebConnection;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 28 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * settlement, dispatches and connection upgrades rather than the request estimate.
 */
abstract class AbstractRound28 extends H2FilterRound {
    static final long PROMPT = 40;
    static final long OUTPUT = 4_960;
    static final long CALL = PROMPT + OUTPUT;

    /** The model: answers one chat completion of {@value #CALL} tokens and reports it through the attribute too. */
    public static class Model extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            called(req);
            // a well-behaved endpoint: it reports its call's usage where the filter's docs ask it to
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, CALL);
            resp.setContentType("application/json");
            resp.getWriter().write(completionJson("Summary.", PROMPT, OUTPUT));
        }
    }

    /**
     * An unprotected page that renders one AI summary per document the client lists
     * ({@code ?docs=a,b,c}) by including the protected model endpoint once per document, as a JSP's
     * {@code <jsp:include page="/ai/...">} in a loop does.
     */
    public static class SummaryPage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            String[] docs = String.valueOf(req.getParameter("docs")).split(",");
            for (String doc : docs) {
                req.getRequestDispatcher("/ai/model?doc=" + doc).include(req, resp);
            }
        }
    }

    /**
     * A relay of a realtime session (OpenAI's Realtime API is a WebSocket session): the protected
     * path upgrades the connection, and every line the client sends afterwards is a model call whose
     * {@code response.done} event carries its usage.
     */
    public static class RealtimeRelay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            if (!"realtime".equalsIgnoreCase(req.getHeader("Upgrade"))) {
                resp.sendError(426);
                return;
            }
            resp.setStatus(101);
            resp.setHeader("Upgrade", "realtime");
            resp.setHeader("Connection", "Upgrade");
            req.upgrade(Session.class);
        }
    }

    public static class Session implements HttpUpgradeHandler {
        volatile String subject;

        @Override
        public void init(WebConnection connection) {
            Thread t = new Thread(() -> {
                try (InputStream in = connection.getInputStream(); OutputStream out = connection.getOutputStream()) {
                    BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                    // the relay's session starts with the user it belongs to (Jetty runs init() inside upgrade())
                    subject = lines.readLine();
                    String line;
                    while ((line = lines.readLine()) != null && !line.equals("bye")) {
                        called(subjectOnly(subject));
                        String done = "{\"type\":\"response.done\",\"response\":{\"usage\":{\"total_tokens\":" + CALL
                                + ",\"input_tokens\":" + PROMPT + ",\"output_tokens\":" + OUTPUT + "}}}\n";
                        out.write(done.getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                } catch (Exception e) {
                    // the client went away
                } finally {
                    try {
                        connection.close();
                    } catch (Exception ignored) {
                        // closing anyway
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void destroy() {
        }
    }

    /** Only what {@link io.tokenquota.servlet.testing.RelayedAnswers#called} reads: the subject header. */
    static HttpServletRequest subjectOnly(String subject) {
        return (HttpServletRequest) java.lang.reflect.Proxy.newProxyInstance(HttpServletRequest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class},
                (proxy, method, args) -> "getHeader".equals(method.getName()) ? subject : null);
    }

    /**
     * An upload endpoint taking a file and its request as a JSON text field ({@code payload}), as
     * {@code curl -F payload='{...}' -F file=@doc.txt} sends it (no Content-Type on the field) and
     * a servlet or a Spring {@code @RequestParam String payload} reads it with an ObjectMapper.
     */
    public static class PayloadUpload extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            com.fasterxml.jackson.databind.JsonNode payload =
                    new com.fasterxml.jackson.databind.ObjectMapper().readTree(req.getParameter("payload"));
            called(req);
            long output = payload.path("max_tokens").asLong(1_000) * payload.path("n").asLong(1);
            resp.setContentType("application/json");
            resp.getWriter().write(completionJson("Summary of the file.", PROMPT, output));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Model(), "/ai/model")
                .servlet("realtime", new RealtimeRelay(), "/ai/realtime")
                .servlet("page", new SummaryPage(), "/page/summaries")
                .multipartServlet("upload", new PayloadUpload(),
                        new jakarta.servlet.MultipartConfigElement("", 8 << 20, 8 << 20, 0), "/ai/upload");
    }

    static String subject() {
        return "u28-" + UUID.randomUUID().toString().substring(0, 12);
    }

    // ------------------------------------------------------------------ 1. one page, several included calls

    /**
     * The docs promise that "a page that includes the model's answer is held and charged like a
     * request". A page that includes the model three times makes three calls, each reported through
     * the attribute; the filter handles the request once (its {@code HANDLED} mark stays set after the
     * first include settled), so the second and third includes run unheld and uncharged.
     */
    @Test
    void everyIncludedModelCallOfAnUnprotectedPageIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/page/summaries?docs=a,b,c"), "x-user-id", s);
        QuotaAccount a = settled(s);
        assertEquals(calls(s) * CALL, a.used(), "the page made " + calls(s) + " model calls of " + CALL
                + " tokens (status " + r.statusCode() + "), each reported through "
                + QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE + ", were charged " + a.used() + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 2. an upgraded connection on a protected path

    /**
     * A client upgrades a protected path ({@code GET /ai/realtime}, {@code Connection: Upgrade}) and runs
     * model calls over the upgraded connection. The filter holds the fallback, sees a 101 "without
     * usage" when the chain returns (before the container even hands the connection to the upgrade
     * handler), charges the 1,000-token fallback and is gone; every call of the session after that is
     * free. Six calls of 5,000 tokens on a 20,000-token allowance are all served. (Tomcat runs the
     * servlet API's {@code upgrade()}; Jetty 12.1 answers 101 without handing over the connection, so
     * no model is reached there and the test runs in the Tomcat suite only.)
     */
    void assertUpgradedSessionCharged() throws Exception {
        String s = subject();
        int asked = 6;
        int answered = 0;
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /ai/realtime HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: realtime\r\n"
                    + "x-user-id: " + s + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String head = readHead(in);
            if (head.startsWith("HTTP/1.1 101")) {
                BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                out.write((s + "\n").getBytes(StandardCharsets.UTF_8));
                for (int i = 0; i < asked; i++) {
                    out.write(("{\"type\":\"response.create\",\"n\":" + i + "}\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    String done = lines.readLine();
                    if (done == null) {
                        break;
                    }
                    answered++;
                }
                out.write("bye\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
        QuotaAccount a = settled(s);
        long usedByModel = (long) calls(s) * CALL;
        assertEquals(usedByModel, a.used(),
                "over the upgraded connection the model answered " + answered + " calls (" + usedByModel
                        + " tokens, on a " + ALLOWANCE + "-token allowance); the ledger charged " + a.used() + " ("
                        + ledger(s) + ")");
    }

    static String readHead(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            sb.append((char) c);
            if (sb.length() >= 4 && sb.substring(sb.length() - 4).equals("\r\n\r\n")) {
                break;
            }
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ 3. the request as a JSON text field

    static HttpResponse<String> multipart(String path, String subject, String payload, String payloadType) {
        String boundary = "----b28" + UUID.randomUUID();
        String body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"payload\"\r\n"
                + (payloadType == null ? "" : "Content-Type: " + payloadType + "\r\n") + "\r\n" + payload + "\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc.txt\"\r\n"
                + "Content-Type: text/plain\r\n\r\nA short document.\r\n--" + boundary + "--\r\n";
        return TestHttp.post(container().uri(path), body.getBytes(StandardCharsets.UTF_8), "x-user-id", subject,
                "Content-Type", "multipart/form-data; boundary=" + boundary);
    }

    static AbstractRound28 current;

    static io.tokenquota.servlet.testing.EmbeddedContainer container() {
        return current.container;
    }

    @org.junit.jupiter.api.BeforeEach
    void remember() {
        current = this;
    }

    /**
     * The same request JSON, as a part labelled {@code application/json}, is refused on the
     * 20,000-token allowance (8 x 16,000 output); sent as an unlabelled text field (what
     * {@code curl -F payload=...}, browsers' {@code FormData.append} of a string and most HTTP
     * clients send), its budget and {@code n} are not read: the field is text, held with the
     * default 1,000-token output, and the endpoint asks the model for 128,000 tokens.
     */
    @Test
    void aJsonRequestInAnUnlabelledMultipartFieldIsHeldForItsBudget() {
        String json = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the file.\"}],"
                + "\"max_tokens\":16000,\"n\":8}";
        String c = subject();
        HttpResponse<String> cr = multipart("/ai/upload", c, json, "application/json");
        assertEquals(429, cr.statusCode(), "control: the labelled part is refused: " + cr.body());

        String s = subject();
        HttpResponse<String> r = multipart("/ai/upload", s, json, null);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "the endpoint asked the model for 128,000 output tokens on a " + ALLOWANCE
                + "-token allowance and was served (" + r.statusCode() + "); charged " + a.used() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }
}
