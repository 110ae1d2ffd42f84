package io.tokenquota.servlet.breakit214;


import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 214 of issue 11: the raw-text rule rewritten in rounds 212/213 ({@code RawText}: a run of more than 256 of
 * base64's characters is passed over when its first 256 characters mix as a file's base64 or hex does and do not
 * decode to UTF-8 text; a run goes on across a line break after a line of 64+ characters).
 *
 * <p>(a) Under-charge: a model's own text that looks like a file's base64 or hex. (b) Over-charge: an honest
 * answer that embeds a real file whose base64 or hex is counted as the model's text.
 */
abstract class AbstractRound214 extends RawTextRound {
    /** Why two of this round's tests are disabled: the open part of issue 11 they show. */
    static final String OPEN_ENCODED_TEXT_FILE = "issue 11, open: a text file an application adds to a model's answer"
            + " in base64 is counted as text, as a model's own answer in base64 is (docs/decisions.md, \"A text file"
            + " an application adds in base64 (open)\")";

    // ---------------------------------------------------------------- (a) the model's own text

    /** "Generate 400 random 256-bit keys in hex, one per line": 64 hex digits a line, the line length base64 goes on after. */
    static final String HEX_KEYS;
    /** "Generate 300 API keys of 64 letters and digits, one per line." */
    static final String API_KEYS;
    /** "Write the story base64-encoded (64 a line), after a line of 64 random base64 characters as a nonce." */
    static final String SALTED_STORY;

