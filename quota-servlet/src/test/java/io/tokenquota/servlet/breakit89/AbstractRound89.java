package io.tokenquota.servlet.breakit89;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.Team;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 89 of issue 11: the next call after a finished stream, sent by someone the filter does not
 * connect with the finished call: a member of the same team (the team's allowance is the binding one),
 * or the same user through a second quota filter of the same service. The mock model answers a chat
 * completion whose usage the request's {@code x-prompt} and {@code x-completion} headers name (an input
 * the estimate cannot see); {@code x-variant} says how it answers.
 */
abstract class AbstractRound89 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The relay's work after the last event (saving the thread) waits here, by subject. */
    final io.tokenquota.servlet.testing.SubjectGates after = new io.tokenquota.servlet.testing.SubjectGates();

    static String subject() {
        return "u89-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // a second quota filter of the same service, on the same store: the agents' API
        QuotaFilter agents = filterFor("/agents/").build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("agents-quota", agents, "/agents/*")
                .servlet("model", new Model(), "/ai/*")
                .servlet("agents-model", new Model(), "/agents/*");
    }

    void afterAnswer(String s) {
        after.pass(s);
    }

    /** A chat model; {@code x-variant} says how it ends its answer. */
    class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            long prompt = Long.parseLong(req.getHeader("x-prompt"));
            long completion = Long.parseLong(req.getHeader("x-completion"));
            String variant = String.valueOf(req.getHeader("x-variant"));
            if (variant.equals("stream-then-save")) {
                // an SSE relay that saves the conversation after the last event, before it returns
                resp.setContentType("text/event-stream");
                java.io.PrintWriter w = resp.getWriter();
                String head = "{\"id\":\"chatcmpl-89\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",";
                w.write("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}]}\n\n");
                w.write("data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                        + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion)
                        + "}}\n\ndata: [DONE]\n\n");
                w.flush();
                afterAnswer(s);
                return;
            }
            if (variant.equals("stream-running")) {
                // vLLM's continuous usage stats: every chunk carries the running totals; the model is
                // still writing (its next chunk waits) after the chunk that counted 19,500
                resp.setContentType("text/event-stream");
                java.io.PrintWriter w = resp.getWriter();
                String head = "{\"id\":\"chatcmpl-89r\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",";
                w.write("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}],"
                        + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                        + ",\"total_tokens\":" + (prompt + completion) + "}}\n\n");
                w.flush();
                afterAnswer(s);
                w.write("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                        + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + (completion + 1)
                        + ",\"total_tokens\":" + (prompt + completion + 1) + "}}\n\ndata: [DONE]\n\n");
                w.flush();
                return;
            }
            String answer = ChatCompletions.completion("chatcmpl-89", "gpt-4o-mini", "ok", prompt, completion);
            byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
            resp.setContentType("application/json");
            resp.setContentLength(bytes.length);
            resp.getOutputStream().write(bytes);
        }
    }

    static String chat(long maxTokens, boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"summarise the attached file\"}],"
                + (stream ? "\"stream\":true,\"stream_options\":{\"include_usage\":true}," : "")
                + "\"max_tokens\":" + maxTokens + "}";
    }

    HttpRequest request(String prefix, String s, long maxTokens, long prompt, long completion, String variant) {
        List<String> headers = new ArrayList<>(List.of("x-prompt", Long.toString(prompt), "x-completion",
                Long.toString(completion), "x-variant", variant));
        return TestHttp.jsonPost(container.uri(prefix + "chat/completions"), s,
                chat(maxTokens, variant.startsWith("stream")), headers.toArray(String[]::new));
    }

    static HttpClient fresh() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    /** Reads a stream until its {@code [DONE]}: the client has the whole answer. */
    static void readToDone(HttpResponse<Stream<String>> stream) {
        assertEquals(200, stream.statusCode());
        Iterator<String> lines = stream.body().iterator();
        boolean done = false;
        while (!done && lines.hasNext()) {
            done = lines.next().equals("data: [DONE]");
        }
        assertTrue(done, "the stream ended without [DONE]");
    }

    /** Reads a stream until its first event carrying usage; the stream goes on. */
    static void readToUsage(HttpResponse<Stream<String>> stream) {
        assertEquals(200, stream.statusCode());
        Iterator<String> lines = stream.body().iterator();
        boolean seen = false;
        while (!seen && lines.hasNext()) {
            seen = lines.next().contains("\"usage\"");
        }
        assertTrue(seen, "the stream ended without usage");
    }

    /** Two members of a new team with 100,000-token plans of their own; the team's plan is 20,000. */
    String[] team() {
        String a = subject();
        String b = subject();
        String team = "t89-" + UUID.randomUUID().toString().substring(0, 8);
        store.setPlan(a, 100_000);
        store.setPlan(b, 100_000);
        store.setPlan(Team.subject(team), ALLOWANCE);
        store.setTeam(a, team);
        store.setTeam(b, team);
        return new String[] {a, b, team};
    }

    /**
     * Control: a team member's own next call, sent at its stream's {@code [DONE]} (usage 19,500 of the
     * team's 20,000) while the relay still saves the thread, is refused: the filter counts what the
     * finished call owes beyond its hold against the stricter account, the team's.
     */
    @Test
    void controlATeamMembersOwnNextCallAtDoneIsRefused() throws Exception {
        String[] t = team();
        String a = t[0];
        CountDownLatch gate = new CountDownLatch(1);
        after.put(a, gate);
        HttpResponse<String> second;
        try {
            readToDone(fresh().send(request("/ai/", a, 1_000, 18_500, 1_000, "stream-then-save"),
                    HttpResponse.BodyHandlers.ofLines()));
            second = fresh().send(request("/ai/", a, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(a);
        }
        chargedAtLeast(a, 19_500);
        QuotaAccount teamAccount = settled(Team.subject(t[2]));
        assertEquals(429, second.statusCode(), kind() + ": member's own second call answered " + second.statusCode()
                + "; team used " + teamAccount.used() + " of " + teamAccount.limit() + "; " + ledger(a));
        assertEquals(1, calls.of(a));
    }

    /**
     * Two members of a team share the team's 20,000 tokens (their own plans are larger: the team's is the
     * allowance that binds). Member A's stream reports 19,500 tokens in its last chunk before
     * {@code [DONE]} (about 1,000 held); the relay then saves the thread before it returns. At A's
     * {@code [DONE]} the team's app sends member B's call (about 1,000 held, 1,000 used) to the same
     * instance. B must be refused: the team has 500 tokens left once A's finished call is counted. When B is
     * served, the model runs for B and the team is charged past its allowance.
     */
    @Test
    void aTeamMatesCallAtAFinishedStreamsDoneIsNotServedPastTheTeamsAllowance() throws Exception {
        String[] t = team();
        String a = t[0];
        String b = t[1];
        CountDownLatch gate = new CountDownLatch(1);
        after.put(a, gate);
        HttpResponse<String> second;
        try {
            readToDone(fresh().send(request("/ai/", a, 1_000, 18_500, 1_000, "stream-then-save"),
                    HttpResponse.BodyHandlers.ofLines()));
            second = fresh().send(request("/ai/", b, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(a);
        }
        chargedAtLeast(a, 19_500);
        settled(b);
        QuotaAccount teamAccount = settled(Team.subject(t[2]));
        String figures = kind() + ": B's call at A's [DONE] answered " + second.statusCode() + "; model calls A "
                + calls.of(a) + ", B " + calls.of(b) + "; team used " + teamAccount.used() + " of "
                + teamAccount.limit() + "; A used " + settled(a).used() + ", B used " + settled(b).used();
        System.out.println(figures);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(0, calls.of(b), figures);
        assertTrue(teamAccount.used() <= teamAccount.limit(), figures);
    }

    /**
     * One service registers two quota filters on the same store (the chat API under /ai/, the agents'
     * API under /agents/). A user's stream on /ai/ reports 19,500 of 20,000 tokens before {@code [DONE]};
     * the relay then saves the thread. At {@code [DONE]} the user's next call (about 1,000) goes to
     * /agents/ on the same instance. It must be refused as the same call to /ai/ is (the control above for
     * one filter is round 88's); served, the user is charged past the allowance.
     */
    @Test
    void theNextCallThroughTheServicesOtherQuotaFilterSeesTheFinishedStream() throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        after.put(s, gate);
        HttpResponse<String> second;
        try {
            readToDone(fresh().send(request("/ai/", s, 1_000, 18_500, 1_000, "stream-then-save"),
                    HttpResponse.BodyHandlers.ofLines()));
            second = fresh().send(request("/agents/", s, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(s);
        }
        QuotaAccount account = chargedAtLeast(s, 19_500);
        String figures = kind() + ": the next call through /agents/ at the /ai/ stream's [DONE] answered "
                + second.statusCode() + "; model calls " + calls.of(s) + "; used " + account.used() + " of "
                + account.limit() + " " + ledger(s);
        System.out.println(figures);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(1, calls.of(s), figures);
        assertTrue(account.used() <= account.limit(), figures);
    }

    /**
     * Control: a team member whose stream is still running, having reported running totals of 19,500 of
     * the team's 20,000 tokens, sends another call of its own: refused, since the filter counts what a
     * running call's answer reported so far beyond its hold.
     */
    @Test
    void controlATeamMembersOwnCallBesideItsRunningStreamIsRefused() throws Exception {
        String[] t = team();
        String a = t[0];
        CountDownLatch gate = new CountDownLatch(1);
        after.put(a, gate);
        HttpResponse<String> second;
        java.util.concurrent.CompletableFuture<HttpResponse<Stream<String>>> first;
        try {
            first = fresh().sendAsync(request("/ai/", a, 1_000, 18_500, 1_000, "stream-running"),
                    HttpResponse.BodyHandlers.ofLines());
            readToUsage(first.get(10, TimeUnit.SECONDS));
            second = fresh().send(request("/ai/", a, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(a);
        }
        chargedAtLeast(a, 19_501);
        QuotaAccount teamAccount = settled(Team.subject(t[2]));
        assertEquals(429, second.statusCode(), kind() + ": member's own call beside its running stream answered "
                + second.statusCode() + "; team used " + teamAccount.used() + " of " + teamAccount.limit());
        assertEquals(1, calls.of(a));
    }

    /**
     * Member A's stream is still running and its chunks already report running totals of 19,500 of the
     * team's 20,000 tokens (about 1,000 held). Member B of the same team then calls (about 1,000 held,
     * 1,000 used) on the same instance. B must be refused, as A's own call would be: the team cannot pay
     * for it. When B is served, the team is charged past its allowance.
     */
    @Test
    void aTeamMatesCallBesideARunningStreamsReportedUsageIsNotServedPastTheTeamsAllowance() throws Exception {
        String[] t = team();
        String a = t[0];
        String b = t[1];
        CountDownLatch gate = new CountDownLatch(1);
        after.put(a, gate);
        HttpResponse<String> second;
        java.util.concurrent.CompletableFuture<HttpResponse<Stream<String>>> first;
        try {
            first = fresh().sendAsync(request("/ai/", a, 1_000, 18_500, 1_000, "stream-running"),
                    HttpResponse.BodyHandlers.ofLines());
            readToUsage(first.get(10, TimeUnit.SECONDS));
            second = fresh().send(request("/ai/", b, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(a);
        }
        chargedAtLeast(a, 19_501);
        settled(b);
        QuotaAccount teamAccount = settled(Team.subject(t[2]));
        String figures = kind() + ": B's call beside A's running stream answered " + second.statusCode()
                + "; model calls A " + calls.of(a) + ", B " + calls.of(b) + "; team used " + teamAccount.used()
                + " of " + teamAccount.limit() + "; A used " + settled(a).used() + ", B used " + settled(b).used();
        System.out.println(figures);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(0, calls.of(b), figures);
        assertTrue(teamAccount.used() <= teamAccount.limit(), figures);
    }
}
