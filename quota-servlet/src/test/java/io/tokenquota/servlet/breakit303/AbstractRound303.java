package io.tokenquota.servlet.breakit303;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 303 of issue 11: the rule round 292 added for Anthropic's {@code usage.iterations} ("every pass that
 * is not a {@code message} is billed beside the top level") reads a served answer twice when a
 * <b>server-side fallback</b> model served it.
 *
 * <p>Claude Fable 5 (and Opus 5) decline some requests with their safety classifiers; the Messages API can
 * retry the turn on another model inside the same call (beta {@code server-side-fallback-2026-06-01} and
 * later {@code -2026-07-01}, request field {@code fallbacks: [{"model": "claude-opus-4-8"}]} or
 * {@code "default"}). Anthropic's cookbook, {@code anthropics/claude-cookbooks}
 * {@code fable_5_fallback_billing/guide.ipynb} ("The fallback response shape"), shows the answer:
 * {@code model: "claude-opus-4-8"}, a {@code {"type": "fallback", "from": {"model": "claude-fable-5"}, "to":
 * {"model": "claude-opus-4-8"}}} content block, top-level {@code usage} {@code input_tokens: 412,
 * output_tokens: 264}, and {@code usage.iterations} {@code [{"type": "message", "model": "claude-fable-5",
 * "input_tokens": 408, "output_tokens": 0, …}, {"type": "fallback_message", "model": "claude-opus-4-8",
 * "input_tokens": 412, "output_tokens": 264, …}]}; and its billing note: "{@code usage.input_tokens} is
 * counted once for the turn. {@code usage.output_tokens} reflects the answer. Use {@code usage.iterations} if
 * you need exact per-model attribution"; "Input tokens are not billed on a direct classifier block". The API
 * reference's {@code BetaFallbackMessageIterationUsage} (the same union the round 292 javadoc cites): "Produced
 * in place of a {@code message} entry for whichever hop served the response." A <i>sticky-served</i> turn
 * (routed straight to the fallback model because an earlier turn fell back) has no fallback block and its
 * iterations are that one {@code fallback_message}; streamed, a block before any output is invisible ("the
 * stream starts with the fallback model's response") and the {@code message_delta}'s usage carries the
 * iterations ({@code BetaMessageDeltaUsage.iterations}). Applications send this today: the Python SDK's
 * {@code client.beta.messages.create(..., betas=["server-side-fallback-2026-07-01"], fallbacks="default")},
 * anthropic-php 1.8.0 / anthropic-laravel 1.8.0 ("per-attempt usage->iterations"); and the fallback is on by
 * default on Opus 5 and the Fable/Mythos 5 models.
 *
 * <p>The filter adds every iteration whose {@code type} is not {@code message} to the top level, so the
 * served answer, already the top level, is charged again: a fallback-served call costs the user twice what
 * the provider billed. Expected: the top level (what Anthropic bills). Controls: the same turn answered by
 * Fable 5 itself (one {@code message} iteration), and a round-292 compaction call, charged as billed.
 */
abstract class AbstractRound303 extends ShapedAnswerRound {
    /** A conversation of about 9,000 o200k tokens (Prose: 4.5 characters a token). */
    static final String HISTORY = Prose.english(40_000);
    static final String ANSWER = "Here is how the TLS handshake in your capture proceeds, step by step, and why the"
            + " server rejects the client certificate: the chain it sends stops at the intermediate.";

    // the cookbook's own numbers
    static final long COOK_IN = 412;
    static final long COOK_OUT = 264;
    static final long COOK_DECLINED_IN = 408;

    // a long conversation's turn
    static final long TURN_IN = 9_150;
    static final long TURN_OUT = 1_240;

    static String subject() {
        return "u303-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String counts(long in, long out) {
        return "\"input_tokens\":" + in + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                + "\"output_tokens\":" + out;
    }

    static String iteration(String type, String model, long in, long out) {
        return "{\"type\":\"" + type + "\",\"model\":\"" + model + "\"," + counts(in, out) + "}";
    }

    /** The usage of each shape, as the Messages API writes it. */
    static String usage(String shape) {
        return switch (shape) {
            // the cookbook's fallback response: Fable 5 blocked (408 read, nothing billed), Opus 4.8 answered
            case "fallback" -> "{" + counts(COOK_IN, COOK_OUT) + ",\"iterations\":["
                    + iteration("message", "claude-fable-5", COOK_DECLINED_IN, 0) + ","
                    + iteration("fallback_message", "claude-opus-4-8", COOK_IN, COOK_OUT) + "]}";
            // a sticky-served turn of a long conversation: Opus 4.8 directly, its one pass
            case "sticky" -> "{" + counts(TURN_IN, TURN_OUT) + ",\"iterations\":["
                    + iteration("fallback_message", "claude-opus-4-8", TURN_IN, TURN_OUT) + "],\"service_tier\":\"standard\"}";
            // control: the same turn answered by Fable 5 itself
            case "fable" -> "{" + counts(TURN_IN, TURN_OUT) + ",\"iterations\":["
                    + iteration("message", "claude-fable-5", TURN_IN, TURN_OUT) + "],\"service_tier\":\"standard\"}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    /** What Anthropic bills: the top level ("input_tokens is counted once for the turn"). */
    static long billed(String shape) {
        return switch (shape) {
            case "fallback" -> COOK_IN + COOK_OUT;
            case "sticky", "fable" -> TURN_IN + TURN_OUT;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    static String model(String shape) {
        return shape.equals("fable") ? "claude-fable-5" : "claude-opus-4-8";
    }

    static String content(String shape) {
        String text = "{\"type\":\"text\",\"text\":" + q(ANSWER) + "}";
        return shape.equals("fallback")
                ? "[{\"type\":\"fallback\",\"from\":{\"model\":\"claude-fable-5\"},\"to\":{\"model\":\"claude-opus-4-8\"}}," + text + "]"
                : "[" + text + "]";
    }

    /** The whole beta message (the cookbook's "fallback response shape"). */
    @Override
    protected String body(String shape) {
        return "{\"id\":\"msg_01Ab303\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + model(shape) + "\","
                + "\"content\":" + content(shape) + ",\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                + "\"stop_details\":null,\"usage\":" + usage(shape) + "}";
    }

    /**
     * {@code stream-{shape}}: the same turn streamed. A block before any output is invisible: the stream is the
     * fallback model's, its {@code message_delta}'s usage carries the iterations.
     */
    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("stream-")) {
            return false;
        }
        String s = shape.substring(7);
        long in = s.equals("fallback") ? COOK_IN : TURN_IN;
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Ab303\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"" + model(s) + "\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{" + counts(in, 1) + "}}}");
        event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
        event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
                + q(ANSWER) + "}}");
        event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        event(w, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                + "\"usage\":" + usage(s) + "}");
        event(w, "message_stop", "{\"type\":\"message_stop\"}");
        w.flush();
        return true;
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
    }

    /** The request: Fable 5 with the server-side fallback to Opus 4.8 (the cookbook's {@code chat_turn}). */
    static String request(String shape, boolean stream) {
        String s = shape.startsWith("stream-") ? shape.substring(7) : shape;
        String messages = s.equals("fallback")
                ? "[{\"role\":\"user\",\"content\":\"Hello, world\"}]"
                : "[{\"role\":\"user\",\"content\":" + q("Here is the packet capture of the failing handshake:\n" + HISTORY) + "},"
                        + "{\"role\":\"assistant\",\"content\":\"I see the ClientHello and the server's alert.\"},"
                        + "{\"role\":\"user\",\"content\":\"Walk me through why it fails.\"}]";
        return "{\"model\":\"claude-fable-5\",\"max_tokens\":2048" + (stream ? ",\"stream\":true" : "")
                + ",\"messages\":" + messages + ",\"fallbacks\":[{\"model\":\"claude-opus-4-8\"}]}";
    }

    private void chargedWhatWasBilled(String shape) {
        String s = subject();
        store.grant(PurchaseRequest.grant("tx-" + s, s, 200_000, PurchaseType.PURCHASE, "pack"));
        boolean stream = shape.startsWith("stream-");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, request(shape, stream),
                "anthropic-version", "2023-06-01", "anthropic-beta", "server-side-fallback-2026-06-01");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        String plain = stream ? shape.substring(7) : shape;
        long used = settled(s).used();
        assertEquals(billed(plain), used, shape + ": Anthropic bills the top level, " + billed(plain)
                + " (the fallback_message iteration is the served answer, the top level itself); the ledger charged "
                + used + ": " + ledger(s));
    }

    /**
     * The attack, the cookbook's own answer: Fable 5 blocked, Opus 4.8 answered 412 in / 264 out. Billed 676
     * (the declined hop's input is not billed, and the filter rightly skips its {@code message} entry); the
     * filter adds the {@code fallback_message} entry to the top level it repeats: 1,352.
     */
    @ParameterizedTest
    @ValueSource(strings = {"fallback", "stream-fallback"})
    void aFallbackServedAnswerIsChargedOnce(String shape) {
        chargedWhatWasBilled(shape);
    }

    /**
     * The attack, a sticky-served turn of a long conversation: Opus 4.8 directly, 9,150 in / 1,240 out, its one
     * iteration a {@code fallback_message}. Billed 10,390; charged 20,780.
     */
    @ParameterizedTest
    @ValueSource(strings = {"sticky", "stream-sticky"})
    void aStickyServedTurnIsChargedOnce(String shape) {
        chargedWhatWasBilled(shape);
    }

    /** Control: the same turn answered by Fable 5 (one {@code message} iteration): 10,390, charged exactly. */
    @ParameterizedTest
    @ValueSource(strings = {"fable", "stream-fable"})
    void aTurnFableAnsweredIsChargedItsUsage(String shape) {
        chargedWhatWasBilled(shape);
    }
}
