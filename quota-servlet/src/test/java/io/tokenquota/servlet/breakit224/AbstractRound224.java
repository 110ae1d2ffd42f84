package io.tokenquota.servlet.breakit224;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 224 of issue 11: the event path of the raw-text rule. (a) A model's answer that opens with a JSON
 * example (as asked: "show me the payload, then explain it") and goes on in prose, sent as one event
 * ({@code SseEmitter.send(call().content())}), Spring's way: a {@code data:} line per line of the text.
 * (b) An editor agent that streams the model's draft and then its revision, as two events: the revision
 * keeps the draft's opening and rewrites the rest.
 */
abstract class AbstractRound224 extends RawTextRound {
    /** A JSON example, pretty-printed as models write it. */
    static final String EXAMPLE = "{\n  \"orderId\": \"A-1042\",\n  \"status\": \"shipped\",\n  \"items\": [\n"
            + "    {\"sku\": \"KB-01\", \"qty\": 2},\n    {\"sku\": \"MS-07\", \"qty\": 1}\n  ]\n}";
    /** The model's explanation of it, about 5,000 tokens. */
    static final String EXPLANATION = Prose.english(24_000);
    /** The answer: the example first, the explanation after it. */
    static final String JSON_FIRST = EXAMPLE + "\n\nThis payload is what the webhook sends when an order ships. " + EXPLANATION;
    /** The same on one line (an application that sends the answer as one data line, newlines taken out). */
    static final String JSON_FIRST_ONE_LINE = JSON_FIRST.replace('\n', ' ');
    /** A list of objects as the example, the explanation after it. */
    static final String ARRAY_FIRST = "[{\"sku\": \"KB-01\", \"qty\": 2}, {\"sku\": \"MS-07\", \"qty\": 1}]\n\n"
            + "That array is the order's line items. " + EXPLANATION;

    /** The draft's opening (past the 4,096 bytes an event keeps), the draft's rest, and the revision's rest. */
    static final String OPENING = Prose.english(6_000);
    static final String DRAFT_REST;
    static final String REVISED_REST;

    static {
        // other text than the opening's: the same words, a different order
        String later = Prose.english(60_000);
        DRAFT_REST = later.substring(20_000, 38_000);
        REVISED_REST = later.substring(40_000, 58_000);
    }

    static final String DRAFT = OPENING + DRAFT_REST;
    static final String REVISED = OPENING + REVISED_REST;

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/jsonfirst" -> JSON_FIRST;
            case "/jsonline" -> JSON_FIRST_ONE_LINE;
            case "/arrayfirst" -> ARRAY_FIRST;
            case "/revised" -> DRAFT + "\n\n" + REVISED;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("editor", new EditorAgent(), "/ai/editor/*");
    }

    /**
     * A self-refine agent: the model drafts ({@code draft} event), the model revises its draft
     * ({@code final} event: the opening kept, the rest rewritten). Two model calls' text in one request.
     */
    private final class EditorAgent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            event(out, "draft", DRAFT);
            out.flush();
            event(out, "final", REVISED);
        }
    }

    // ---------------------------------------------------------------- (a) an answer opening with JSON

    @Test
    void anAnswerOpeningWithAJsonExampleInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/jsonfirst", "Show me an example order-shipped webhook payload, then explain each field in depth.");
    }

    @Test
    void anAnswerOpeningWithAJsonExampleAsTextIsChargedTheText() {
        assertChargedTheText("/ai/text/jsonfirst", "Show me an example order-shipped webhook payload, then explain each field in depth.");
    }

    @Test
    void anAnswerOpeningWithAJsonExampleOnOneDataLineIsChargedTheText() {
        assertChargedTheText("/ai/event/jsonline", "Show me an example order-shipped webhook payload, then explain each field in depth.");
    }

    @Test
    void anAnswerOpeningWithAJsonArrayInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/arrayfirst", "Show me the line items of an order as JSON, then explain them in depth.");
    }

    @Test
    void anAnswerOpeningWithAJsonExampleStreamedInPiecesIsChargedTheText() {
        assertChargedTheText("/ai/events/jsonfirst", "Show me an example order-shipped webhook payload, then explain each field in depth.");
    }

    @Test
    void anAnswerAsAJsonStringInOneEventIsChargedTheText() {
        // Spring's Jackson encoder writing the answer (a String in a Flux<Object>) as a JSON string
        assertChargedTheText("/ai/jsonstring/jsonfirst", "Show me an example order-shipped webhook payload, then explain each field in depth.");
    }

    // ---------------------------------------------------------------- (b) a draft and its revision

    @Test
    void aDraftAndItsRevisionAreBothCharged() {
        // the model wrote the opening, the draft's rest and the revision's rest at least
        long text = TOKENS.estimate(OPENING + "\n\n" + DRAFT_REST + "\n\n" + REVISED_REST);
        assertChargedAtLeast("/ai/editor/revised", "Draft a project update and then revise it.", text * 9 / 10,
                text + " tokens of the opening, the draft's rest and the revision's rest (the revision is no draft grown)");
    }
}
