package io.tokenquota.servlet.breakit215;


import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelTokens;
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
import org.junit.jupiter.api.Test;

/**
 * Round 215 of issue 11: the raw-text rule of round 214 ({@code RawText}: runs of base64's characters judged by
 * stretches of 256; a stretch that looks like a file's base64 or hex and decodes to no UTF-8 text is passed over;
 * a line break goes on with the run only after a line of more than 64 characters). Hex now always counts, a run
 * goes on only after a line of MIME's 76, padding ends a run, and silence in a file's base64 is the file's.
 *
 * <p>(a) Under-charge: a model's own text, ids and keys longer than 64 characters one per line, and binary a
 * model is asked to write in hex. (b) Over-charge: an audio file whose digital silence is counted as text.
 */
abstract class AbstractRound215 extends RawTextRound {
    // ---------------------------------------------------------------- (a) the model's own text

    /** "Generate 200 random 512-bit HMAC keys in hex, one per line": 128 hex digits a line. */
    static final String HEX512_KEYS;
    /** "Generate 200 secrets as {@code openssl rand -base64 64} prints them, one per line": 88 characters a line. */
    static final String B64_SECRETS;
    /** ".env with 40 secrets": {@code NAME=value}, the values 80 letters and digits. */
    static final String DOTENV;
    /** "Give me the deployment bytecode of this ERC-20 contract": EVM bytecode in hex, one line, 0x-prefixed. */
    static final String BYTECODE;

    static {
        Random r = new Random(215);
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            byte[] key = new byte[64];
            r.nextBytes(key);
            hex.append(HexFormat.of().formatHex(key)).append('\n');
        }
        HEX512_KEYS = hex.toString();
        StringBuilder b64 = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            byte[] key = new byte[64];
            r.nextBytes(key);
            b64.append(Base64.getEncoder().encodeToString(key)).append('\n');
        }
        B64_SECRETS = b64.toString();
        String alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        String[] names = {"JWT_SECRET", "SESSION_SECRET", "STRIPE_WEBHOOK_SECRET", "ENCRYPTION_KEY", "CSRF_SECRET",
            "COOKIE_SIGNING_KEY", "API_TOKEN", "REFRESH_TOKEN_SECRET"};
        StringBuilder env = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            env.append(names[i % names.length]).append('_').append(i / names.length + 1).append('=');
            for (int j = 0; j < 80; j++) {
                env.append(alnum.charAt(r.nextInt(alnum.length())));
            }
            env.append('\n');
        }
        DOTENV = env.toString();
        // EVM bytecode: the usual constructor prologue, then opcodes with PUSH arguments
        StringBuilder code = new StringBuilder("0x608060405234801561001057600080fd5b50");
        int[] ops = {0x60, 0x61, 0x80, 0x81, 0x82, 0x90, 0x91, 0x52, 0x51, 0x56, 0x57, 0x5b, 0x35, 0x36, 0x14, 0x15,
            0x01, 0x03, 0x16, 0x1c, 0x63, 0x73, 0xa2, 0xf3, 0xfd, 0x50, 0x54, 0x55, 0x20, 0x7f};
        while (code.length() < 12_000) {
            int op = ops[r.nextInt(ops.length)];
            code.append(String.format("%02x", op));
            int push = op >= 0x60 && op <= 0x7f ? op - 0x5f : 0;
            for (int k = 0; k < push; k++) {
                code.append(String.format("%02x", r.nextInt(256)));
            }
        }
        BYTECODE = code.toString();
    }

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/hex512" -> HEX512_KEYS;
            case "/b64secrets" -> B64_SECRETS;
            case "/dotenv" -> DOTENV;
            case "/bytecode" -> BYTECODE;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    // ---------------------------------------------------------------- (b) a file in an honest answer

    static final int WORDS = 300;

    /**
     * The spoken answer an assistant builds from six TTS clips (24 kHz, 16-bit mono, as OpenAI's {@code wav} or
     * {@code pcm} format), joined with 600 ms of digital silence between the sentences, as every TTS pipeline
     * that reads an answer sentence by sentence does.
     */
    static final byte[] WAV;

    static {
        Random r = new Random(2150);
        int rate = 24_000;
        int clip = rate * 2;
        int gap = rate * 6 / 10;
        int samples = 6 * clip + 5 * gap;
        ByteBuffer wav = ByteBuffer.allocate(44 + samples * 2).order(ByteOrder.LITTLE_ENDIAN);
        wav.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + samples * 2).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        wav.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 1).putShort((short) 1).putInt(rate)
                .putInt(rate * 2).putShort((short) 2).putShort((short) 16);
        wav.put("data".getBytes(StandardCharsets.US_ASCII)).putInt(samples * 2);
        for (int c = 0; c < 6; c++) {
            if (c > 0) {
                for (int s = 0; s < gap; s++) {
                    wav.putShort((short) 0);
                }
            }
            for (int s = 0; s < clip; s++) {
                wav.putShort((short) (r.nextGaussian() * 6000));
            }
        }
        WAV = wav.array();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("answer", new Answer(), "/ai/answer/*");
    }

    /** An assistant answering {@link #WORDS} words and its spoken version as a {@code data:} URL in an HTML fragment. */
    class Answer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String ask = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            ModelTokens.modelTokens(req, TOKENS.estimate(ask) + WORDS);
            String words = "Here is the summary you asked for: " + "sales grew in every region this quarter ".repeat(WORDS / 7);
            resp.setContentType("text/html;charset=UTF-8");
            ModelTokens.write(resp, "<div class=\"answer\"><p>" + words + "</p><audio controls src=\"data:audio/wav;base64,"
                    + Base64.getEncoder().encodeToString(WAV) + "\"></audio></div>");
        }
    }

    // ---------------------------------------------------------------- (a)

    @Test
    void hex512KeysOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/hex512", "Generate 200 random 512-bit HMAC keys in hex, one per line, nothing else.");
    }

    @Test
    void base64SecretsOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/b64secrets",
                "Generate 200 secrets as openssl rand -base64 64 prints them, one per line, nothing else.");
    }

    @Test
    void aDotEnvOfSecretsIsChargedItsText() {
        assertChargedTheText("/ai/text/dotenv", "Write a .env with 40 strong random secrets of 80 characters for staging.");
    }

    @Test
    void evmBytecodeAModelWritesIsChargedItsText() {
        assertChargedTheText("/ai/text/bytecode", "Compile this ERC-20 contract and give me only its deployment bytecode.");
    }

    // ---------------------------------------------------------------- (b)

    @Test
    void aSpokenAnswerWithPausesAsADataUrlIsNotChargedItsSilence() {
        assertNotChargedTheFile("/ai/answer/speech", "Summarize this quarter's sales for the team, and read it aloud.",
                "a " + WAV.length + "-byte WAV (six clips, 600 ms of silence between them) as a data: URL");
    }
}
