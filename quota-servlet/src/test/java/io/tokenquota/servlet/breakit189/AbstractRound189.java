package io.tokenquota.servlet.breakit189;

import static io.tokenquota.servlet.breakit189.Prompts189.AMHARIC_DOCUMENT;
import static io.tokenquota.servlet.breakit189.Prompts189.AMHARIC_TOKENS;
import static io.tokenquota.servlet.breakit189.Prompts189.BOLD_THREAD;
import static io.tokenquota.servlet.breakit189.Prompts189.BOLD_THREAD_TOKENS;
import static io.tokenquota.servlet.breakit189.Prompts189.THREAD;
import static io.tokenquota.servlet.breakit189.Prompts189.THREAD_TOKENS;
import static io.tokenquota.servlet.breakit189.Prompts189.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.CutChatRelay;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 189 of issue 11 ("no model call goes unpaid"): prompts the estimator prices at a fifth of what
 * the model reads, written by ordinary users.
 *
 * <p>Two kinds of text every chat service gets. (1) Posts written in "bold" Unicode letters: LinkedIn
 * and X have no bold, so people paste their posts through a text generator that maps each letter to the
 * Mathematical Sans-Serif Bold alphabet (𝗕𝗶𝗴 𝗻𝗲𝘄𝘀), and a user asks the service to summarise or rewrite
 * such a thread. Each of those letters is a 4-byte code point that {@code o200k_base} spends about a
 * token on; {@code DefaultTokenEstimator} puts them under "other scripts" at 0.38 a letter. (2) A
 * document in Amharic (Ge'ez script, about 60 million speakers), which the models read at about 1.8
 * tokens a character and the estimator prices at 0.38 a letter. The same text in plain letters is
 * estimated within 2% (the control below).
 *
 * <p>Wherever the filter charges the estimate (an answer without usage; a stream cut before its usage
 * chunk) the call is charged about a third of what the provider bills for the prompt alone.
 *
 * <p>Second part: a reasoning model's stream cut before its usage chunk. OpenAI's chat stream carries
 * no byte of the reasoning the model did before its first visible delta, so the text the stream carried
 * cannot stand for it; the filter's per-subject reasoning figure (docs/estimation.md) is learnt only
 * from a usage that arrives and only when the request names a reasoning effort, so a client that never
 * lets a usage arrive, or one at the model's default effort, gets every call's reasoning for the
 * default output budget.
 */
abstract class AbstractRound189 extends H2FilterRound {
    /** Why one of this round's tests is disabled: the open part of issue 11 it shows. */
    static final String OPEN_FIRST_REASONING_CUT = "issue 11, open: a reasoning model's calls all cut before their usage"
            + " teach no reasoning figure and are charged input and the default output budget (docs/decisions.md,"
            + " \"A reasoning model's call cut before its usage, with nothing learnt (open)\")";

    final ModelCalls calls = new ModelCalls();
    final CutChatRelay relay = new CutChatRelay(calls, "chatcmpl-189", SUMMARY);
    /** Per subject and call, for the reasoning relay: released once the client has hung up. */
    final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();

    static String subject() {
        return "u189-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String SUMMARY = "The thread covers shipping version 4.0, hiring for curiosity, a 38% lower cloud bill,"
            + " customer success, five habits, trusting interns, remote work and focused roadmaps.";

    /** A chat completion asking to summarise {@code text}: what the Spring AI endpoint and the relay are sent. */
    static String body(String text, boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Summarise what the user pastes.\"},"
                + "{\"role\":\"user\",\"content\":\"" + json(text) + "\"}]"
                + (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summarise", new Summarise(), "/ai/summarise")
                .servlet("relay", relay, "/ai/v1/chat/completions")
                .servlet("full", new Full(), "/ai/v1/full/chat/completions")
                .servlet("reasoning", new Reasoning(false), "/ai/r/v1/chat/completions")
                .servlet("reasoning-full", new Reasoning(true), "/ai/r/full/v1/chat/completions")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A Spring AI style endpoint ({@code chatClient.prompt().user(text).call().content()} returned as a
     * {@code String}): calls the model with what it was sent and answers the model's text as
     * {@code text/plain}, without usage.
     */
    class Summarise extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!body.contains(json(BOLD_THREAD)) && !body.contains(json(AMHARIC_DOCUMENT)) && !body.contains(json(THREAD))) {
                resp.sendError(400); // the prompt must have arrived whole
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(SUMMARY.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The provider's whole answer, relayed as it came: its usage counts the prompt the provider read. */
    class Full extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, ChatCompletions.completion("chatcmpl-189f", "gpt-4o-mini", SUMMARY,
                    BOLD_THREAD_TOKENS, 40).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** At least nine tenths of the prompt's tokens: the estimator's own promise is within ±10%. */
    static long floor(long promptTokens) {
        return promptTokens * 9 / 10;
    }

    private long summarise(String text) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/summarise"), s, body(text, false));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        return used;
    }

    private long streamCut(String text) throws Exception {
        String s = subject();
        String read = relay.postAndHangUp(container.port(), "/ai/v1/chat/completions", s, body(text, true));
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * The attack on the Spring AI endpoint: a thread in bold Unicode letters ({@value Prompts189#BOLD_THREAD_TOKENS}
     * o200k tokens) to summarise. The answer is the model's text without usage, so the call is charged
     * its estimate; it must be at least (nine tenths of) what the model read.
     */
    @Test
    void aThreadInBoldUnicodeLettersIsChargedWhatTheModelReads() {
        long used = summarise(BOLD_THREAD);
        assertTrue(used >= floor(BOLD_THREAD_TOKENS), "a prompt of " + BOLD_THREAD_TOKENS + " o200k tokens (bold Unicode"
                + " letters) answered without usage was charged " + used);
    }

    /** The attack on the relay: the bold thread streamed with {@code include_usage}, cut before the usage chunk. */
    @Test
    void aThreadInBoldUnicodeLettersStreamCutBeforeItsUsageIsChargedThePrompt() throws Exception {
        long used = streamCut(BOLD_THREAD);
        assertTrue(used >= floor(BOLD_THREAD_TOKENS), "a streamed call whose prompt is " + BOLD_THREAD_TOKENS
                + " o200k tokens (bold Unicode letters), cut before its usage, was charged " + used);
    }

    /** The same on an Amharic document ({@value Prompts189#AMHARIC_TOKENS} o200k tokens), answered without usage. */
    @Test
    void anAmharicDocumentIsChargedWhatTheModelReads() {
        long used = summarise(AMHARIC_DOCUMENT);
        assertTrue(used >= floor(AMHARIC_TOKENS), "a prompt of " + AMHARIC_TOKENS + " o200k tokens (Amharic) answered"
                + " without usage was charged " + used);
    }

    /** The Amharic document streamed and cut before the usage chunk. */
    @Test
    void anAmharicDocumentStreamCutBeforeItsUsageIsChargedThePrompt() throws Exception {
        long used = streamCut(AMHARIC_DOCUMENT);
        assertTrue(used >= floor(AMHARIC_TOKENS), "a streamed call whose prompt is " + AMHARIC_TOKENS
                + " o200k tokens (Amharic), cut before its usage, was charged " + used);
    }

    /** Control: the same thread in plain letters ({@value Prompts189#THREAD_TOKENS} o200k tokens) is estimated right. */
    @Test
    void controlTheThreadInPlainLettersIsChargedWhatTheModelReads() {
        long used = summarise(THREAD);
        assertTrue(used >= THREAD_TOKENS, "charged " + used);
    }

    /** Control: the bold thread on a relay that passes the provider's usage on is charged it. */
    @Test
    void controlTheBoldThreadAnsweredWithItsUsageIsChargedIt() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/full/chat/completions"), s, body(BOLD_THREAD, false));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= BOLD_THREAD_TOKENS, "charged " + used + ": " + ledger(s));
    }

    // ---------------------------------------------------------------------------------------------
    // Reasoning that no byte of the stream shows

    /** What the provider bills for the hidden reasoning of {@link #REASONING_BODY}: done before the first visible token. */
    static final long REASONING_TOKENS = 6_000;
    static final long REASONING_PROMPT_TOKENS = 61;
    /** The visible answer's tokens when read to its end. */
    static final long ANSWER_TOKENS = 240;

    /**
     * A question to a reasoning model (o3-mini, {@code reasoning_effort: high}), streamed with
     * {@code include_usage} as OpenAI's SDKs stream it. OpenAI's chat stream never carries the
     * reasoning: the model thinks (billed as {@code completion_tokens}, {@code reasoning_tokens} within
     * them) before its first visible delta, and the stream shows only the answer.
     */
    static final String REASONING_BODY = "{\"model\":\"o3-mini\",\"reasoning_effort\":\"high\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"A warehouse has 17 robots. Each robot can carry 3 boxes per trip and every trip takes 11 minutes."
            + " Robots must recharge for 7 minutes after every 4 trips. How long do they need to move 2,000 boxes? Show the"
            + " schedule.\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

    static final String ANSWER = "The robots move 51 boxes a round of trips, so 2,000 boxes take 40 rounds. Every fourth round"
            + " adds a 7 minute recharge, which gives 440 minutes of trips and 63 minutes of charging, 503 minutes in all.";

    /**
     * An OpenAI relay of a reasoning model's stream, as the provider streams it: the role, then (after
     * the model's hidden reasoning) the answer's deltas, the finishing chunk, the usage chunk. With
     * {@code whole} false its client hangs up once it has read the first part of the answer; the relay's
     * next writes fail and it cancels the upstream call, whose reasoning is done and billed by then.
     */
    class Reasoning extends HttpServlet {
        private final boolean whole;

        Reasoning(boolean whole) {
            this.whole = whole;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String subject = req.getHeader("x-user-id");
            calls.count(subject);
            String latch = subject + "#" + calls.of(subject);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"chatcmpl-189r-" + UUID.randomUUID() + "\",\"object\":\"chat.completion.chunk\","
                    + "\"created\":1700000000,\"model\":\"o3-mini-2025-01-31\",";
            out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                    + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            String[] words = ANSWER.split(" ");
            for (int i = 0; i < words.length / 2; i++) {
                out.write(delta(head, words[i]));
            }
            out.flush();
            if (!whole) {
                out.write("data: {\"mark\":\"END-OF-TEXT\"}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                try {
                    hungUp.computeIfAbsent(latch, s -> new CountDownLatch(1)).await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                // the client has gone: the rest of the answer cannot be written, the relay cancels upstream
                byte[] ping = (": ping " + "x".repeat(4000) + "\n\n").getBytes(StandardCharsets.UTF_8);
                try {
                    for (int i = 0; i < 2000; i++) {
                        out.write(ping);
                        out.flush();
                    }
                } catch (IOException gone) {
                    return;
                }
                return;
            }
            for (int i = words.length / 2; i < words.length; i++) {
                out.write(delta(head, words[i]));
            }
            out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
                    .getBytes(StandardCharsets.UTF_8));
            out.write(("data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + REASONING_PROMPT_TOKENS
                    + ",\"completion_tokens\":" + (REASONING_TOKENS + ANSWER_TOKENS) + ",\"total_tokens\":"
                    + (REASONING_PROMPT_TOKENS + REASONING_TOKENS + ANSWER_TOKENS) + ",\"prompt_tokens_details\":{\"cached_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":" + REASONING_TOKENS + "}}}\n\n").getBytes(StandardCharsets.UTF_8));
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        private byte[] delta(String head, String word) {
            return ("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word + " \"},"
                    + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8);
        }
    }

    private long reasoningCut(String s, String body) throws Exception {
        long before = settled(s).used();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/r/v1/chat/completions", s, body, "END-OF-TEXT");
        hungUp.computeIfAbsent(s + "#" + calls.of(s), x -> new CountDownLatch(1)).countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        return settled(s).used() - before;
    }

    /**
     * The attack: a client asks a reasoning model (effort high) through the relay and hangs up once it has
     * read the first half of the answer, three times. Each call's 6,000 reasoning tokens were billed by the
     * provider before its first visible delta; each call must be charged at least those.
     */
    @Test
    @Disabled(OPEN_FIRST_REASONING_CUT)
    void reasoningCallsStreamCutAfterTheFirstSentenceAreChargedTheirReasoning() throws Exception {
        String s = subject();
        long[] charged = new long[3];
        for (int i = 0; i < charged.length; i++) {
            charged[i] = reasoningCut(s, REASONING_BODY);
        }
        assertEquals(3, calls.of(s), "the model was called three times");
        long billed = 3 * (REASONING_PROMPT_TOKENS + REASONING_TOKENS);
        long used = settled(s).used();
        assertTrue(used >= billed, "three reasoning calls (each " + REASONING_TOKENS + " reasoning tokens billed before its first"
                + " visible delta) cut after the first half of their answers were charged " + java.util.Arrays.toString(charged)
                + ", " + used + " in all: " + ledger(s));
    }

    /**
     * Control: once the filter has seen what such a call writes (one call read to its end teaches the
     * subject's reasoning figure for o3-mini at high effort), a call cut the same way is charged it.
     */
    @Test
    void controlAReasoningCallCutAfterOneReadWholeIsChargedItsReasoning() throws Exception {
        assertCutAfterOneWholeIsCharged(REASONING_BODY);
    }

    /**
     * The same question without {@code reasoning_effort}: o3-mini (like every OpenAI reasoning model) then
     * reasons at its default effort, medium, and the provider bills that reasoning the same way. An honest
     * client reads one call whole; its next call is cut after the first half of the answer.
     */
    @Test
    void aReasoningCallAtTheDefaultEffortCutAfterOneReadWholeIsChargedItsReasoning() throws Exception {
        assertCutAfterOneWholeIsCharged(REASONING_BODY.replace("\"reasoning_effort\":\"high\",", ""));
    }

    private void assertCutAfterOneWholeIsCharged(String body) throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/r/full/v1/chat/completions"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        long first = settled(s).used();
        long cut = reasoningCut(s, body);
        assertEquals(2, calls.of(s));
        assertTrue(cut >= REASONING_PROMPT_TOKENS + REASONING_TOKENS, "the first call (read whole) was charged " + first
                + "; the cut call after it " + cut + ": " + ledger(s));
    }

    /** Control: the reasoning call read to its end is charged its usage. */
    @Test
    void controlAReasoningCallReadWholeIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/r/full/v1/chat/completions"), s, REASONING_BODY);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= REASONING_PROMPT_TOKENS + REASONING_TOKENS + ANSWER_TOKENS, "charged " + used + ": " + ledger(s));
    }
}
