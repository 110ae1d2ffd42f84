package io.tokenquota.servlet.breakit120;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 120 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * audio a model writes that is longer than its request's text could be read aloud. A text-to-audio
 * model (Stability's Stable Audio: a one-line prompt and a duration, a WAV track back) and speech of
 * figures read slowly ({@code speed: 0.25}, as an accessibility reader asks), both answered without
 * usage, so the filter charges them by their length at the rate it holds audio (17 tokens a second).
 * Since speech is now counted no longer than "a token of the request's text a second", such audio is
 * charged a fraction of its length, and a user gets several times the tracks the allowance pays for.
 */
abstract class AbstractRound120 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** The rate the filter's docs charge audio a model wrote without usage at. */
    static final long AUDIO_TOKENS_PER_SECOND = 17;
    /** A voice at normal speed. */
    static final double WORDS_PER_SECOND = 2.5;
    /** A three-minute track, Stable Audio 2's usual length (it makes up to 190 s). */
    static final int TRACK_SECONDS = 180;
    static final String PROMPT = "lo-fi hip hop beat with soft piano and rain, 80 BPM";

    /** Model calls (tracks or speech) by subject, and the seconds of audio each was sent. */
    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    final Map<String, AtomicLong> seconds = new ConcurrentHashMap<>();

    /** Audio of {@code secs} at the audio rate, less 1% for how a container's WAV length is rounded. */
    static long atRate(long secs) {
        return AUDIO_TOKENS_PER_SECOND * secs * 99 / 100;
    }

    static String subject() {
        return "u120-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("stability", new StableAudio(), multipart, "/ai/v2beta/*")
                .servlet("openai", new Speech(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * Stability's {@code POST /v2beta/audio/stable-audio-2/text-to-audio}: a multipart form with
     * {@code prompt}, {@code duration} (seconds) and {@code output_format}; answers the track itself
     * ({@code audio/wav}) for {@code Accept: audio/*}, no usage (Stability bills credits per call).
     */
    class StableAudio extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String user = req.getHeader("x-user-id");
            String prompt = field(req, "prompt");
            long duration = Long.parseLong(field(req, "duration"));
            if (prompt.isBlank() || !"wav".equals(field(req, "output_format"))) {
                resp.sendError(400);
                return;
            }
            calls.computeIfAbsent(user, u -> new AtomicInteger()).incrementAndGet();
            seconds.computeIfAbsent(user, u -> new AtomicLong()).addAndGet(duration);
            resp.setContentType("audio/wav");
            writeWav(resp.getOutputStream(), duration);
        }

        private String field(HttpServletRequest req, String name) throws IOException, ServletException {
            Part part = req.getPart(name);
            return part == null ? "" : new String(part.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * OpenAI's {@code POST /v1/audio/speech}: reads {@code input} aloud at {@code speed} (0.25 to 4.0)
     * as WAV; figures are read out in words ("1,234" is "one thousand two hundred thirty-four"). No usage.
     */
    class Speech extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String user = req.getHeader("x-user-id");
            JsonNode body = JSON.readTree(req.getInputStream());
            String input = body.path("input").asText();
            double speed = body.path("speed").asDouble(1.0);
            long spoken = 0;
            for (String word : input.split("\\s+")) {
                String bare = word.replaceAll("[^0-9,]", "");
                spoken += bare.matches("[0-9][0-9,]*") ? spell(Long.parseLong(bare.replace(",", ""))) : 1;
            }
            long duration = (long) Math.ceil(spoken / (WORDS_PER_SECOND * speed));
            calls.computeIfAbsent(user, u -> new AtomicInteger()).incrementAndGet();
            seconds.computeIfAbsent(user, u -> new AtomicLong()).addAndGet(duration);
            resp.setContentType("audio/wav");
            writeWav(resp.getOutputStream(), duration);
        }
    }

    /** How many words a number is read out in ("one billion two hundred thirty-four million ..."). */
    static long spell(long n) {
        if (n == 0) {
            return 1;
        }
        long words = 0;
        long[] scales = {1_000_000_000L, 1_000_000L, 1_000L, 1L};
        for (long scale : scales) {
            long group = n / scale % 1000;
            if (group == 0) {
                continue;
            }
            if (group >= 100) {
                words += 2; // "five hundred"
            }
            long rest = group % 100;
            if (rest >= 20) {
                words += rest % 10 == 0 ? 1 : 2; // "sixty", "sixty seven"
            } else if (rest > 0) {
                words += 1;
            }
            if (scale > 1) {
                words += 1; // "million"
            }
        }
        return words;
    }

    /** A WAV of {@code seconds}: 8 kHz 8-bit mono PCM, a 220 Hz tone, its header stating the length. */
    static void writeWav(OutputStream out, long seconds) throws IOException {
        byte[] second = new byte[8_000];
        for (int i = 0; i < second.length; i++) {
            second[i] = (byte) (0x80 + (int) (40 * Math.sin(2 * Math.PI * 220 * i / (double) second.length)));
        }
        MediaBytes.writeWav(out, seconds, second);
    }

    HttpResponse<String> track(String user) {
        String boundary = "----stable" + UUID.randomUUID().toString().replace("-", "");
        byte[] body = TestHttp.multipart(boundary,
                "Content-Disposition: form-data; name=\"prompt\"", PROMPT,
                "Content-Disposition: form-data; name=\"duration\"", Integer.toString(TRACK_SECONDS),
                "Content-Disposition: form-data; name=\"output_format\"", "wav",
                "Content-Disposition: form-data; name=\"model\"", "stable-audio-2");
        return TestHttp.post(container.uri("/ai/v2beta/audio/stable-audio-2/text-to-audio"), body,
                "x-user-id", user, "Accept", "audio/*", "Content-Type", "multipart/form-data; boundary=" + boundary);
    }

    HttpResponse<String> speak(String user, String input, double speed) {
        return TestHttp.postJson(container.uri("/ai/v1/audio/speech"), user, "{\"model\":\"gpt-4o-mini-tts\",\"voice\":\"alloy\","
                + "\"response_format\":\"wav\",\"speed\":" + speed + ",\"input\":" + JsonTree.quoted(input) + "}");
    }

    /** Twenty account balances as a screen reader reads a statement. */
    static String balances() {
        StringBuilder sb = new StringBuilder("Balances:");
        long n = 1_234_567_891L;
        for (int i = 0; i < 20; i++) {
            sb.append(' ').append(String.format(java.util.Locale.ROOT, "%,d", n)).append(i < 19 ? ";" : ".");
            n = n * 7 % 9_876_543_211L + 1_000_000_000L;
        }
        return sb.toString();
    }

    /**
     * Control: three minutes of ordinary speech (450 words read at normal speed) are charged their length:
     * at least 17 tokens a second, 3,060 (within 1%).
     */
    @Test
    void controlThreeMinutesOfSpeechAreChargedTheirLength() {
        String user = subject();
        HttpResponse<String> r = speak(user, "word ".repeat(450).trim(), 1.0);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        long secs = seconds.get(user).get();
        long used = settled(user).used();
        assertTrue(used >= atRate(secs), kind() + ": " + secs + " s of speech charged " + used);
    }

    /**
     * A one-line prompt asks Stable Audio for a three-minute track (180 s of WAV, no usage). The model
     * wrote three minutes of audio: by the filter's audio rule it costs at least 17 tokens a second,
     * 3,060, as three minutes of speech do. The filter counts audio no longer than a second per token of
     * the request's text (about a dozen), so the track is charged its estimate, about a third of that.
     */
    @Test
    void aThreeMinuteTrackFromAOneLinePromptIsChargedItsLength() {
        String user = subject();
        HttpResponse<String> r = track(user);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        long used = settled(user).used();
        assertTrue(used >= atRate(TRACK_SECONDS), kind() + ": a " + TRACK_SECONDS
                + " s track charged " + used + ", expected at least " + AUDIO_TOKENS_PER_SECOND * TRACK_SECONDS
                + "; " + ledger(user));
    }

    /**
     * A user with the whole allowance (20,000) asks for tracks until refused. At 3,060 a track the
     * allowance pays for six (a seventh at most, past it by one call); the filter serves many more.
     */
    @Test
    void tracksAreNotServedPastTheAllowance() {
        String user = subject();
        int served = 0;
        for (int i = 0; i < 16; i++) {
            HttpResponse<String> r = track(user);
            if (r.statusCode() == 429) {
                break;
            }
            assertEquals(200, r.statusCode(), kind() + ": " + r.body());
            served++;
        }
        long used = settled(user).used();
        assertTrue(served <= 7, kind() + ": " + served + " three-minute tracks served on a 20,000 allowance ("
                + served * TRACK_SECONDS + " s of audio, " + AUDIO_TOKENS_PER_SECOND * TRACK_SECONDS * served
                + " at the audio rate), charged " + used);
    }

    /**
     * A screen reader asks for a statement of twenty balances read at a quarter of normal speed
     * ({@code speed: 0.25}). Each figure is about seven tokens and fifteen spoken words: the answer is
     * several minutes of speech, without usage. It must be charged its length at 17 tokens a second, as
     * the same minutes of prose are; the filter caps it at a second per token of the request.
     */
    @Test
    void slowSpeechOfFiguresIsChargedItsLength() {
        String user = subject();
        HttpResponse<String> r = speak(user, balances(), 0.25);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        long secs = seconds.get(user).get();
        long used = settled(user).used();
        assertTrue(used >= atRate(secs), kind() + ": " + secs + " s of speech (twenty figures at"
                + " speed 0.25) charged " + used + ", expected at least " + AUDIO_TOKENS_PER_SECOND * secs
                + "; " + ledger(user));
    }

    /** Control: the same statement at normal speed is charged its length, at least 17 tokens a second. */
    @Test
    void controlSpeechOfFiguresAtNormalSpeedIsChargedItsLength() {
        String user = subject();
        HttpResponse<String> r = speak(user, balances(), 1.0);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        long secs = seconds.get(user).get();
        long used = settled(user).used();
        assertTrue(used >= atRate(secs), kind() + ": " + secs + " s of speech (twenty figures)"
                + " charged " + used + ", expected at least " + AUDIO_TOKENS_PER_SECOND * secs + "; " + ledger(user));
    }
}
