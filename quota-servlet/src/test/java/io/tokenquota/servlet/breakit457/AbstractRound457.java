package io.tokenquota.servlet.breakit457;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLDecoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Round 457 of issue 11 ("no model call goes unpaid"): Google's JSONP system parameter, passed on by a relay.
 *
 * <p>Round 334 hid from the endpoint the system parameters that make a Google API answer without its
 * {@code usageMetadata} or in a format the filter does not read: the field mask ({@code $fields},
 * {@code fields}, {@code X-Goog-FieldMask}) and the response format ({@code $alt}, {@code alt} other than
 * {@code json} / {@code sse}). The same table (Google Cloud, "System parameters",
 * cloud.google.com/apis/docs/system-parameters) lists one more that changes the answer's shape:
 * {@code $callback}, {@code callback}, "JSONP callback parameter". With it, Google's front end answers the
 * JSON document wrapped as a script: {@code // API callback}, a line break, then {@code name(<document>);}
 * under {@code text/javascript; charset=UTF-8}. A client of a transparent Gemini proxy that passes the query
 * string on (as it must, for {@code ?alt=sse}) adds {@code &callback=x} and unwraps the script's argument
 * itself: the usage is still there for the client, but the answer is no JSON document for the filter.
 *
 * <p>The proxy is round 334's (Smiley's HTTP-Proxy-Servlet behaviour: headers but the hop-by-hop ones and
 * the query string passed on, the provider's status, Content-Type and bytes passed back as they come); the
 * provider's answer is Gemini's {@code GenerateContentResponse} (Gemini API reference, "Generating content":
 * {@code candidates[].content.parts[].text}, {@code finishReason}, {@code usageMetadata} with
 * {@code promptTokenCount}, {@code candidatesTokenCount}, {@code thoughtsTokenCount}, {@code totalTokenCount},
 * {@code modelVersion}, {@code responseId}).
 */
abstract class AbstractRound457 extends ModelCallRound {
    static final String MODEL = "/ai/gemini/v1beta/models/gemini-2.5-flash";
    static final String ASK = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Explain how a B-tree splits a"
            + " full node when a key is inserted, and why the tree stays balanced.\"}]}]}";
    static final long PROMPT = 24;
    static final long THOUGHTS = 7_800;
    static final String TEXT = Prose.english(900).trim();
    static final long CANDIDATES = 200;
    static final long TOTAL = PROMPT + CANDIDATES + THOUGHTS;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("gemini-proxy", new GeminiProxy(), "/ai/gemini/*");
    }

    /** The Gemini answer, as the provider's front end writes it. */
    static String answer() {
        return "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + TEXT + "\"}],\"role\":\"model\"},"
                + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + PROMPT
                + ",\"candidatesTokenCount\":" + CANDIDATES + ",\"totalTokenCount\":" + TOTAL
                + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + PROMPT + "}],"
                + "\"thoughtsTokenCount\":" + THOUGHTS + "},\"modelVersion\":\"gemini-2.5-flash\","
                + "\"responseId\":\"mbJHaPnOLoa4nsEPwsKY4QY\"}";
    }

    /** The JSONP callback the upstream URL's query names ({@code $callback} or {@code callback}); null: none. */
    static String callback(String query) {
        if (query == null) {
            return null;
        }
        for (String p : query.split("&")) {
            int eq = p.indexOf('=');
            String name = URLDecoder.decode(eq < 0 ? p : p.substring(0, eq), StandardCharsets.UTF_8);
            if (eq > 0 && (name.equals("$callback") || name.equals("callback"))) {
                return URLDecoder.decode(p.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    /**
     * A transparent proxy of the Gemini API; the provider behind it is played in place: it answers the call, as
     * JSONP when the forwarded query string names a callback.
     */
    class GeminiProxy extends HttpServlet {
        private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-authenticate",
                "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade", "host", "content-length");

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            Map<String, String> upstreamHeaders = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (String name : Collections.list(req.getHeaderNames())) {
                if (!HOP_BY_HOP.contains(name.toLowerCase(Locale.ROOT))) {
                    upstreamHeaders.put(name, req.getHeader(name));
                }
            }
            upstreamHeaders.put("x-goog-api-key", "server-side-key");
            calls.count(req.getHeader("x-user-id"));
            String cb = callback(req.getQueryString());
            byte[] out;
            if (cb != null) {
                resp.setContentType("text/javascript; charset=UTF-8");
                out = ("// API callback\n" + cb + "(" + answer() + "\n);").getBytes(StandardCharsets.UTF_8);
            } else {
                resp.setContentType("application/json; charset=UTF-8");
                out = answer().getBytes(StandardCharsets.UTF_8);
            }
            resp.getOutputStream().write(out);
        }
    }

    QuotaAccount ask(String s, String path) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("\"totalTokenCount\":" + TOTAL), r.body());
        return a;
    }

    void assertChargedTheUsage(String s, QuotaAccount a, String what) {
        assertEquals(TOTAL, a.used(), kind() + ": " + what + ": Gemini billed " + TOTAL + " tokens (" + PROMPT
                + " prompt, " + THOUGHTS + " thinking, " + CANDIDATES + " answer) for this call; charged " + a.used()
                + " of " + a.limit() + ": " + ledger(s));
    }

    /** Finding: {@code callback=x} on the Google method path reaches Gemini; the answer is JSONP. */
    @Test
    void aJsonpCallbackDoesNotMakeTheCallCheap() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent?callback=cb");
        assertChargedTheUsage(s, a, "generateContent?callback=cb");
    }

    /** Finding: the {@code $}-spelt system parameter, {@code $callback} ({@code %24callback}). */
    @Test
    void aDollarCallbackSystemParameterDoesNotMakeTheCallCheap() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent?%24callback=cb");
        assertChargedTheUsage(s, a, "generateContent?$callback=cb");
    }

    /** Control: the same call without a callback is charged Gemini's usage. */
    @Test
    void controlTheCallWithoutACallbackIsChargedItsUsage() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent");
        assertChargedTheUsage(s, a, "generateContent");
    }
}
