package io.tokenquota.servlet.breakit21;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;

import jakarta.servlet.http.HttpServletRequest;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;


import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;




/**
 * Round 21 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound21 extends H2FilterRound {
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();

    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    static Map<String, Object> completion(String content, long prompt, long completion) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", "chatcmpl-21");
        out.put("object", "chat.completion");
        out.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", content),
                "finish_reason", "stop")));
        out.put("usage", usage);
        return out;
    }

    /** Ordinary Spring controllers that call the model and return the answer with a validator. */
    @RestController
    public static class AiController {
        /** A digest of a document the model writes, with the time it was generated as Last-Modified. */
        @GetMapping("/digest")
        public ResponseEntity<Map<String, Object>> digest(@RequestParam("doc") String doc, HttpServletRequest req) {
            called(req);
            return ResponseEntity.ok().lastModified(System.currentTimeMillis()).body(completion("Digest of " + doc, 40, 6_000));
        }


        /**
         * The usual quick proxy: the upstream's answer relayed as a String (a RestClient or RestTemplate
         * {@code body(String.class)}). Spring picks the response's Content-Type from the client's Accept.
         */
        @PostMapping("/proxy")
        public String proxy(@RequestBody String body, HttpServletRequest req) throws Exception {
            called(req);
            // no max_tokens asked: the model wrote a long answer
            return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(completion("Once upon a time...", 40, 12_000));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, AiController.class);
    }

    static String subject() {
        return "u21-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> get(String path, String subject, String... headers) {
        String[] all = new String[headers.length + 2];
        all[0] = "x-user-id";
        all[1] = subject;
        System.arraycopy(headers, 0, all, 2, headers.length);
        return TestHttp.get(container.uri(path), all);
    }

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    /**
     * Spring MVC evaluates the client's preconditions against the Last-Modified of the ResponseEntity a
     * GET handler returned, after the handler ran: {@code If-Unmodified-Since} in the past makes it
     * answer 412 with no body. The model wrote a 6,040-token answer; the filter reads a 4xx without
     * usage as "the model was not called" and releases the hold. Control: the same GET without the
     * header is charged its usage.
     */
    @Test
    void springPreconditionFailedAfterTheModelCallIsNotFree() {
        String control = subject();
        HttpResponse<String> ok = get("/ai/spring/digest?doc=annual-report", control);
        assertEquals(200, ok.statusCode());
        assertEquals(6_040, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = get("/ai/spring/digest?doc=annual-report", s,
                "If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT");
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s), "the controller called the model");
        // the endpoint does not see If-Unmodified-Since: the call is answered whole, its usage read
        assertEquals(200, r.statusCode());
        assertTrue(a.used() > 0, "the model wrote the digest before Spring answered 412 for If-Unmodified-Since;"
                + " the call must not be free, charged " + a.used() + " (" + ledger(s) + ")");
    }


    /**
     * A Spring controller that relays the upstream's JSON answer as a {@code String} answers in the
     * media type the client's {@code Accept} asks for. {@code Accept: text/plain} makes the same OpenAI
     * answer (usage 12,040) go out as text/plain, which the sniffer never reads: the call is charged
     * the estimate (input + the 1,000 default budget). Control: {@code Accept: application/json} is
     * charged 12,040.
     */
    @Test
    void clientAcceptTextPlainHidesTheUsageOfARelayedAnswer() {
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}";
        String control = subject();
        HttpResponse<String> ok = post("/ai/spring/proxy", control, body, "Accept", "application/json");
        assertEquals(200, ok.statusCode());
        assertEquals(12_040, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/proxy", s, body, "Accept", "text/plain");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("\"total_tokens\":12040"), r.body());
        assertEquals(1, calls(s));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the same answer reported 12,040 tokens; the client's Accept header made it"
                + " text/plain and it was charged " + a.used() + " (" + ledger(s) + ")");
    }

    /**
     * The same relay with {@code Accept: text/event-stream}: Spring labels the plain JSON answer an
     * event stream, the sniffer splits it into events, finds no {@code data:} line and no usage, and
     * the 12,040-token answer is charged the estimate.
     */
    @Test
    void clientAcceptEventStreamHidesTheUsageOfARelayedAnswer() {
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}";
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/proxy", s, body, "Accept", "text/event-stream");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("\"total_tokens\":12040"), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"),
                r.headers().map().toString());
        assertEquals(1, calls(s));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the answer reported 12,040 tokens; the client's Accept header labelled it"
                + " an event stream and it was charged " + a.used() + " (" + ledger(s) + ")");
    }
}
