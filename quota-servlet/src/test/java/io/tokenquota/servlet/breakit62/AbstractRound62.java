package io.tokenquota.servlet.breakit62;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.faststartSoundTrack;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 62 of issue 11: the newest rules. Audio measured by its container's structure (Ogg, MP4,
 * FLAC) against what a decoder (FFmpeg, which OpenAI's and whisper's pipelines decode with) plays,
 * and what the filter remembers of a conversation kept at the provider.
 */
abstract class AbstractRound62 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u62-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("models", new Models(), "/ai/*")
                .multipartServlet("audio", new Transcriptions.PlainText(), Transcriptions.upTo4Mb(), "/ai/v1/audio/*");
    }

    /**
     * Mock OpenAI Responses API with conversations (the Conversations API): a turn reads the
     * conversation's items as they are when it starts, and adds its input and output items to the
     * conversation when it completes. A turn whose input starts with {@code [slow]} is a long call
     * (a deep-research or reasoning turn in another tab) that completes when {@link #SLOW} opens.
     */
    public static class Models extends HttpServlet {
        static final Map<String, Long> CONVERSATIONS = new ConcurrentHashMap<>();
        static final AtomicLong IDS = new AtomicLong();
        static volatile CountDownLatch slowEntered = new CountDownLatch(1);
        static volatile CountDownLatch SLOW = new CountDownLatch(1);

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream().readAllBytes());
            String id = "resp_62" + IDS.incrementAndGet();
            JsonNode c = body.path("conversation");
            String conversation = c.isTextual() ? c.asText() : c.path("id").asText(null);
            long history = conversation == null ? 0 : CONVERSATIONS.getOrDefault(conversation, 0L);
            String text = body.path("input").asText("");
            long own = text.length() / 4;
            long input = history + own;
            long visible = 40;
            String usage = "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                    + "\"output_tokens\":" + visible + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                    + "\"total_tokens\":" + (input + visible) + "}";
            if (text.startsWith("[slow]")) {
                slowEntered.countDown();
                try {
                    SLOW.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (!body.path("stream").asBoolean(false)) {
                if (conversation != null) {
                    CONVERSATIONS.merge(conversation, own + visible, Long::sum);
                }
                resp.setContentType("application/json");
                resp.getOutputStream().write(response(id, "completed", usage, "Noted.").getBytes(StandardCharsets.UTF_8));
                return;
            }
            ResponsesApi.streamWords(resp, id, response(id, "in_progress", "null", null),
                    response(id, "completed", usage, "word"));
        }

        private static String response(String id, String status, String usage, String text) {
            return ResponsesApi.response(id, status, "", "gpt-4o", usage, text);
        }
    }

    static final String NOTES = "The quarterly ledger lists every invoice by customer and contract clause. ".repeat(440);

    // ------------------------------------------------------------------ helpers: containers


    /** A transcription request ({@code response_format=text}) of {@code file}; the subject charged for it. */
    String transcribe(byte[] file, String filename, String type) {
        String s = subject();
        HttpResponse<String> r = Transcriptions.post(container.uri("/ai/v1/audio/transcriptions"), s,
                "----b62" + UUID.randomUUID(), file, filename, type);
        assertTrue(r.statusCode() == 200, r.statusCode() + " " + r.body());
        return s;
    }

    /** Ogg's CRC-32 (polynomial 0x04C11DB7, no reflection), as libogg computes a page's checksum. */
    static int oggCrc(byte[] b) {
        int crc = 0;
        for (byte x : b) {
            crc ^= (x & 0xFF) << 24;
            for (int k = 0; k < 8; k++) {
                crc = (crc & 0x80000000) != 0 ? (crc << 1) ^ 0x04C11DB7 : crc << 1;
            }
        }
        return crc;
    }

    /** One Ogg page of {@code packets} (each under 255 bytes) of logical stream {@code serial}, checksummed. */
    static byte[] oggPage(int flags, long granule, int serial, int sequence, byte[]... packets) {
        ByteBuffer h = ByteBuffer.allocate(27 + packets.length).order(ByteOrder.LITTLE_ENDIAN);
        h.put(ascii("OggS")).put((byte) 0).put((byte) flags).putLong(granule).putInt(serial).putInt(sequence).putInt(0)
                .put((byte) packets.length);
        for (byte[] p : packets) {
            h.put((byte) p.length);
        }
        byte[] page = cat(h.array(), cat(packets));
        ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN).putInt(22, oggCrc(page));
        return page;
    }

    /**
     * An Ogg Opus file (RFC 7845) of {@code seconds}: OpusHead, OpusTags, then 20 ms CELT packets, 50 a
     * page, each page's granule the samples so far (48 kHz, 312 samples of pre-skip).
     */
    static byte[] opus(int seconds, int serial) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] head = ByteBuffer.allocate(19).order(ByteOrder.LITTLE_ENDIAN).put(ascii("OpusHead")).put((byte) 1)
                .put((byte) 1).putShort((short) 312).putInt(16_000).putShort((short) 0).put((byte) 0).array();
        out.writeBytes(oggPage(2, 0, serial, 0, head));
        out.writeBytes(oggPage(0, 0, serial, 1, cat(ascii("OpusTags"), new byte[] {5, 0, 0, 0}, ascii("voice"),
                new byte[4])));
        byte[][] packets = new byte[50][];
        java.util.Arrays.fill(packets, new byte[] {(byte) (31 << 3), (byte) 0xFF, (byte) 0xFE});
        for (int s = 1; s <= seconds; s++) {
            out.writeBytes(oggPage(s == seconds ? 4 : 0, 312 + s * 48_000L, serial, 1 + s, packets));
        }
        return out.toByteArray();
    }

    // ------------------------------------------------------------------ 1. a chained Ogg Opus file

    /**
     * Two voice notes joined as {@code cat hello.opus meeting.opus > all.opus} (a 2-second greeting,
     * then a 10-minute meeting): a chained Ogg Opus file, which RFC 7845 section 3 allows ("Ogg Opus
     * files MAY be chained") and every player plays link after link (libopusfile; FFmpeg's ogg demuxer
     * replaces the ended stream with the new one, ogg_replace_stream, and decodes on). The model hears
     * 602 s: 10,234 audio tokens. OggDuration keeps the first logical stream's serial and passes every
     * page of another serial over, so it measures the 2-second greeting; the transcription, answered as
     * text without usage, is charged as 2 s.
     */
    @Test
    void aChainedOggOpusFileIsMeasuredToItsLastLink() {
        byte[] file = cat(opus(2, 0x1001), opus(600, 0x2002));
        String s = transcribe(file, "all.opus", "audio/ogg");
        long charged = settled(s).used();
        assertTrue(charged >= 602 * 17, "a chained Ogg Opus file of 2 s + 600 s (10,234 audio tokens billed) was"
                + " charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. MP4: a second stts box

    /**
     * A 10-minute AAC M4A whose sound track's {@code stbl} holds two {@code stts} boxes, a stub
     * (1 sample of 1,024) then the real table (25,839 samples of 1,024). FFmpeg's mov_read_stts frees
     * the table it read before ("Duplicated STTS atom") and keeps the last, so the provider decodes
     * 600 s and bills 10,200 tokens. Mp4Duration.sound reads the first {@code stts} (child(), the
     * first box of the type, where its hdlr reading takes the last): 23 ms.
     */
    @Test
    void aSecondSttsBoxCannotShortenAnM4a() {
        int frames = 600 * 44_100 / 1024;
        byte[] stub = box("stts", u32(0), u32(1), u32(1), u32(1024));
        byte[] real = box("stts", u32(0), u32(1), u32(frames), u32(1024));
        String s = transcribe(m4a(frames, 44_100, stub, real), "meeting.m4a", "audio/mp4");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of AAC (10,200 audio tokens billed) whose track carries a stub"
                + " stts before its real one were charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 3. MP4: stts covering fewer samples than stsz

    /**
     * A 10-minute AAC M4A whose {@code stsz} lists all 25,839 frames (and {@code stsc}/{@code stco}
     * place them in {@code mdat}) while its {@code stts} times only the first one. A demuxer builds its
     * index from the sample sizes and chunk offsets (FFmpeg's mov_build_index walks sc->sample_count,
     * from stsz; stts gives only timestamps, the last delta carried on), and the AAC decoder turns each
     * frame into 1,024 samples: 600 s are decoded and billed. Mp4Duration reads stts alone: 23 ms.
     */
    @Test
    void anM4aIsMeasuredByTheSamplesItHoldsNotItsTimingTable() {
        int frames = 600 * 44_100 / 1024;
        byte[] stts = box("stts", u32(0), u32(1), u32(1), u32(1024));
        String s = transcribe(m4a(frames, 44_100, stts), "memo.m4a", "audio/mp4");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of AAC (25,839 frames in stsz, 10,200 audio tokens billed) whose"
                + " stts times one frame were charged " + charged + ": " + ledger(s));
    }

    /**
     * An M4A of {@code frames} AAC frames of 24 bytes at {@code rate}, {@code moov} first (faststart),
     * its sample table holding {@code timing} (stts boxes) beside stsd, stsz, stsc and stco.
     */
    static byte[] m4a(int frames, int rate, byte[]... timing) {
        byte[] ftyp = box("ftyp", ascii("M4A "), u32(0), ascii("M4A mp42isom"));
        byte[] mdhd = box("mdhd", u32(0), u32(0), u32(0), u32(rate), u32((long) frames * 1024), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] hdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        // AudioSpecificConfig: AAC LC (2), 44.1 kHz (index 4), mono
        byte[] esds = box("esds", u32(0), new byte[] {3, 25, 0, 1, 0, 4, 17, 0x40, 0x15, 0, 0, 0, 0, 1, (byte) 0xF4, 0,
            0, 1, (byte) 0xF4, 0, 5, 2, 0x12, 0x08, 6, 1, 2});
        byte[] mp4a = box("mp4a", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1, 0, 16}, new byte[4],
                u32((long) rate << 16), esds);
        byte[] stsd = box("stsd", u32(0), u32(1), mp4a);
        byte[] stsz = box("stsz", u32(0), u32(24), u32(frames));
        byte[] stsc = box("stsc", u32(0), u32(1), u32(1), u32(frames), u32(1));
        byte[] samples = new byte[frames * 24];
        for (int i = 0; i < frames; i++) {
            // an AAC LC raw data block of a silent frame: single channel element, then END
            samples[i * 24] = 0x00;
            samples[i * 24 + 1] = (byte) 0x80;
        }
        return faststartSoundTrack(ftyp, 600_000, mdhd, hdlr, cat(stsd, cat(timing), stsz, stsc), samples);
    }

    // ------------------------------------------------------------------ 4. FLAC: STREAMINFO rate vs frame rate

    /**
     * A 10-minute FLAC of 8 kHz telephone speech whose frames say so in their headers (sample rate code
     * 4: 8 kHz) while its STREAMINFO states 655,350 Hz, the format's highest. FFmpeg's flacdec takes
     * each frame header's rate over STREAMINFO's ({@code s->samplerate = avctx->sample_rate =
     * fi.samplerate}) and decodes 4.8 million samples at 8 kHz: 600 s, 10,200 tokens billed.
     * FlacDuration divides the frames' samples by the STREAMINFO rate: 7.3 s.
     */
    @Test
    void aFlacIsTimedAtItsFramesRateNotStreaminfos() {
        String s = transcribe(flac(655_350), "call.flac", "audio/flac");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of 8 kHz FLAC frames (10,200 audio tokens billed) under a 655,350 Hz"
                + " STREAMINFO were charged " + charged + ": " + ledger(s));
    }

    /** 10 minutes of 8 kHz mono FLAC frames (their headers say 8 kHz) under a STREAMINFO stating {@code streaminfoRate}. */
    static byte[] flac(int streaminfoRate) {
        int blocks = 600 * 8_000 / 4_096 + 1;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii("fLaC"));
        ByteBuffer info = ByteBuffer.allocate(38);
        // last metadata block, STREAMINFO, 34 bytes: block sizes 4096, frame sizes unknown,
        // streaminfoRate Hz, mono, 16 bits, total samples unknown (0), no MD5
        info.put((byte) 0x80).put((byte) 0).put((byte) 0).put((byte) 34).putShort((short) 4096).putShort((short) 4096)
                .put(new byte[6]).putLong((long) streaminfoRate << 44 | 15L << 36).put(new byte[16]);
        out.writeBytes(info.array());
        for (int f = 0; f < blocks; f++) {
            // fixed blocking, 4096 samples (code 12), 8 kHz (code 4), mono, 16 bits; frame number as UTF-8
            byte[] number = f < 0x80 ? new byte[] {(byte) f}
                    : new byte[] {(byte) (0xC0 | f >> 6), (byte) (0x80 | f & 0x3F)};
            byte[] header = cat(new byte[] {(byte) 0xFF, (byte) 0xF8, (byte) 0xC4, 0x08}, number);
            out.writeBytes(header);
            out.write(crc8(header));
            // a CONSTANT subframe of silence, then the frame's CRC-16
            out.writeBytes(new byte[] {0, 0, 0});
            out.writeBytes(crc16(cat(header, new byte[] {(byte) crc8(header), 0, 0, 0})));
        }
        return out.toByteArray();
    }

    static int crc8(byte[] b) {
        int crc = 0;
        for (byte x : b) {
            crc ^= x & 0xFF;
            for (int k = 0; k < 8; k++) {
                crc = (crc & 0x80) != 0 ? (crc << 1 ^ 0x07) & 0xFF : crc << 1 & 0xFF;
            }
        }
        return crc;
    }

    static byte[] crc16(byte[] b) {
        int crc = 0;
        for (byte x : b) {
            crc ^= (x & 0xFF) << 8;
            for (int k = 0; k < 8; k++) {
                crc = (crc & 0x8000) != 0 ? (crc << 1 ^ 0x8005) & 0xFFFF : crc << 1 & 0xFFFF;
            }
        }
        return new byte[] {(byte) (crc >> 8), (byte) crc};
    }

    // ------------------------------------------------------------------ 5. a conversation's figure overwritten by a late turn

    /**
     * One user's conversation ({@code conversation: "conv_…"}) used from two tabs: a long turn (a
     * deep-research call) starts while the conversation is short; meanwhile the other tab pastes an
     * 8,000-token report into the conversation (charged its usage). The long turn then completes, and
     * ProviderState.answered overwrites the conversation's figure with that turn's usage (~100: what
     * it read when it started), though the conversation now holds the report too. The next turn,
     * streamed and cut after its first words, makes the model read ~8,400 tokens of conversation and
     * is charged its own few words: the figure is last-written, not the conversation's largest.
     */
    @Test
    void aLateTurnDoesNotShrinkAConversationsFigure() throws Exception {
        String s = subject();
        String conv = "conv_62" + UUID.randomUUID().toString().replace("-", "");
        Models.slowEntered = new CountDownLatch(1);
        Models.SLOW = new CountDownLatch(1);
        try {
            HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\","
                    + "\"conversation\":\"" + conv + "\",\"input\":\"Hello, I will share the quarterly report.\","
                    + "\"max_output_tokens\":64}");
            assertTrue(first.statusCode() == 200, first.body());
            settled(s);
            CompletableFuture<HttpResponse<String>> slow = CompletableFuture.supplyAsync(() -> TestHttp.postJson(
                    container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\",\"conversation\":\"" + conv + "\","
                            + "\"input\":\"[slow] Research the market for our product line.\",\"max_output_tokens\":64}"));
            assertTrue(Models.slowEntered.await(30, TimeUnit.SECONDS), "the long turn reached the model");
            HttpResponse<String> report = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\","
                    + "\"conversation\":\"" + conv + "\",\"input\":" + JSON.valueToTree(NOTES) + ",\"max_output_tokens\":64}");
            assertTrue(report.statusCode() == 200, report.body());
            // the report's turn is settled (charged, and remembered as the conversation's figure) first
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            while (store.account(s).used() < 8_000) {
                assertTrue(System.nanoTime() < deadline, "the report's turn was never charged: " + ledger(s));
                Thread.onSpinWait();
            }
            Models.SLOW.countDown();
            assertTrue(slow.get(30, TimeUnit.SECONDS).statusCode() == 200);
            long before = settled(s).used();
            long context = Models.CONVERSATIONS.get(conv);
            String seen = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, "{\"model\":\"gpt-4o\","
                    + "\"conversation\":\"" + conv + "\",\"input\":\"And the totals?\",\"max_output_tokens\":64,"
                    + "\"stream\":true}", "word");
            assertTrue(seen.contains("word"), seen);
            long charged = settled(s).used() - before;
            assertTrue(charged >= context, "the next turn of a " + context + "-token conversation, cut after its first"
                    + " words, was charged " + charged + ": " + ledger(s));
        } finally {
            Models.SLOW.countDown();
        }
    }

    // ------------------------------------------------------------------ 6. controls: the same files, well formed

    /**
     * Controls for tests 1 to 4, held: the second link alone, the M4A with one full stts, and the FLAC
     * with an 8 kHz STREAMINFO are each measured at 600 s, so the files above are read as the formats
     * they are, and what fails there is the one divergence each names.
     */
    @Test
    void controlsTheSameRecordingsWellFormedAreChargedTheirDuration() {
        int frames = 600 * 44_100 / 1024;
        String ogg = transcribe(opus(600, 0x2002), "meeting.opus", "audio/ogg");
        String m4a = transcribe(m4a(frames, 44_100, box("stts", u32(0), u32(1), u32(frames), u32(1024))), "m.m4a", "audio/mp4");
        String flac = transcribe(flac(8_000), "call.flac", "audio/flac");
        for (String s : new String[] {ogg, m4a, flac}) {
            long charged = settled(s).used();
            assertTrue(charged >= 600 * 17, "a well-formed 10-minute recording was charged " + charged + ": " + ledger(s));
        }
    }
}
