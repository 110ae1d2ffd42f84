package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class AudioDurationTest {

    /** The file's milliseconds, its first {@link AudioDuration#HEAD} bytes given apart as the multipart reader does. */
    static long millis(byte[] file) throws IOException {
        int head = Math.min(file.length, AudioDuration.HEAD);
        InputStream rest = new ByteArrayInputStream(file, head, file.length - head);
        return AudioDuration.millis(Arrays.copyOf(file, head), rest);
    }

    /** A WAV file: RIFF header, a 16-byte {@code fmt } chunk, a LIST chunk, then {@code data} of {@code samples} bytes. */
    static byte[] wav(int format, int channels, int sampleRate, int byteRate, int bits, long dataSize, int samples) {
        ByteBuffer b = ByteBuffer.allocate(12 + 24 + 14 + 8 + samples).order(ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(b.capacity() - 8).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        b.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) format).putShort((short) channels)
                .putInt(sampleRate).putInt(byteRate).putShort((short) (channels * ((bits + 7) / 8))).putShort((short) bits);
        b.put("LIST".getBytes(StandardCharsets.US_ASCII)).putInt(5).put("INFOx".getBytes(StandardCharsets.US_ASCII)).put((byte) 0);
        b.put("data".getBytes(StandardCharsets.US_ASCII)).putInt((int) dataSize);
        byte[] noise = new byte[samples];
        new Random(1).nextBytes(noise);
        return b.put(noise).array();
    }

    /** An MPEG-1 Layer III frame header, 44.1 kHz, mono, no padding, at the bitrate of {@code index} (1: 32 kbit/s, 9: 128). */
    static byte[] frame(int index) {
        int length = 144 * new int[] {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}[index] * 1000 / 44100;
        byte[] frame = new byte[length];
        frame[0] = (byte) 0xFF;
        frame[1] = (byte) 0xFB;
        frame[2] = (byte) (index << 4);
        frame[3] = (byte) 0xC4;
        return frame;
    }

    static byte[] frames(int index, int count) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < count; i++) {
            out.writeBytes(frame(index));
        }
        return out.toByteArray();
    }

    /** An ID3v2.4 tag of {@code size} bytes after its header, its size synchsafe. */
    static byte[] id3(int size) {
        byte[] tag = new byte[10 + size];
        tag[0] = 'I';
        tag[1] = 'D';
        tag[2] = '3';
        tag[3] = 4;
        for (int i = 0; i < 4; i++) {
            tag[9 - i] = (byte) ((size >> (7 * i)) & 0x7F);
        }
        return tag;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    static long frameMillis(long frames) {
        return (frames * 1152 * 1000 + 44099) / 44100;
    }

    @Test
    void aWavLastsItsSampleBytesAtItsByteRate() throws IOException {
        // 16 kHz, 16-bit mono: 32,000 bytes a second; 5 s
        assertEquals(5_000, millis(wav(1, 1, 16_000, 32_000, 16, 160_000, 160_000)));
        // 8 kHz mu-law stereo: 16,000 bytes a second; 2.5 s
        assertEquals(2_500, millis(wav(7, 2, 8_000, 16_000, 8, 40_000, 40_000)));
    }

    @Test
    void aStreamedWavWithoutItsSizeLastsTheBytesPresent() throws IOException {
        assertEquals(3_000, millis(wav(1, 1, 16_000, 32_000, 16, 0xFFFFFFFFL, 96_000)));
        assertEquals(3_000, millis(wav(1, 1, 16_000, 32_000, 16, 0, 96_000)));
    }

    @Test
    void aWavHeaderCannotShortenItsAudio() throws IOException {
        // a short data size: decoders read on into what follows
        assertEquals(5_000, millis(wav(1, 1, 16_000, 32_000, 16, 100, 160_000)));
        // a byte rate far above what its samples make: the lower one counts
        assertEquals(5_000, millis(wav(1, 1, 16_000, 2_000_000_000, 16, 160_000, 160_000)));
    }

    @Test
    void aCompressedWavIsMeasuredByItsSize() throws IOException {
        byte[] adpcm = wav(2, 1, 16_000, 8_000, 4, 160_000, 160_000);
        assertEquals(adpcm.length * 1000L / 2_000, millis(adpcm));
    }

    @Test
    void anMp3LastsItsFramesWhateverItsBitrate() throws IOException {
        assertEquals(frameMillis(1_000), millis(frames(1, 1_000)), "32 kbit/s");
        assertEquals(frameMillis(1_000), millis(frames(9, 1_000)), "128 kbit/s");
        // ten minutes at 32 kbit/s, 2.4 MB
        long tenMinutes = 600L * 44_100 / 1152;
        long read = millis(frames(1, (int) tenMinutes));
        assertTrue(Math.abs(read - 600_000) < 30, read + " ms");
    }

    @Test
    void anMp3IsReadPastItsId3Tags() throws IOException {
        assertEquals(frameMillis(500), millis(concat(id3(1_000), frames(9, 500))));
        // album art larger than the bytes kept in memory, two tags one after the other
        assertEquals(frameMillis(500), millis(concat(id3(300_000), id3(20), frames(1, 500))));
    }

    @Test
    void fastFramesInFrontCannotShortenSlowOnes() throws IOException {
        byte[] fast = new byte[1044];
        fast[0] = (byte) 0xFF;
        fast[1] = (byte) 0xFB;
        fast[2] = (byte) 0xE0; // 320 kbit/s
        fast[3] = (byte) 0xC4;
        byte[] file = concat(fast, fast, fast, frames(1, 2_000));
        assertEquals(frameMillis(2_003), millis(file));
    }

    @Test
    void bytesPastALostSyncCountAtTheLowestBitrate() throws IOException {
        byte[] junk = new byte[20_000];
        new Random(7).nextBytes(junk);
        junk[0] = 0;
        assertEquals(frameMillis(100) + 10_000, millis(concat(frames(9, 100), junk)));
    }

    @Test
    void randomBytesAndOtherFormatsAreMeasuredByTheirSizeAtTheLowestBitrate() throws IOException {
        byte[] random = new byte[1_000_000];
        new Random(55).nextBytes(random);
        random[0] = 'I';
        random[1] = 'D';
        random[2] = '3';
        assertEquals(500_000, millis(random), "1 MB at 16 kbit/s");
        byte[] ogg = concat("OggS".getBytes(StandardCharsets.US_ASCII), new byte[39_996]);
        assertEquals(20_000, millis(ogg));
    }

    @Test
    void aTruncatedHeaderNeitherThrowsNorCountsAsSilence() throws IOException {
        assertEquals(2, millis("RIFF".getBytes(StandardCharsets.US_ASCII)));
        byte[] cutWav = Arrays.copyOf(wav(1, 1, 16_000, 32_000, 16, 160_000, 0), 30);
        assertEquals(15, millis(cutWav));
        assertEquals(3, millis(Arrays.copyOf(id3(100), 6)));
        // two frames cannot be told from chance: measured by size
        byte[] two = frames(9, 2);
        assertEquals((two.length * 1000L + 1999) / 2000, millis(two));
        assertEquals(0, millis(new byte[0]));
    }

    @Test
    void audioIsToldByItsLabelOrByItsBytesWhenTheLabelSaysNothing() {
        byte[] wav = wav(1, 1, 16_000, 32_000, 16, 100, 100);
        byte[] random = new byte[4096];
        new Random(3).nextBytes(random);
        assertTrue(AudioDuration.isAudio("audio/mpeg", random));
        assertTrue(AudioDuration.isAudio("Video/webm; codecs=opus", random));
        assertTrue(AudioDuration.isAudio(null, wav));
        assertTrue(AudioDuration.isAudio("application/octet-stream", frames(1, 3)));
        assertTrue(AudioDuration.isAudio("application/octet-stream", concat(id3(10), random)));
        assertTrue(AudioDuration.isAudio("", concat(new byte[4], "ftypM4A ".getBytes(StandardCharsets.US_ASCII))));
        assertFalse(AudioDuration.isAudio("application/octet-stream", random));
        assertFalse(AudioDuration.isAudio("image/png", wav));
        assertFalse(AudioDuration.isAudio(null, concat(new byte[4], "ftypheic".getBytes(StandardCharsets.US_ASCII))));
    }

    @Test
    void tokensAreRoundedUpAndSaturate() {
        assertEquals(10_200, AudioDuration.inputTokens(600_000));
        assertEquals(2_400, AudioDuration.transcriptTokens(600_000));
        assertEquals(1, AudioDuration.inputTokens(1));
        assertEquals(0, AudioDuration.inputTokens(0));
        assertEquals(Long.MAX_VALUE / 1000 * 17 + 14, AudioDuration.inputTokens(Long.MAX_VALUE), "no overflow");
    }

    @Property(tries = 300)
    void neverThrowsNeverNegativeAndBoundedBySize(@ForAll("files") byte[] file) throws IOException {
        long millis = millis(file);
        assertTrue(millis >= 0, millis + " ms");
        // no format plays more than a second a byte (a WAV's lowest rate): a crafted header cannot run away
        assertTrue(millis <= 1_000L * file.length + 1_000, millis + " ms for " + file.length + " bytes");
    }

    @Provide
    Arbitrary<byte[]> files() {
        Arbitrary<byte[]> noise = Arbitraries.bytes().array(byte[].class).ofMaxSize(6_000);
        Arbitrary<byte[]> prefix = Arbitraries.of(
                "RIFF\0\0\0\0WAVEfmt ".getBytes(StandardCharsets.ISO_8859_1),
                wav(1, 1, 16_000, 32_000, 16, 0, 0),
                wav(0xFFFE, 2, 48_000, 0, 24, 0xFFFFFFFFL, 0),
                id3(20),
                frames(1, 3),
                frame(9),
                "ID3\u0004\0\0".getBytes(StandardCharsets.ISO_8859_1),
                new byte[0]);
        return prefix.flatMap(p -> noise.map(n -> concat(p, n)));
    }
}
