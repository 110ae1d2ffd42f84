package io.tokenquota.servlet.breakit351;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 351 of issue 11 ("no model call goes unpaid"), a new hostile user: round 336's rule ("a client that hung
 * up while the answer is one JSON document that is not a stream does not fail the endpoint's write ... the
 * endpoint writes on to the end of its document and its usage", docs/servlet.md) holds only "under no stream's
 * label: not {@code text/event-stream}, NDJSON, JSON lines or {@code application/json-seq}"
 * ({@code UsageSniffer.oneDocument}, {@code streamLabel}). But on the commonest relay, the label is the client's
 * to choose: a Spring MVC {@code @RestController} without {@code produces} returns the provider's completion
 * (here as the {@code Map} an HTTP client parsed; the OpenAI SDK's {@code ChatCompletion} is written the same
 * way), and Spring's content negotiation writes it with {@code MappingJackson2HttpMessageConverter}, whose
 * supported types are {@code application/json} and {@code application/*+json} (Spring Framework,
 * {@code MappingJackson2HttpMessageConverter}'s constructor), under the most specific type the client's
 * {@code Accept} names ({@code AbstractMessageConverterMethodProcessor.writeWithMessageConverters}). A client
 * that sends {@code Accept: application/stream+json} (Spring's own former {@code MediaType.APPLICATION_STREAM_JSON})
 * gets the very same one JSON document labelled as a stream: the filter takes out of {@code Accept} only the
 * formats it cannot read (XML, YAML, CBOR...), and this one is JSON.
 *
 * <p>The provider (outside the protected prefix) is OpenAI's Chat Completions endpoint, "The chat completion
 * object" of the API reference ({@code usage} after {@code choices}, as the API sends it): a long answer, about
 * 200,000 characters (44,000 completion tokens) for a 1,200-token prompt. The model finishes before a byte of the
 * document is written, so the client's hang-up (its own timeout, or on purpose) cannot stop the model's work:
 * "usage seen, charge it (also after ... disconnect)".
 */
abstract class AbstractRound351 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final ObjectMapper JSON = new ObjectMapper();
    static final long IN = 1_200;
    static final long OUT = 44_000;
    static final long CALL = IN + OUT;
    /** The answer's text: about 200,000 characters of English prose (some 44,000 tokens). */
    static final String STORY = Prose.english(200_000);
    /** Room for the call's usage (the hold itself is the input and the default budget). */
    static final long PLAN = 200_000;

    /** Per subject: the provider holds its run until the client has gone. */
    static final Map<String, CountDownLatch> GATE = new ConcurrentHashMap<>();
    /** Per subject: the provider's run has started (the model is at work). */
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();

    AbstractRound351() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("provider", new Provider(), "/upstream/*")
                .servlet("spring", SpringMvc.dispatcher(Proxy.class), SpringMvc.MAPPING)
                .onStartup(quota::registerByServletName);
    }

    /**
     * The application: an OpenAI-compatible proxy as Spring MVC's guides write one, no {@code produces}: it posts
     * the client's call to OpenAI and returns the parsed completion (a {@code LinkedHashMap}: the provider's order,
     * {@code usage} last) for Spring to write with Jackson.
     */
    @RestController
    public static class Proxy {
        @PostMapping(path = "/v1/chat/completions")
        public Map<String, Object> chat(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                        HttpServletRequest req) throws IOException, InterruptedException {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + req.getLocalPort() + "/upstream/openai/chat/completions"))
                    .header("Content-Type", "application/json").header("x-subject", user)
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
                    HttpResponse.BodyHandlers.ofString());
            return JSON.readValue(r.body(), new TypeReference<LinkedHashMap<String, Object>>() { });
        }
    }

    /** OpenAI's Chat Completions endpoint: counts each run under the application's {@code x-subject}. */
    static class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-subject");
            CALLS.count(s);
            CountDownLatch started = STARTED.get(s);
            if (started != null) {
                started.countDown();
            }
            CountDownLatch gate = GATE.get(s);
            if (gate != null) {
                try {
                    gate.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            String json = "{\"id\":\"chatcmpl-" + UUID.randomUUID().toString().replace("-", "") + "\","
                    + "\"object\":\"chat.completion\",\"created\":1764900000,\"model\":\"gpt-4o-2024-08-06\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + STORY + "\","
                    + "\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + IN + ",\"completion_tokens\":" + OUT + ",\"total_tokens\":"
                    + CALL + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                    + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_351\"}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write me a very long report on the committee's quarterly results.\"}]}";

    /**
     * The client of {@code s} posts the call with {@code accept} on a raw connection and, once the model is at
     * work, resets the connection (its own timeout, or on purpose); then the model finishes and the application
     * writes the completion to the connection that is gone.
     */
    void askAndHangUp(String s, String accept) throws Exception {
        store.setPlan(s, PLAN);
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        GATE.put(s, gate);
        STARTED.put(s, started);
        byte[] body = ASK.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /ai/spring/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "x-user-id: " + s + "\r\nAccept: " + accept + "\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            assertTrue(started.await(10, TimeUnit.SECONDS), "the model call started");
            socket.setSoLinger(true, 0);
        } finally {
            // the client is gone: the model finishes its answer
            gate.countDown();
        }
    }

    void assertChargedTheUsage(String s, String what) throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, CALL);
        assertAll(() -> assertEquals(1, CALLS.of(s), "model calls"),
                () -> assertEquals(CALL, a.used(), kind() + ": " + what + ": one model call ran to its end, billed "
                        + CALL + " tokens (usage " + IN + " + " + OUT + ", written by the application after the"
                        + " client had gone), charged " + a.used() + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ finding

    /**
     * Finding: the client sends {@code Accept: application/stream+json} and hangs up while the model writes. Spring
     * writes the one completion document under {@code application/stream+json}; the filter takes that label for a
     * stream's and fails the endpoint's write, so Jackson stops before {@code usage}, and the call is charged its
     * hold or the text seen before the failure, not the 45,200 tokens the provider billed.
     */
    @Test
    void aWholeAnswerLabelledAsAStreamByTheClientsAcceptIsChargedItsUsageAfterAHangUp() throws Exception {
        String s = subject();
        askAndHangUp(s, "application/stream+json");
        assertChargedTheUsage(s, "Accept: application/stream+json, then the client hung up");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same call and hang-up with {@code Accept: application/json}: round 336's rule, charged its usage. */
    @Test
    void controlTheSameHangUpUnderAcceptJsonIsChargedItsUsage() throws Exception {
        String s = subject();
        askAndHangUp(s, "application/json");
        assertChargedTheUsage(s, "Accept: application/json, then the client hung up");
    }

    /** Control: {@code Accept: application/stream+json} read to its end: the usage is read and charged. */
    @Test
    void controlTheStreamJsonLabelReadToItsEndIsChargedItsUsage() throws Exception {
        String s = subject();
        store.setPlan(s, PLAN);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/v1/chat/completions"), s, ASK,
                "Accept", "application/stream+json");
        assertEquals(200, r.statusCode(), r.body().length() > 300 ? r.body().substring(0, 300) : r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/stream+json"),
                "Spring labelled the document as the client's Accept asked: " + r.headers().map());
        assertChargedTheUsage(s, "Accept: application/stream+json, read to its end");
    }
}
