package io.tokenquota.servlet.breakit63;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.faststartSoundTrack;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Transcriptions;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 63: an MP4/M4A's timestamps against what its samples decode to. An AAC frame decodes to
 * 1,024 samples at the codec's own rate whatever the {@code stts} deltas and the {@code mdhd}
 * timescale say, so a file whose timing tables shrink its length still plays (and is billed) in full.
 */
abstract class AbstractRound63Mp4 extends H2FilterRound {
    /** 10 minutes of AAC frames at 44.1 kHz. */
    static final int FRAMES = 600 * 44_100 / 1024;

    static String subject() {
        return "u63-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .multipartServlet("audio", new Transcriptions.PlainText(), Transcriptions.upTo4Mb(), "/ai/v1/audio/*");
    }

    // ------------------------------------------------------------------ helpers: containers


    /**
     * An M4A of {@link #FRAMES} AAC LC frames (44.1 kHz mono, as its {@code mp4a} entry and its
     * AudioSpecificConfig both say) of 24 bytes each, {@code moov} first, its {@code mdhd} timescale
     * {@code timescale} and its {@code stts} one entry of every frame at {@code delta}.
     */
    static byte[] m4a(long timescale, long delta) {
        int frames = FRAMES;
        byte[] ftyp = box("ftyp", ascii("M4A "), u32(0), ascii("M4A mp42isom"));
        byte[] mdhd = box("mdhd", u32(0), u32(0), u32(0), u32(timescale), u32(frames * delta), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] hdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        // AudioSpecificConfig: AAC LC (2), 44.1 kHz (index 4), mono
        byte[] esds = box("esds", u32(0), new byte[] {3, 25, 0, 1, 0, 4, 17, 0x40, 0x15, 0, 0, 0, 0, 1, (byte) 0xF4, 0,
            0, 1, (byte) 0xF4, 0, 5, 2, 0x12, 0x08, 6, 1, 2});
        byte[] mp4a = box("mp4a", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1, 0, 16}, new byte[4],
                u32(44_100L << 16), esds);
        byte[] stsd = box("stsd", u32(0), u32(1), mp4a);
        byte[] stts = box("stts", u32(0), u32(1), u32(frames), u32(delta));
        byte[] stsz = box("stsz", u32(0), u32(24), u32(frames));
        byte[] stsc = box("stsc", u32(0), u32(1), u32(1), u32(frames), u32(1));
        byte[] samples = new byte[frames * 24];
        for (int i = 0; i < frames; i++) {
            // an AAC LC raw data block of a silent frame: single channel element, then END
            samples[i * 24 + 1] = (byte) 0x80;
        }
        return faststartSoundTrack(ftyp, 600_000, mdhd, hdlr, cat(stsd, stts, stsz, stsc), samples);
    }

    /** A transcription request ({@code response_format=text}) of {@code file}; the subject charged for it. */
    String transcribe(byte[] file, String filename, String type) {
        String s = subject();
        HttpResponse<String> r = Transcriptions.post(container.uri("/ai/v1/audio/transcriptions"), s,
                "----b63" + UUID.randomUUID(), file, filename, type);
        assertTrue(r.statusCode() == 200, r.statusCode() + " " + r.body());
        return s;
    }

    // ------------------------------------------------------------------ 1. stts deltas of 1

    /**
     * A 10-minute AAC M4A whose {@code stts} gives each of its 25,839 frames a delta of 1 at the
     * 44.1 kHz timescale: its timestamps span 0.59 s. The AAC decoder turns every frame into 1,024
     * samples at the AudioSpecificConfig's 44.1 kHz whatever the timestamps say: 600 s are decoded
     * and billed (10,200 audio tokens).
     */
    @Test
    void sttsDeltasOfOneCannotShortenAnM4a() {
        String s = transcribe(m4a(44_100, 1), "meeting.m4a", "audio/mp4");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of AAC (10,200 audio tokens billed) timed at 1 unit a frame were"
                + " charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. a huge mdhd timescale

    /**
     * The same 10 minutes, its {@code stts} deltas the usual 1,024, under an {@code mdhd} timescale of
     * 1,000,000,000 units a second: timestamps spanning 26 ms. The decoder still produces 25,839 x
     * 1,024 samples at 44.1 kHz: 600 s billed.
     */
    @Test
    void aHugeMdhdTimescaleCannotShortenAnM4a() {
        String s = transcribe(m4a(1_000_000_000L, 1_024), "memo.m4a", "audio/mp4");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of AAC (10,200 audio tokens billed) under a 10^9 mdhd timescale were"
                + " charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 3. control

    /** Control: the same recording with consistent tables (44.1 kHz timescale, deltas of 1,024) is charged its 600 s. */
    @Test
    void controlTheSameM4aWithConsistentTablesIsChargedItsDuration() {
        String s = transcribe(m4a(44_100, 1_024), "honest.m4a", "audio/mp4");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "a well-formed 10-minute M4A was charged " + charged + ": " + ledger(s));
    }
}
