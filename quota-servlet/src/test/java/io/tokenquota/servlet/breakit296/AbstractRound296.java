package io.tokenquota.servlet.breakit296;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Pictures;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 296 of issue 11 ("the ledger charges exactly the usage of the calls that reached a model"):
 * non-chat endpoints. Cohere's multimodal embeddings ({@code POST /v2/embed}, {@code embed-v4.0}) bill an
 * image as <b>image tokens</b>, reported in their own counter beside the text's:
 * {@code "meta": {"billed_units": {"input_tokens": …, "image_tokens": …}}}.
 * <ul>
 *   <li>The counter: cohere-python {@code src/cohere/types/api_meta_billed_units.py},
 *       {@code image_tokens: Optional[float]} "The number of billed image tokens" (beside {@code images},
 *       {@code input_tokens}, {@code output_tokens}, {@code search_units}, {@code classifications}); added by
 *       cohere-python issue #711 ("{@code image_tokens} missing from embedding response model", SDK 5.20.0), whose
 *       reporter printed a real embed-v4.0 answer's billed units: {@code {"images": null, "input_tokens": 0.0,
 *       "output_tokens": null, "search_units": null, "classifications": null, "image_tokens": 2716}}.</li>
 *   <li>No {@code meta.tokens} beside them for an image: Cohere's "Multimodal embeddings" page, "Sample Output"
 *       (an image embedded, {@code "tokens": null} in its meta); the filter's other Cohere counter is absent.</li>
 *   <li>Text and images in one call: the v2 embed API's {@code inputs} ("an array of inputs ... an input can
 *       contain a mix of text and image components": {@code {"content": [{"type": "text", "text": …},
 *       {"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}}]}}, docs.cohere.com/reference/embed;
 *       vLLM's Cohere-compatible {@code /v2/embed}, PR #46093, reports such a mixed input as
 *       {@code "billed_units": {"input_tokens": …, "image_tokens": …}}); a page image is about 1,600 to 2,700
 *       image tokens (Oracle's Cohere Embed 4 page: "a 512 x 512 image is converted to about 1,610 tokens").
 *       Cohere's own cookbook embeds PDF pages as images with their captions this way, and its users read
 *       {@code response.meta.billed_units.image_tokens} for the cost.</li>
 * </ul>
 * The filter reads Cohere's {@code billed_units} as {@code input_tokens + output_tokens} only
 * ({@code UsageSniffer.cohere}, {@code UsageKinds.cohere}). A call whose text is a caption and whose image is a
 * page is charged the caption's 14 tokens: the image tokens, the bulk of the bill, are free, and since the text
 * count is not 0 the report is final (never raised to the estimate). A relay of Cohere's embed API (the Cohere
 * Java SDK or Spring AI's Cohere embedding client pointed at it, or an application returning the answer as it
 * came) hands every user a document index built from page images for the price of its captions.
 */
