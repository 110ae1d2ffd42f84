package io.tokenquota.servlet.breakit334;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.io.OutputStream;
import java.net.URLDecoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Round 334 of issue 11 ("no model call goes unpaid"): Google's system parameters, passed on by a relay.
 *
 * <p>The rule (docs/servlet.md, step 3, and {@code EndpointRequest}): "an endpoint that passes the client's headers
 * on to the model's API" must get an answer whose usage the filter can read, so the filter hides from it what would
 * make the answer unreadable: {@code Accept-Encoding}, {@code Range}, the conditional headers, unreadable
 * {@code Accept} media ranges. The endpoint here is the plainest such relay: a transparent proxy of the Gemini API
 * under {@code /ai/gemini/*} (a gateway adding the server's API key, as Smiley's HTTP-Proxy-Servlet,
 * {@code org.mitre.dsmiley.httpproxy.ProxyServlet}, does it: {@code copyRequestHeaders} copies every request header
 * but the hop-by-hop ones, {@code Host} and {@code Content-Length}, and {@code rewriteUrlFromRequest} keeps the
 * query string, which a Gemini proxy must pass on for {@code ?alt=sse}).
 *
 * <p>The attack: every Google API takes the system parameter "response field mask" (Google Cloud, "System
 * parameters", cloud.google.com/apis/docs/system-parameters: {@code $fields} / {@code fields} as a URL query
 * parameter, {@code X-Goog-FieldMask} as an HTTP header, "FieldMask used for response filtering"; Google's C++
 * client documents {@code FieldMaskOption}: "Google services can filter the fields in a response using the
 * X-Goog-FieldMask header"). A client that sends {@code X-Goog-FieldMask: candidates} gets Gemini's answer without
 * its {@code usageMetadata}: the filter sees a 2xx without usage and charges the estimate, the prompt plus the
 * default output budget of 1,000, while Gemini 2.5 Flash billed its thinking (on by default, a dynamic budget of up
 * to 24,576 tokens: ai.google.dev/gemini-api/docs/thinking) and its answer.
 *
 * <p>Shapes: Gemini API reference, "Generating content": {@code GenerateContentResponse} ({@code candidates[]} of
 * {@code content.parts[].text}, {@code role: "model"}, {@code finishReason}, {@code index}; {@code usageMetadata}
 * with {@code promptTokenCount}, {@code candidatesTokenCount}, {@code totalTokenCount}, {@code thoughtsTokenCount},
 * {@code promptTokensDetails}; {@code modelVersion}, {@code responseId}); {@code streamGenerateContent?alt=sse}
 * sends one such response per event, CRLF-delimited, the last candidate with its {@code finishReason}.
 */
abstract class AbstractRound334 extends ModelCallRound {
    static final String MODEL = "/ai/gemini/v1beta/models/gemini-2.5-flash";
    static final String ASK = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Explain how a B-tree splits a"
            + " full node when a key is inserted, and why the tree stays balanced.\"}]}]}";
    static final long PROMPT = 24;
    static final long THOUGHTS = 7_800;
    /** The answer's text: about 200 tokens of prose. */
    static final String TEXT = Prose.english(900).trim();
    static final long CANDIDATES = 200;
    static final long TOTAL = PROMPT + CANDIDATES + THOUGHTS;
    /** What a client sends to keep only the answer (top-level field paths, comma separated). */
    static final String MASK = "candidates,modelVersion,responseId";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("gemini-proxy", new GeminiProxy(), "/ai/gemini/*");
    }

    /**
     * A transparent proxy of the Gemini API: the client's headers (but the hop-by-hop ones, {@code Host} and
     * {@code Content-Length}) and query string passed on with the server's API key, the provider's status,
     * Content-Type and bytes passed back as they come.
     */
    class GeminiProxy extends HttpServlet {
        private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-authenticate",
                "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade", "host", "content-length");

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            Map<String, String> upstreamHeaders = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (String name : Collections.list(req.getHeaderNames())) {
                if (!HOP_BY_HOP.contains(name.toLowerCase(Locale.ROOT))) {
                    upstreamHeaders.put(name, req.getHeader(name));
                }
            }
            upstreamHeaders.put("x-goog-api-key", "server-side-key");
            calls.count(req.getHeader("x-user-id"));
            String method = req.getPathInfo().substring(req.getPathInfo().lastIndexOf(':') + 1);
            Set<String> mask = fieldMask(upstreamHeaders.get("X-Goog-FieldMask"), req.getQueryString());
            OutputStream out;
            if (method.equals("streamGenerateContent")) {
                resp.setContentType("text/event-stream");
                out = resp.getOutputStream();
                String[] words = TEXT.split(" ");
                int parts = 4;
                int per = (words.length + parts - 1) / parts;
                for (int i = 0; i < parts; i++) {
                    String piece = String.join(" ", java.util.Arrays.asList(words)
                            .subList(i * per, Math.min(words.length, (i + 1) * per))) + (i < parts - 1 ? " " : "");
                    boolean last = i == parts - 1;
                    long candidates = last ? CANDIDATES : (CANDIDATES * (i + 1)) / parts;
                    String chunk = masked(answer(piece, last, candidates), mask);
                    out.write(("data: " + chunk + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } else {
                resp.setContentType("application/json; charset=UTF-8");
                out = resp.getOutputStream();
                out.write(masked(answer(TEXT, true, CANDIDATES), mask).getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /** Google's response field mask from the header, else the {@code $fields} / {@code fields} query parameter; empty: all. */
    static Set<String> fieldMask(String header, String query) {
        String value = header;
        if (value == null && query != null) {
            for (String p : query.split("&")) {
                int eq = p.indexOf('=');
                String name = URLDecoder.decode(eq < 0 ? p : p.substring(0, eq), StandardCharsets.UTF_8);
                if (eq > 0 && (name.equals("$fields") || name.equals("fields"))) {
                    value = URLDecoder.decode(p.substring(eq + 1), StandardCharsets.UTF_8);
                }
            }
        }
        Set<String> top = new LinkedHashSet<>();
        if (value != null) {
            for (String path : value.split(",")) {
                String p = path.trim();
                int end = p.length();
                for (char c : new char[] {'.', '/', '('}) {
                    int at = p.indexOf(c);
                    if (at >= 0) end = Math.min(end, at);
                }
                if (end > 0) top.add(p.substring(0, end));
            }
        }
        return top;
    }

    /** A GenerateContentResponse's top-level members, in Gemini's order. */
    static Map<String, String> answer(String text, boolean last, long candidates) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("candidates", "[{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},"
                + (last ? "\"finishReason\":\"STOP\"," : "") + "\"index\":0}]");
        m.put("usageMetadata", "{\"promptTokenCount\":" + PROMPT + ",\"candidatesTokenCount\":" + candidates
                + ",\"totalTokenCount\":" + (PROMPT + candidates + THOUGHTS) + ",\"promptTokensDetails\":"
                + "[{\"modality\":\"TEXT\",\"tokenCount\":" + PROMPT + "}],\"thoughtsTokenCount\":" + THOUGHTS + "}");
        m.put("modelVersion", "\"gemini-2.5-flash\"");
        m.put("responseId", "\"mbJHaPnOLoa4nsEPwsKY4QY\"");
        return m;
    }

    /** The response with only the masked fields (all when the mask is empty), as Google's front end returns it. */
    static String masked(Map<String, String> members, Set<String> mask) {
        List<String> kept = new ArrayList<>();
        members.forEach((name, value) -> {
            if (mask.isEmpty() || mask.contains(name) || mask.contains("*")) {
                kept.add("\"" + name + "\":" + value);
            }
        });
        return "{" + String.join(",", kept) + "}";
    }

    /** {@code s} asks {@code path} through the proxy with {@code headers}: answered 200 by one model call, the account. */
    QuotaAccount ask(String s, String path, String... headers) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK, headers);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("B-tree") || r.body().contains("committee"), r.body());
        return a;
    }

    void assertChargedTheUsage(String s, QuotaAccount a, String what) {
        assertEquals(TOTAL, a.used(), kind() + ": " + what + ": Gemini billed " + TOTAL + " tokens (" + PROMPT
                + " prompt, " + THOUGHTS + " thinking, " + CANDIDATES + " answer) for this call; charged " + a.used()
                + " of " + a.limit() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: {@code X-Goog-FieldMask: candidates,…} reaches Gemini through the proxy, which drops
     * {@code usageMetadata}: the call is charged the estimate (prompt + the default budget of 1,000), not the
     * 8,024 tokens Gemini billed.
     */
    @Test
    void aFieldMaskHeaderThatDropsUsageMetadataDoesNotMakeTheCallCheap() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent", "X-Goog-FieldMask", MASK);
        assertChargedTheUsage(s, a, "generateContent with X-Goog-FieldMask: " + MASK);
    }

    /** Finding: the same header on {@code streamGenerateContent?alt=sse}: each event without its usage. */
    @Test
    void aFieldMaskHeaderOnAStreamDoesNotMakeTheCallCheap() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":streamGenerateContent?alt=sse", "X-Goog-FieldMask", MASK);
        assertChargedTheUsage(s, a, "streamGenerateContent?alt=sse with X-Goog-FieldMask: " + MASK);
    }

    /**
     * Finding: the system parameter as a query parameter, {@code $fields} ({@code %24fields}), which no application
     * names for itself: the proxy passes the query string on (it must, for {@code alt=sse}).
     */
    @Test
    void aFieldsSystemParameterInTheQueryDoesNotMakeTheCallCheap() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent?%24fields=" + MASK.replace(",", "%2C"));
        assertChargedTheUsage(s, a, "generateContent?$fields=" + MASK);
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same call without a field mask is charged Gemini's usage. */
    @Test
    void controlTheCallWithoutAFieldMaskIsChargedItsUsage() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent");
        assertChargedTheUsage(s, a, "generateContent");
    }

    /** Control: the stream without a field mask is charged Gemini's usage. */
    @Test
    void controlTheStreamWithoutAFieldMaskIsChargedItsUsage() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":streamGenerateContent?alt=sse");
        assertChargedTheUsage(s, a, "streamGenerateContent?alt=sse");
    }

    /** Control: a field mask that keeps the usage ({@code *}, Google's "all fields") is charged it. */
    @Test
    void controlAFieldMaskKeepingTheUsageIsChargedIt() {
        String s = subject();
        QuotaAccount a = ask(s, MODEL + ":generateContent", "X-Goog-FieldMask", "candidates,usageMetadata");
        assertChargedTheUsage(s, a, "generateContent with X-Goog-FieldMask: candidates,usageMetadata");
        assertFalse(TEXT.contains("\""), "the prose needs no escaping");
    }
}
