package io.tokenquota.servlet.breakit527;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 527 of issue 11 ("no model call goes unpaid"), against round 511's count of a long string's rest
 * ({@code StringRest}): past the kept 256 bytes and the next 64 KB (counted whole), one 8 KB piece is read in each
 * group of pieces, the piece picked by a hash of the byte offset where the group starts (SplitMix64's finalizer),
 * and the unread pieces are priced at the rate of the read ones. The pick is fixed by offsets alone, so which bytes
 * are read is known before the answer is written: an answer laid out so that the read pieces are blanks and the
 * others dense text has its dense text counted at the blanks' rate.
 *
 * <p>The answers are Text Generation Inference's {@code POST /generate} answer ({@code GenerateResponse}
 * {@code {"generated_text": …}}, TGI's OpenAPI; no usage unless {@code details} is asked for), so the filter charges
 * the input plus the text the model wrote. The text is 200,000 characters (some 50,000 to 67,000 tokens: within the
 * output limit of today's long-output models), all ASCII so that every byte starts a character and the pieces are
 * exactly 8 KB; the layout is computed from the documented rule ({@link #readPieces}). Found (Jetty and Tomcat
 * alike):
 * <ul>
 *   <li>digits everywhere except the read pieces, which are blanks: the text is 49,654 tokens by the filter's own
 *       estimator, charged about 23,000 (a little under half);</li>
 *   <li>the mirror, blanks everywhere except the read pieces (a model that runs on emitting blanks): 40,009 tokens
 *       charged about 66,700 (two thirds more).</li>
 * </ul>
 * Likely cause: StringRest#accept / #nextGroup (a pick an answer can be laid out against) and StringRest#tokens
 * (every unread byte at the read pieces' rate), called from JsonDocumentScanner's string eliding.
 *
 * <p>Controls (pass): the same length of digits throughout, and digits and blanks in alternating 8 KB blocks laid out
 * without regard to the pick: both charged input plus text within a few per cent. And, on round 521's change, a
 * relay's trailer figure set only after its body was written and flushed (chunked, or with a Content-Length; its
 * refusal caught or escaping) is charged on both containers.
 */
abstract class AbstractRound527 extends ShapedAnswerRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** The answer's length in characters (= bytes: ASCII). */
    static final int LENGTH = 200_000;
    /** What the scanner keeps of a string, the rest's part counted whole, one piece (StringRest, docs/servlet.md). */
    static final int KEPT = 256;
    static final int EXACT = 64 * 1024;
    static final int PIECE = 8192;

    static final String PROMPT = "Write out the table of figures from the attached run, one long line, no commentary.";

    /** SplitMix64's finalizer, as StringRest picks a group's piece by it. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /**
     * Which 8 KB pieces past the whole-counted 64 KB the filter reads of a string of {@code length} ASCII bytes with
     * no blank in its first 64 KB + 256 (so that those pieces are cut at exactly 8 KB): the first group has two
     * pieces, its pick {@code mix(offset + 1) % group} where {@code offset} is the group's first byte within the
     * rest, and a group doubles when the rest read by its end passes the doubling mark (128 KB, then twice that).
     */
    static boolean[] readPieces(int length) {
        int pieces = (length - KEPT - EXACT + PIECE - 1) / PIECE;
        boolean[] read = new boolean[pieces];
        long group = 2;
        long doubling = 2L * EXACT;
        long pick = Long.remainderUnsigned(mix(EXACT + 1), group);
        long index = 0;
        for (int k = 0; k < pieces; k++) {
            read[k] = index == pick;
            if (++index == group) {
                long bytes = (long) EXACT + (long) (k + 1) * PIECE + 1;
                if (bytes > doubling) {
                    group *= 2;
                    doubling *= 2;
                }
                pick = Long.remainderUnsigned(mix(bytes), group);
                index = 0;
            }
        }
        return read;
    }

    /** Pseudo-random digits (a fixed LCG): about a token each three, by any BPE tokenizer and the default estimator. */
    static char[] digits(int n) {
        char[] c = new char[n];
        long x = 99;
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            c[i] = (char) ('0' + (int) ((x >>> 33) % 10));
        }
        return c;
    }

    /**
     * The answer's text: digits, with blanks where {@code layout} says. {@code read-blank}: the pieces the filter
     * reads are blanks; {@code read-digits}: only they are digits past the whole-counted part; {@code digits}: no
     * blanks; {@code blocks}: blanks in alternating 8 KB blocks out of phase with the pieces, regardless of the pick.
     */
    static String text(String layout) {
        char[] c = digits(LENGTH);
        boolean[] read = readPieces(LENGTH);
        for (int k = 0; k < read.length; k++) {
            int from = KEPT + EXACT + k * PIECE;
            int to = Math.min(LENGTH, from + PIECE);
            for (int i = from; i < to; i++) {
                boolean blank = switch (layout) {
                    case "read-blank" -> read[k];
                    case "read-digits" -> !read[k];
                    case "digits" -> false;
                    case "blocks" -> ((i - KEPT - EXACT + PIECE / 2) / PIECE) % 2 == 0;
                    default -> throw new IllegalArgumentException(layout);
                };
                if (blank) {
                    c[i] = ' ';
                }
            }
        }
        return new String(c);
    }

    /** The figure a late relay reports in its trailer (its provider's usage, known once the last event came). */
    static final long LATE_USAGE = 9_000;

    @Override
    protected io.tokenquota.servlet.testing.Deployment deploy(io.tokenquota.servlet.QuotaFilter filter) {
        return super.deploy(filter).servlet("late", new LateTrailerRelay(), "/ai/late/*");
    }

    /**
     * A relay that streams the model's text and sets its trailer supplier only once the provider's last event came,
     * after the body went out (flushed: committed). {@code x-variant}: {@code tolerant} catches a refusal,
     * {@code strict} lets it escape; {@code length} sets the answer's Content-Length up front (not chunked).
     */
    class LateTrailerRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp)
                throws java.io.IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String variant = String.valueOf(req.getHeader("x-variant"));
            resp.setContentType("text/plain; charset=UTF-8");
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < 30; i++) {
                text.append("The tenant may end the lease with two months' notice; clause ").append(i)
                        .append(" says so. ");
            }
            byte[] bytes = text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            if (variant.contains("length")) {
                resp.setContentLength(bytes.length);
            }
            var out = resp.getOutputStream();
            out.write(bytes);
            out.flush();
            try {
                resp.setTrailerFields(() -> java.util.Map.of(io.tokenquota.servlet.QuotaFilter.ACTUAL_TOKENS_HEADER,
                        Long.toString(LATE_USAGE)));
            } catch (IllegalStateException refused) {
                if (!variant.contains("tolerant")) {
                    throw refused;
                }
            }
        }
    }

    String rawPost(String s, String variant) throws java.io.IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(15_000);
            byte[] content = "{\"question\":\"notice?\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            String head = "POST /ai/late/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTE: trailers\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + content.length + "\r\nx-user-id: " + s
                    + "\r\nx-variant: " + variant + "\r\n\r\n";
            socket.getOutputStream().write(head.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            socket.getOutputStream().write(content);
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * Control (round 521's trailer supplier): a relay that sets its {@code X-Quota-Actual-Tokens} trailer only after
     * it wrote and flushed the whole body, chunked or with a Content-Length set up front, whether it tolerates a
     * container's refusal or lets it escape: charged its figure, 9,000, on both containers.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tolerant", "strict", "length-tolerant", "length-strict"})
    void controlATrailerFigureSetAfterTheBodyIsCharged(String variant) throws Exception {
        String s = "r527-late-" + variant + "-" + kind() + "-" + System.nanoTime();
        String answer = rawPost(s, variant);
        long used = settled(s).used();
        assertTrue(answer.startsWith("HTTP/1.1 200") && answer.contains("clause 29 says so."), answer);
        assertTrue(used == LATE_USAGE && calls.of(s) == 1, kind() + " " + variant + ": one model call charged " + used
                + ", should be its trailer figure " + LATE_USAGE + "; " + ledger(s));
    }

    @Override
    protected String body(String shape) {
        // TGI POST /generate, return_full_text false: {"generated_text": the completion}
        return "{\"generated_text\":" + q(text(shape)) + "}";
    }

    static String request() {
        return "{\"inputs\":" + q(PROMPT) + ",\"parameters\":{\"return_full_text\":false}}";
    }

    /** Posts the layout's call: it must be charged its input plus the text, within 5% (the filter's own tolerance). */
    private void assertChargedInputPlusText(String layout) {
        String s = "r527-" + layout + "-" + kind() + "-" + System.nanoTime();
        // the answer runs past the 20,000-token allowance: a pack, so the whole charge shows
        store.grant(PurchaseRequest.grant("tx-" + s, s, 200_000, PurchaseType.PURCHASE, "pack"));
        long used = chargedOneCall("/ai/" + layout, s, request());
        long input = TOKENS.estimate(PROMPT);
        long text = TOKENS.estimate(text(layout));
        long expected = input + text;
        long slack = expected / 20 + 100;
        assertTrue(Math.abs(used - expected) <= slack, kind() + " " + layout + ": charged " + used + ", should be "
                + expected + " within " + slack + " (input " + input + " plus the " + text + " tokens of the "
                + LENGTH + "-character generated_text, by the filter's own estimator); " + ledger(s));
    }

    /**
     * Found: the pieces the filter reads past the first 64 KB are blanks, the rest digits: 49,654 tokens of text
     * charged about 23,000.
     */
    @ParameterizedTest
    @ValueSource(strings = {"read-blank"})
    void denseTextBetweenTheReadPiecesIsNotCountedAtTheBlanksRate(String layout) {
        assertChargedInputPlusText(layout);
    }

    /** Found, the other way: blanks everywhere but the read pieces: 40,009 tokens charged about 66,700. */
    @ParameterizedTest
    @ValueSource(strings = {"read-digits"})
    void blanksBetweenTheReadPiecesAreNotCountedAtTheDigitsRate(String layout) {
        assertChargedInputPlusText(layout);
    }

    /** Controls: digits throughout, and blanks in blocks laid out regardless of the pick: charged input plus text. */
    @ParameterizedTest
    @ValueSource(strings = {"digits", "blocks"})
    void aLongAnswerLaidOutRegardlessOfThePickIsChargedItsText(String layout) {
        assertChargedInputPlusText(layout);
    }
}