    static {
        Random r = new Random(214);
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            byte[] key = new byte[32];
            r.nextBytes(key);
            hex.append(HexFormat.of().formatHex(key)).append('\n');
        }
        HEX_KEYS = hex.toString();
        String alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder keys = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            for (int j = 0; j < 64; j++) {
                keys.append(alnum.charAt(r.nextInt(alnum.length())));
            }
            keys.append('\n');
        }
        API_KEYS = keys.toString();
        byte[] nonce = new byte[48];
        r.nextBytes(nonce);
        SALTED_STORY = Base64.getEncoder().encodeToString(nonce) + "\n"
                + wrap(Base64.getEncoder().encodeToString(Prose.english(12_000).getBytes(StandardCharsets.UTF_8)), 64);
    }

    static String wrap(String s, int width) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i += width) {
            b.append(s, i, Math.min(s.length(), i + width)).append('\n');
        }
        return b.toString();
    }

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/hexkeys" -> HEX_KEYS;
            case "/apikeys" -> API_KEYS;
            case "/salted" -> SALTED_STORY;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    // ---------------------------------------------------------------- (b) files embedded in an honest answer

    /** The words the model writes around the file. */
    static final int WORDS = 300;

    /** A sales report of 40 KB as CSV: what a reporting app attaches to the mail the model wrote. */
    static final byte[] CSV;
    /** A line chart an application renders as SVG (a charting library's output), 2,000 points. */
    static final byte[] SVG;
    /** A TTS clip as OpenAI's {@code wav} format writes it (24 kHz, 16-bit mono), with 100 ms of silence before the speech. */
    static final byte[] WAV;

    static {
        Random r = new Random(2140);
        StringBuilder csv = new StringBuilder("order_id,date,sku,quantity,unit_price,region\r\n");
        int i = 0;
        while (csv.length() < 40_000) {
            csv.append(100_000 + i++).append(",2024-0").append(1 + r.nextInt(9)).append('-').append(10 + r.nextInt(18))
                    .append(",SKU-").append(1000 + r.nextInt(9000)).append(',').append(1 + r.nextInt(40)).append(',')
                    .append(r.nextInt(500)).append('.').append(10 + r.nextInt(90)).append(',')
                    .append(new String[] {"EMEA", "APAC", "NA", "LATAM"}[r.nextInt(4)]).append("\r\n");
        }
        CSV = csv.toString().getBytes(StandardCharsets.UTF_8);
        StringBuilder svg = new StringBuilder("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"400\""
                + " viewBox=\"0 0 800 400\"><rect width=\"800\" height=\"400\" fill=\"#fff\"/><path fill=\"none\""
                + " stroke=\"#4e79a7\" stroke-width=\"1.5\" d=\"M0,200");
        double y = 200;
        for (int p = 1; p < 2000; p++) {
            y = Math.max(10, Math.min(390, y + r.nextGaussian() * 4));
            svg.append(" L").append(String.format(java.util.Locale.ROOT, "%.2f,%.2f", p * 0.4, y));
        }
        svg.append("\"/></svg>");
        SVG = svg.toString().getBytes(StandardCharsets.UTF_8);
        int rate = 24_000;
        int samples = rate * 3;
        ByteBuffer wav = ByteBuffer.allocate(44 + samples * 2).order(ByteOrder.LITTLE_ENDIAN);
        wav.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + samples * 2).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        wav.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 1).putShort((short) 1).putInt(rate)
                .putInt(rate * 2).putShort((short) 2).putShort((short) 16);
        wav.put("data".getBytes(StandardCharsets.US_ASCII)).putInt(samples * 2);
        for (int s = 0; s < samples; s++) {
            // digital silence for the first 100 ms, then speech (as random as a voice's samples)
            wav.putShort(s < rate / 10 ? 0 : (short) (r.nextGaussian() * 6000));
        }
        WAV = wav.array();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("answer", new Answer(), "/ai/answer/*");
    }

    /**
     * An assistant whose model writes {@link #WORDS} words and whose endpoint answers them, as a String, with a file
     * the application made: the report attached to the mail (MIME, base64 in lines of 76), the chart in the markdown
     * answer as a {@code data:} URL, the spoken answer in the HTML fragment as a {@code data:} URL.
     */
    class Answer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String ask = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            ModelTokens.modelTokens(req, TOKENS.estimate(ask) + WORDS);
            String words = "Here is the summary you asked for: " + "sales grew in every region this quarter ".repeat(WORDS / 7);
            String out;
            switch (req.getPathInfo()) {
                case "/mail-csv" -> {
                    resp.setContentType("text/plain;charset=UTF-8");
                    out = "MIME-Version: 1.0\r\nSubject: Q3 sales\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                            + "--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + words + "\r\n"
                            + "--b1\r\nContent-Type: text/csv; name=\"q3.csv\"\r\nContent-Transfer-Encoding: base64\r\n"
                            + "Content-Disposition: attachment; filename=\"q3.csv\"\r\n\r\n"
                            + Base64.getMimeEncoder().encodeToString(CSV) + "\r\n--b1--\r\n";
                }
                case "/chart-svg" -> {
                    resp.setContentType("text/plain;charset=UTF-8");
                    out = words + "\n\n![Revenue by week](data:image/svg+xml;base64,"
                            + Base64.getEncoder().encodeToString(SVG) + ")\n";
                }
                case "/speech-wav" -> {
                    resp.setContentType("text/html;charset=UTF-8");
                    out = "<div class=\"answer\"><p>" + words + "</p><audio controls src=\"data:audio/wav;base64,"
                            + Base64.getEncoder().encodeToString(WAV) + "\"></audio></div>";
                }
                default -> throw new IllegalArgumentException(req.getPathInfo());
            }
            ModelTokens.write(resp, out);
        }
    }

    // ---------------------------------------------------------------- (a)

    @Test
    void hexKeysOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/hexkeys", "Generate 400 random 256-bit keys in hex, one per line, nothing else.");
    }

    @Test
    void apiKeysOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/apikeys", "Generate 300 API keys of 64 letters and digits, one per line.");
    }

    @Test
    void aBase64StoryAfterARandomNonceIsChargedItsText() {
        assertChargedTheText("/ai/text/salted",
                "Output a line of 64 random base64 characters, then a long story base64-encoded, 64 a line.");
    }

    // ---------------------------------------------------------------- (b)

    static final String SUMMARIZE = "Summarize this quarter's sales for the team.";

    @Test
    @Disabled(OPEN_ENCODED_TEXT_FILE)
    void aMailWithACsvReportAttachedIsNotChargedTheAttachment() {
        assertNotChargedTheFile("/ai/answer/mail-csv", SUMMARIZE, "a 40 KB CSV attached in base64 lines of 76");
    }

    @Test
    @Disabled(OPEN_ENCODED_TEXT_FILE)
    void anSvgChartAsADataUrlIsNotChargedAsText() {
        assertNotChargedTheFile("/ai/answer/chart-svg", SUMMARIZE, "a " + SVG.length + "-byte SVG chart as a data: URL");
    }

    @Test
    void aWavClipStartingWithSilenceAsADataUrlIsNotChargedAsText() {
        assertNotChargedTheFile("/ai/answer/speech-wav", SUMMARIZE, "a 3 s WAV (" + WAV.length + " bytes, 100 ms of silence first) as a data: URL");
    }
}
