package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.LocalTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;

/**
 * A round over the month turn on a {@link ClockedStore} (H2, a {@link MutableClock} the test moves, starting on
 * January 31st at 23:58 UTC), behind the round's own filters on it. An agent's streamed chat completion (OpenAI's
 * streaming format with {@code stream_options.include_usage}: platform.openai.com/docs/api-reference/chat/create and
 * .../chat-streaming, the usage chunk with {@code "choices": []}, as {@link ChatCompletions} writes it) is held in
 * January, shows its usage (1,000 + 14,000) and stays open until the test lets it end, across the turn; the round
 * says what its plain calls use ({@link #plainUsage}). {@code /ai/} is a plain filter on the store, {@code /<second>/}
 * the round's own ({@link #secondFilter}), each before the model. Rounds 430 and 433 each wrote this rig (the store,
 * the deployment, the model, the stream, the month's account and events); one copy keeps their figures the same.
 * Rounds 433 and 448 also share their two plain calls ({@link #FIRST_BODY}, {@link #SECOND_BODY}) and what the model
 * charges them ({@link #firstOrSecond}).
 */
public abstract class MonthTurnRound extends ModelCallRound {
    /** The January stream's usage: 15,000 on a hold of about 1,010 (max_tokens 1,000). */
    protected static final long STREAM_PROMPT = 1_000;
    protected static final long STREAM_COMPLETION = 14_000;
    protected static final long STREAM = STREAM_PROMPT + STREAM_COMPLETION;
    /** An agent's long streamed call (OpenAI chat completions request: stream, include_usage, max_tokens). */
    protected static final String STREAM_BODY = "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},\"max_tokens\":1000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan the quarterly supplier audit.\"}]}";
    /** A plain call asking max_tokens 8,000, charged 200 + 7,800 (rounds 433 and 448). */
    protected static final long FIRST = 8_000;
    /** A plain call asking max_tokens 16,000 (under the default output cap 16,384), charged 300 + 11,700. */
    protected static final long SECOND = 12_000;
    protected static final String FIRST_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":8000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the audit report.\"}]}";
    protected static final String SECOND_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":16000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the appendix.\"}]}";
    private static final Pattern MAX_TOKENS = Pattern.compile("\"max_tokens\"\\s*:\\s*(\\d+)");

    protected final MutableClock clock;
    /** The store the round's filters are on (opened by {@link #deploy}, closed after the round). */
    protected ClockedStore clocked;
    private final YearMonth january;
    /** The path segment of the round's second filter and model: "tc" (round 430), "fit" (round 433). */
    private final String second;
    /** Per subject: the stream waits here after its usage chunk, before [DONE]. */
    private final Map<String, CountDownLatch> finish = new ConcurrentHashMap<>();

    /**
     * A round on {@code january} and the month after it, its clock at 23:58 on {@code january}'s last day, its second
     * filter on {@code /<second>/}.
     */
    protected MonthTurnRound(YearMonth january, String second) {
        this.january = january;
        this.second = second;
        this.clock = new MutableClock(january.atEndOfMonth().atTime(LocalTime.of(23, 58)).toInstant(ZoneOffset.UTC));
    }

    @Override
    protected final Deployment deploy(QuotaFilter unused) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        return Deployment.create()
                .filter("quota-ai", clocked.filter("/ai/"), "/ai/*")
                .filter("quota-" + second, secondFilter(clocked), "/" + second + "/*")
                .servlet("ai", new Model(), "/ai/*")
                .servlet(second, new Model(), "/" + second + "/*");
    }

    /** The round's second filter on {@code clocked}, protecting {@code /<second>/}. */
    protected abstract QuotaFilter secondFilter(ClockedStore clocked);

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /** A plain call's usage: its prompt and completion tokens. */
    public record Usage(long prompt, long completion) {
    }

    /** What the plain (not streamed) request {@code body} of {@code s} uses (it is counted already). */
    protected abstract Usage plainUsage(String s, String body);

    /** The max_tokens the plain request {@code body} asks, -1 if it asks none. */
    protected static long maxTokens(String body) {
        Matcher m = MAX_TOKENS.matcher(body);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    /**
     * What the model uses for a plain call asking {@code maxTokens}: {@link #FIRST}'s 200 + 7,800 up to 8,000, else
     * {@link #SECOND}'s 300 + 11,700 (rounds 433 and 448).
     */
    protected static Usage firstOrSecond(long maxTokens) {
        return maxTokens <= 8_000 ? new Usage(200, 7_800) : new Usage(300, 11_700);
    }

    /** The round's number, from its subjects' prefix ("u430-"): the model's answers carry it in their ids. */
    private String round() {
        String prefix = subjectPrefix();
        return prefix.substring(1, prefix.length() - 1);
    }

    /**
     * The round's model: counts every call; a streamed request gets word chunks and the usage chunk, flushed, then
     * (for a subject the test holds: {@link #streamShowingUsage}) waits until the test lets it end, then [DONE]; a
     * plain request, a chat.completion with its {@link #plainUsage}.
     */
    private final class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String s = req.getHeader("x-user-id");
            calls.count(s);
            if (!body.contains("\"stream\":true")) {
                Usage u = plainUsage(s, body);
                resp.setContentType("application/json");
                resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-" + round(), "gpt-4o-mini", "Done.",
                        u.prompt(), u.completion()).getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String id = "chatcmpl-" + round() + "-" + s;
            for (int i = 0; i < 5; i++) {
                out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
            }
            out.write(ChatCompletions.usageEvent(id, STREAM_PROMPT, STREAM_COMPLETION).getBytes(StandardCharsets.UTF_8));
            out.flush();
            CountDownLatch l = finish.get(s);
            if (l != null) {
                try {
                    l.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An open stream and where its client has read to. */
    protected record Open(HttpResponse<Stream<String>> response, Iterator<String> lines) {
    }

    /** Starts the subject's stream on {@code prefix} and returns once the client has read its usage chunk. */
    protected Open streamShowingUsage(String prefix, String s) throws Exception {
        finish.put(s, new CountDownLatch(1));
        HttpResponse<Stream<String>> r = TestHttp.client().send(
                TestHttp.jsonPost(container.uri(prefix + "v1/chat/completions"), s, STREAM_BODY),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        Iterator<String> lines = r.body().iterator();
        boolean seen = false;
        while (!seen && lines.hasNext()) {
            seen = lines.next().contains("\"total_tokens\":" + STREAM);
        }
        assertTrue(seen, "the usage chunk");
        return new Open(r, lines);
    }

    /** Lets the subject's stream end and reads it to its end. */
    protected void endStream(String s, Open stream) {
        finish.get(s).countDown();
        while (stream.lines().hasNext()) {
            stream.lines().next();
        }
    }

    /** The subject's account of month {@code m} once nothing is held and at least {@code used} is charged. */
    protected QuotaAccount month(String s, YearMonth m, long used) throws InterruptedException {
        return Ledgers.chargedAtLeast(clocked.store(), s, m, used).orElseThrow();
    }

    /** The subject's events of January and February, for failure messages. */
    protected String events(String s) {
        return "January " + Ledgers.events(clocked.store(), s, january)
                + ", February " + Ledgers.events(clocked.store(), s, january.plusMonths(1));
    }

    /** What a month's account holds: allocated, granted, carried, used, reserved. */
    protected static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }
}