abstract class AbstractRound296 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The answer the provider gives each subject's call. */
    final Map<String, String> answers = new ConcurrentHashMap<>();

    /** What Cohere billed one page image of the test (issue #711's figure). */
    static final long PAGE_IMAGE_TOKENS = 2_716;
    /** What Cohere billed one caption. */
    static final long CAPTION_TOKENS = 14;

    static String subject() {
        return "u296-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("cohere", new CohereEmbed(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    /** Cohere's {@code /v2/embed} behind a relay that returns its answer as it came. */
    final class CohereEmbed extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            resp.setContentType("application/json");
            resp.getOutputStream().write(answers.get(s).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A scanned page as a PNG data URL (1080x1350, the size of Cohere's sample). */
    static String page(int n) {
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(Pictures.png(1080, 1350 + n, 60_000));
    }

    static String caption(int n) {
        return "Quarterly revenue by region, page " + (n + 4) + " of the 2025 annual report";
    }

    static String vector(int n, int seed) {
        StringBuilder b = new StringBuilder("[");
        Random r = new Random(seed);
        for (int i = 0; i < n; i++) {
            b.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.8f", r.nextGaussian() * 0.03));
        }
        return b.append("]").toString();
    }

    /** A v2 embed request: {@code inputs} of the given contents. */
    static String request(String inputs) {
        return "{\"model\":\"embed-v4.0\",\"input_type\":\"search_document\",\"embedding_types\":[\"float\"],"
                + "\"output_dimension\":256,\"inputs\":[" + inputs + "]}";
    }

    static String fused(int n) {
        return "{\"content\":[{\"type\":\"text\",\"text\":" + q(caption(n)) + "},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + page(n) + "\"}}]}";
    }

    static String textOnly(int n) {
        return "{\"content\":[{\"type\":\"text\",\"text\":" + q(caption(n)) + "}]}";
    }

    static String imageOnly(int n) {
        return "{\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + page(n) + "\"}}]}";
    }

    /** Cohere's v2 embed answer for {@code count} inputs, billed as given ({@code imageTokens} null: no image). */
    static String answer(int count, long inputTokens, Long imageTokens) {
        StringBuilder floats = new StringBuilder();
        for (int i = 0; i < count; i++) {
            floats.append(i == 0 ? "" : ",").append(vector(256, i));
        }
        return "{\"id\":\"5807ee2e-0cda-445a-9ec8-864c60a06606\",\"embeddings\":{\"float\":[" + floats + "]},"
                + "\"texts\":[],\"meta\":{\"api_version\":{\"version\":\"2\"},\"billed_units\":{\"input_tokens\":"
                + inputTokens + (imageTokens == null ? "" : ",\"image_tokens\":" + imageTokens) + "}},"
                + "\"response_type\":\"embeddings_by_type\"}";
    }

    /** One call; the ledger must hold exactly what Cohere billed. */
    private void chargedWhatWasBilled(String request, String answer, long billed, String what) {
        String s = subject();
        // room beside the allowance for the holds of several page images
        store.grant(PurchaseRequest.grant("tx-" + s, s, 40_000, PurchaseType.PURCHASE, "pack"));
        answers.put(s, answer);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/cohere/v2/embed"), s, request);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(billed, used, what + ": Cohere billed " + billed + " (billed_units.input_tokens plus image_tokens),"
                + " the ledger charged " + used + ": " + ledger(s));
    }

    /**
     * The attack, one page: a caption and its page image fused into one embedding. Billed 14 + 2,716 = 2,730;
     * the filter charges the caption's 14 (final: the text count is not 0).
     */
    @Test
    void aCaptionedPageImageIsChargedItsImageTokens() {
        chargedWhatWasBilled(request(fused(0)), answer(1, CAPTION_TOKENS, PAGE_IMAGE_TOKENS),
                CAPTION_TOKENS + PAGE_IMAGE_TOKENS, "one captioned page");
    }

    /**
     * The attack, a document: six captioned pages in one call (Cohere allows 96 inputs). Billed
     * 6 x 14 + 6 x 2,716 = 16,380; the filter charges 84.
     */
    @Test
    void aDocumentOfCaptionedPagesIsChargedItsImageTokens() {
        StringBuilder inputs = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            inputs.append(i == 0 ? "" : ",").append(fused(i));
        }
        chargedWhatWasBilled(request(inputs.toString()), answer(6, 6 * CAPTION_TOKENS, 6 * PAGE_IMAGE_TOKENS),
                6 * (CAPTION_TOKENS + PAGE_IMAGE_TOKENS), "six captioned pages");
    }

    /**
     * A page image alone: Cohere reports {@code "input_tokens": 0} and the image's 2,716 (issue #711's very
     * answer). The filter reads a 0 report, provisional, and charges its own estimate of the request instead of
     * the bill: 1,769 (the image held as an inline image the filter measures) for 2,716; the usage is there and unread.
     */
    @Test
    void aPageImageAloneIsChargedItsImageTokens() {
        chargedWhatWasBilled(request(imageOnly(0)), answer(1, 0, PAGE_IMAGE_TOKENS), PAGE_IMAGE_TOKENS,
                "one page image");
    }

    /** Control: captions only, billed as input tokens: charged exactly. */
    @Test
    void captionsAloneAreChargedTheirInputTokens() {
        String inputs = textOnly(0) + "," + textOnly(1) + "," + textOnly(2);
        chargedWhatWasBilled(request(inputs), answer(3, 3 * CAPTION_TOKENS, null), 3 * CAPTION_TOKENS, "three captions");
    }

    /**
     * Control: the same captioned page answered with Cohere's other counter too ({@code meta.tokens}, which
     * counts the image with the text), when the answer carries it: the filter takes the larger, and charges the bill.
     */
    @Test
    void aCaptionedPageWithTokensCountedIsChargedItsBill() {
        String withTokens = answer(1, CAPTION_TOKENS, PAGE_IMAGE_TOKENS).replace("\"response_type\"",
                "\"tokens_placeholder\"");
        withTokens = withTokens.replace("}},\"tokens_placeholder\"", "},\"tokens\":{\"input_tokens\":"
                + (CAPTION_TOKENS + PAGE_IMAGE_TOKENS) + "}},\"response_type\"");
        chargedWhatWasBilled(request(fused(0)), withTokens, CAPTION_TOKENS + PAGE_IMAGE_TOKENS,
                "one captioned page with meta.tokens");
    }
}
