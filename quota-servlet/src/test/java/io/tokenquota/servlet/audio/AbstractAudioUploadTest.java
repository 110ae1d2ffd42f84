package io.tokenquota.servlet.audio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.MultipartConfigElement;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * An OpenAI transcription answered as plain text ({@code response_format=text}: no usage) is charged
 * its estimate, which for an uploaded WAV is its duration: 17 audio tokens and 4 transcript tokens a
 * second, plus the few tokens of its fields, not the 1,000-token fallback.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractAudioUploadTest {
    private TestDatabase db;
    private JdbiQuotaStore store;
    private EmbeddedContainer container;

    protected abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(100_000).build()).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").maxBodyBytes(8 << 20)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create().filter("quota", filter, "/ai/*")
                .multipartServlet("transcriptions", new Transcriptions.PlainText(), new MultipartConfigElement("", 8 << 20, 8 << 20, 0),
                        "/ai/*"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    /** A WAV of 8 kHz mu-law mono (8,000 bytes a second) lasting {@code seconds}. */
    static byte[] wav(int seconds) {
        int samples = 8_000 * seconds;
        ByteBuffer b = ByteBuffer.allocate(44 + samples).order(ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + samples).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        b.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 7).putShort((short) 1)
                .putInt(8_000).putInt(8_000).putShort((short) 1).putShort((short) 8);
        b.put("data".getBytes(StandardCharsets.US_ASCII)).putInt(samples);
        byte[] speech = new byte[samples];
        new Random(seconds).nextBytes(speech);
        return b.put(speech).array();
    }

    /** What a transcription was charged, and the subject's ledger for failure messages. */
    record Charge(long used, String ledger) {
    }

    private Charge chargedFor(byte[] file, String fileType) {
        return chargedFor("/ai/v1/audio/transcriptions", file, fileType);
    }

    private Charge chargedFor(String path, byte[] file, String fileType) {
        String subject = "audio-" + UUID.randomUUID().toString().substring(0, 12);
        HttpResponse<String> r = Transcriptions.post(container.uri(path), subject,
                "----audio" + UUID.randomUUID(), file, "call.wav", fileType);
        assertEquals(200, r.statusCode(), r.body());
        return new Charge(Ledgers.settled(store, subject).used(),
                Ledgers.events(store, subject, YearMonth.now(ZoneOffset.UTC)).toString());
    }

    @Test
    void aTenMinuteWavAnsweredAsPlainTextIsChargedTenMinutesOfAudio() {
        Charge charge = chargedFor(wav(600), "audio/wav");
        // 600 s x (17 + 4) = 12,600, plus the fields' few tokens
        assertTrue(charge.used() >= 12_600 && charge.used() <= 12_650, "charged " + charge.ledger());
    }

    @Test
    void aFiveSecondWavIsChargedFiveSecondsNotTheFallback() {
        Charge charge = chargedFor(wav(5), "application/octet-stream");
        // 5 s x (17 + 4) = 105, plus the fields' few tokens
        assertTrue(charge.used() >= 105 && charge.used() <= 150, "charged " + charge.ledger());
    }

    /**
     * An endpoint that is no transcription may answer at length about a short clip (a summary, a chat
     * turn) in plain text without usage: it keeps the fallback and the default output budget, with the
     * clip's audio tokens on top, so a one-second upload does not make a long answer nearly free.
     */
    @Test
    void aShortClipToAnotherEndpointKeepsTheFallbackAndTheOutputBudget() {
        Charge charge = chargedFor("/ai/v1/voice/chat", wav(1), "audio/wav");
        assertTrue(charge.used() >= 1_000 + 17, "charged " + charge.ledger());
    }
}
