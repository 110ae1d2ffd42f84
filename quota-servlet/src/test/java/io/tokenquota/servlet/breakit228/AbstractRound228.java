package io.tokenquota.servlet.breakit228;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 228 of issue 11, item 7 (identity). The service runs with forwarded-header processing on
 * ({@code server.forward-headers-strategy=native}: Jetty's {@code ForwardedRequestCustomizer}, Tomcat's
 * {@code RemoteIpValve}) under {@code /ai/fwd/}, and the quota filter's subject is {@code x-user-id}
 * believed from the trusted proxy 127.0.0.1. A hostile client connects from 127.0.0.2 (not a trusted
 * proxy), names the trusted proxy as itself in an RFC 7239 {@code Forwarded} header whose parameter
 * name is written as a quoted string, and sends {@code x-user-id: victim}. Jetty's parser drops the
 * quotes ({@code "for"} is {@code for}) and takes 127.0.0.1 as the remote address; the resolver reads
 * {@code "for"} as another parameter and passes it over, so nothing says the address came from a header.
 * The documented promise: such a request is refused (401), the model never called, the victim never charged.
 */
abstract class AbstractRound228 extends H2FilterRound {
    static final long USAGE = 3_000;

    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    final Map<String, List<String>> remotes = new ConcurrentHashMap<>();

    static String subject() {
        return "v228-" + UUID.randomUUID().toString().substring(0, 12);
    }

    int callsOf(String subject) {
        AtomicInteger n = calls.get(subject);
        return n == null ? 0 : n.get();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/v1/*", "/ai/fwd/v1/*")
                .forwardedHeaders("/ai/fwd/")
                .onStartup(filter::registerByServletName);
    }

    /** A chat completions endpoint: serves whoever x-user-id names (the application's user) and reports usage. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            calls.computeIfAbsent(String.valueOf(user), k -> new AtomicInteger()).incrementAndGet();
            remotes.computeIfAbsent(String.valueOf(user), k -> new CopyOnWriteArrayList<>()).add(req.getRemoteAddr());
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"chatcmpl-228\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":2000,"
                    + "\"total_tokens\":" + USAGE + "}}");
        }
    }

    private String attack(String victim, String... spoof) throws IOException {
        String[] lines = new String[spoof.length + 1];
        System.arraycopy(spoof, 0, lines, 0, spoof.length);
        lines[spoof.length] = "x-user-id: " + victim;
        String answer = TestHttp.rawPostFrom("127.0.0.2", container.port(), "/ai/fwd/v1/chat/completions", lines);
        return answer.substring(0, Math.min(answer.length(), 12));
    }

    private void assertRefused(String... spoof) throws IOException {
        String victim = subject();
        String status = attack(victim, spoof);
        QuotaAccount v = settled(victim);
        // 401 from the filter, or 400 from the container's own header parser before any filter ran
        assertTrue((status.contains(" 401") || status.contains(" 400")) && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": from 127.0.0.2 with " + String.join(" | ", spoof) + " and x-user-id: victim -> " + status
                        + ", the model called " + callsOf(victim) + " time(s) as the victim (the remote address it saw: "
                        + remotes.get(victim) + "), the victim charged " + v.used() + "; " + ledger(victim));
    }

    /** Control: the plain RFC 7239 spelling is caught (401). */
    @Test
    void plainForParameterIsRefused() throws IOException {
        assertRefused("Forwarded: for=127.0.0.1");
    }

    /** The attack: {@code "for"=127.0.0.1}, the parameter name as an RFC 7230 quoted string. */
    @Test
    void quotedForParameterNameIsRefused() throws IOException {
        assertRefused("Forwarded: \"for\"=127.0.0.1");
    }

    /** The same, quotes around part of the name: {@code f"or"=127.0.0.1}. */
    @Test
    void partlyQuotedForParameterNameIsRefused() throws IOException {
        assertRefused("Forwarded: f\"or\"=127.0.0.1");
    }

    /** The same, a quoted-pair inside the quoted name: {@code "f\or"=127.0.0.1}, after a real proxy's element. */
    @Test
    void escapedForParameterNameAfterAProxyElementIsRefused() throws IOException {
        assertRefused("Forwarded: proto=https;\"f\\or\"=\"127.0.0.1:4711\"");
    }

    /** The same with X-Forwarded-For added by a real proxy for the real client: Forwarded wins on Jetty. */
    @Test
    void quotedForNameBesideARealXForwardedForIsRefused() throws IOException {
        assertRefused("Forwarded: \"for\"=127.0.0.1", "X-Forwarded-For: 127.0.0.2");
    }

    /**
     * As a proxy that appends its RFC 7239 element to the client's header sends it (Envoy, nginx's
     * {@code proxy_add_forwarded}): the client's forged element first, the proxy's true one after it.
     */
    @Test
    void quotedForNameBeforeAProxyAppendedElementIsRefused() throws IOException {
        assertRefused("Forwarded: \"for\"=127.0.0.1, for=127.0.0.2;proto=http");
    }
}
