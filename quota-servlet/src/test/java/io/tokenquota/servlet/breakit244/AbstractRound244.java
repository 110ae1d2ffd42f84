package io.tokenquota.servlet.breakit244;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Pictures;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 244 of issue 11: what the client writes into the request that the endpoint never reads, and what
 * the client's {@code Accept} makes Spring write as the answer's label, used to price a model's media.
 *
 * <p>(a) An avatar generator ({@code POST /ai/spring/avatar}, a Spring controller binding {@code {prompt,
 * size}} with Jackson; the application draws with gpt-image-1 at {@code quality: "high"}, chosen on the server)
 * answers the picture as {@code image/png}. The filter charges such an answer its input plus OpenAI's table
 * figure "for its shape and the quality the request's JSON names". A hostile client adds
 * {@code "quality": "low"} to its body: Jackson ignores the unknown property (Spring's default), the
 * application still draws high, the filter prices the picture at low.
 *
 * <p>(b) A text-to-speech endpoint written as {@code @PostMapping("/speak") ResponseEntity<byte[]>} returning
 * the provider's audio without a content type: Spring's {@code ByteArrayHttpMessageConverter} writes
 * any type, so the label is the client's {@code Accept}. The filter measures raw PCM "at the rate its label
 * names", and the label is checked before the bytes' own format: {@code Accept: audio/L16;rate=999999;channels=64}
 * makes ten minutes of WAV speech last nothing.
 */
abstract class AbstractRound244 extends H2FilterRound {
    static final Map<String, AtomicLong> BILLED = new ConcurrentHashMap<>();

    static String subject() {
        return "u244-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static void bill(HttpServletRequest req, long tokens) {
        BILLED.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicLong()).addAndGet(tokens);
    }

    static long billed(String s) {
        AtomicLong b = BILLED.get(s);
        return b == null ? 0 : b.get();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("spring", SpringMvc.dispatcher(Media.class), SpringMvc.MAPPING)
                .onStartup(filter::registerByServletName);
    }

    public record AvatarRequest(String prompt, String size) {
    }

    @RestController
    public static class Media {
        /** gpt-image-1 at high quality, the size the client chose: OpenAI's table (high row). */
        @PostMapping("/avatar")
        public ResponseEntity<byte[]> avatar(@RequestBody AvatarRequest body, HttpServletRequest req) {
            String size = body.size() == null ? "1024x1536" : body.size();
            long out = switch (size) { case "1024x1024" -> 4160; case "1536x1024" -> 6208; default -> 6240; };
            bill(req, out + Math.max(1, body.prompt().length() / 4));
            String[] wh = size.split("x");
            return ResponseEntity.ok().contentType(MediaType.IMAGE_PNG)
                    .body(Pictures.png(Integer.parseInt(wh[0]), Integer.parseInt(wh[1]), 200_000));
        }

        /** A TTS call; the provider's WAV returned as it came, no content type set (Spring picks one). */
        @PostMapping("/speak")
        public ResponseEntity<byte[]> speak(@RequestBody String text, HttpServletRequest req) throws IOException {
            // the filter's own rate for speech (17 tokens a second), less a second of rounding: 10,183
            bill(req, (SPEECH_SECONDS - 1) * 17);
            ByteArrayOutputStream wav = new ByteArrayOutputStream();
            MediaBytes.writeWav(wav, SPEECH_SECONDS, tone());
            return ResponseEntity.ok(wav.toByteArray());
        }
    }

    static final long SPEECH_SECONDS = 600;

    static byte[] tone() {
        byte[] second = new byte[8_000];
        for (int i = 0; i < second.length; i++) {
            second[i] = (byte) (0x80 + (int) (40 * Math.sin(2 * Math.PI * 440 * i / 8_000.0)));
        }
        return second;
    }

    HttpResponse<String> avatar(String s, String body) {
        return TestHttp.postJson(container.uri("/ai/spring/avatar"), s, body);
    }

    void assertChargedBilled(String s, HttpResponse<String> r, String what) {
        assertEquals(200, r.statusCode(), r.body());
        long bill = billed(s);
        assertTrue(bill > 0, "the model ran");
        long used = settled(s).used();
        assertTrue(used >= bill, what + ": billed " + bill + ", charged " + used + ": " + ledger(s));
    }

    /** Control: the client's body as the application's own page sends it. */
    @Test
    void anAvatarIsChargedItsPicture() {
        String s = subject();
        HttpResponse<String> r = avatar(s, "{\"prompt\":\"a fox in a trench coat, watercolour\",\"size\":\"1024x1536\"}");
        assertChargedBilled(s, r, "a high-quality portrait");
    }

    /** The attack: the same body with a {@code quality} the application never reads. */
    @Test
    void aQualityTheEndpointIgnoresDoesNotLowerThePicturesCharge() {
        String s = subject();
        HttpResponse<String> r = avatar(s, "{\"prompt\":\"a fox in a trench coat, watercolour\",\"size\":\"1024x1536\","
                + "\"quality\":\"low\"}");
        assertChargedBilled(s, r, "a high-quality portrait with \"quality\":\"low\" added by the client");
    }

    HttpResponse<String> speak(String s, String accept) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/speak"), s, "Content-Type", "text/plain",
                "Accept", accept).POST(java.net.http.HttpRequest.BodyPublishers.ofString("Read chapter one aloud.")).build());
    }

    /** Control: a browser's fetch ({@code Accept: *}{@code /*}). */
    @Test
    void speechIsChargedItsLength() {
        String s = subject();
        HttpResponse<String> r = speak(s, "*/*");
        assertChargedBilled(s, r, "600 s of speech, label " + r.headers().firstValue("Content-Type").orElse("none"));
    }

    /** The attack: the client's {@code Accept} names raw PCM at a rate that makes the speech last nothing. */
    @Test
    void anAcceptNamingRawPcmDoesNotShortenTheSpeech() {
        String s = subject();
        HttpResponse<String> r = speak(s, "audio/L16;rate=999999;channels=64");
        assertChargedBilled(s, r, "600 s of WAV speech, label " + r.headers().firstValue("Content-Type").orElse("none"));
    }
}
