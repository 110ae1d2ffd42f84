package io.tokenquota.servlet.breakit30;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 30 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound30 extends H2FilterRound {
    /** The usage the model reported for each subject's last call, as the endpoint saw it. */
    static final Map<String, Long> USED = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, CachedAnswers.class);
    }

    static String subject() {
        return "u30-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /**
     * A cache-friendly GET endpoint: it asks the model the question, and tags the answer with an
     * {@code ETag} of the answer's text (the part a client caches), as {@code ResponseEntity.eTag}
     * invites. Spring MVC compares the client's {@code If-None-Match} with it after the handler returned
     * (the model ran) and answers {@code 304} without the body.
     */
    @RestController
    public static class CachedAnswers {
        @GetMapping("/ask")
        public ResponseEntity<Map<String, Object>> ask(@RequestParam("q") String q,
                                                       @RequestParam(name = "think", defaultValue = "0") long think,
                                                       HttpServletRequest http) {
            called(http);
            // the model reads the question (one token a word, as the fake model counts), reasons for
            // `think` tokens (a reasoning model's hidden output) and says "OK"
            long input = q.trim().split("\\s+").length;
            long output = 1 + think;
            USED.put(String.valueOf(http.getHeader("x-user-id")), input + output);
            String text = "OK";
            Map<String, Object> usage = new LinkedHashMap<>();
            usage.put("prompt_tokens", input);
            usage.put("completion_tokens", output);
            usage.put("total_tokens", input + output);
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("answer", text);
            body.put("usage", usage);
            return ResponseEntity.ok().eTag("\"" + Integer.toHexString(text.hashCode()) + "\"").body(body);
        }
    }

    QuotaAccount account(String subject) {
        return settled(subject);
    }

    // ------------------------------------------------------------------ 1. a remembered 304 usage belongs to another call

    /**
     * The filter remembers the usage of an answer by path and ETag, so that a 304 an ETag check makes
     * of a computed answer is charged what producing it cost. The key is the path without the query and
     * without the request: a cheap call ({@code ?q=Say OK}, 3 tokens) plants the figure, and then a
     * 1,200-word question with {@code If-None-Match} of that ETag runs the model on 1,200 tokens, gets
     * "OK" again, and Spring answers 304: the filter charges the 3 remembered tokens instead of at least
     * the 304's estimate (about 2,000). Any user's cheap call plants the figure for everyone.
     */
    @Test
    void aNotModifiedAnswerIsNotChargedTheUsageOfAnotherCheaperCall() {
        String planter = subject();
        HttpResponse<String> first = TestHttp.get(container.uri("/ai/spring/ask?q=" + enc("Say OK")),
                "x-user-id", planter);
        assertEquals(200, first.statusCode(), first.body());
        String etag = first.headers().firstValue("ETag").orElseThrow();

        String s = subject();
        String big = ("word ").repeat(1_200) + "Now say OK";
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/spring/ask?q=" + enc(big)),
                "x-user-id", s, "If-None-Match", etag);
        // the endpoint does not see If-None-Match: the call is answered whole, its usage read
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s), "the model was called");
        long used = USED.get(s);
        QuotaAccount a = account(s);
        assertTrue(a.used() >= used, "the model read " + used + " tokens for this 304; the ledger charged "
                + a.used() + " (the usage remembered from another user's cheap call): " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. another user's remembered usage is charged to a victim

    /**
     * The same memory, the other way: it is shared by every subject. A hostile user asks a reasoning
     * model to think 15,000 tokens and then say "OK" (ETag of "OK", usage 15,003 remembered for the
     * path). A victim whose client revalidates its cached "OK" answer ({@code If-None-Match}) makes a
     * call that costs 3 tokens and gets a 304: the filter charges the victim the attacker's 15,003
     * tokens, 15 times the victim's own estimate, for a call it never made.
     */
    @Test
    void aNotModifiedAnswerIsNotChargedAnotherUsersPlantedUsage() {
        String attacker = subject();
        HttpResponse<String> planted = TestHttp.get(container.uri("/ai/spring/ask?think=15000&q=" + enc("Say OK")),
                "x-user-id", attacker);
        assertEquals(200, planted.statusCode(), planted.body());
        String etag = planted.headers().firstValue("ETag").orElseThrow();

        String victim = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/spring/ask?q=" + enc("Say OK")),
                "x-user-id", victim, "If-None-Match", etag);
        // the endpoint does not see If-None-Match: the call is answered whole, its usage read
        assertEquals(200, r.statusCode(), r.body());
        long used = USED.get(victim);
        QuotaAccount a = account(victim);
        long reserved = Long.parseLong(ledger(victim).replaceAll(".*RESERVED:(\\d+).*", "$1"));
        assertTrue(a.used() <= reserved, "the victim's call used " + used + " tokens (held " + reserved
                + "); the ledger charged " + a.used() + ", the figure another user's call planted: " + ledger(victim));
    }

    // ------------------------------------------------------------------ 3. TRACE echoes the request, charged

    /**
     * {@code TRACE /ai/spring/ask}: Spring's DispatcherServlet does not dispatch TRACE and the servlet
     * API's default {@code doTrace} echoes the request with 200 {@code message/http}. No handler ran and
     * no model was called; the filter charges the fallback estimate as for a 2xx without usage. (Tomcat
     * refuses TRACE at its connector, allowTrace=false, before any filter: Jetty suite only.)
     */
    void assertTraceIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri("/ai/spring/ask?q=hi"), "x-user-id", s)
                .method("TRACE", java.net.http.HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(0, calls(s), "no handler ran");
        QuotaAccount a = account(s);
        assertEquals(0, a.used(), "a TRACE echo (status " + r.statusCode() + ", " + r.headers().firstValue("Content-Type")
                + ") reached no model; the ledger charged " + a.used() + ": " + ledger(s));
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
