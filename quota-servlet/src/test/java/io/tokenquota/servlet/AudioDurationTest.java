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

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** An ISO box of {@code type} holding {@code body}. */
    static byte[] box(String type, byte[]... body) {
        byte[] content = concat(body);
        return ByteBuffer.allocate(8 + content.length).putInt(8 + content.length).put(ascii(type)).put(content).array();
    }

    /** A track of {@code handler} whose samples last {@code units} at {@code timescale}, its mdhd claiming 1 unit. */
    static byte[] track(String handler, int timescale, int count, int delta) {
        byte[] mdhd = ByteBuffer.allocate(24).putInt(0).putInt(0).putInt(0).putInt(timescale).putInt(1).putInt(0).array();
        byte[] hdlr = concat(new byte[8], ascii(handler), new byte[12]);
        byte[] stts = ByteBuffer.allocate(16).putInt(0).putInt(1).putInt(count).putInt(delta).array();
        return box("trak", box("tkhd", new byte[84]), box("mdia", box("mdhd", mdhd), box("hdlr", hdlr),
                box("minf", box("stbl", box("stsd", new byte[8]), box("stts", stts)))));
    }

    static byte[] ftyp(String brand) {
        return box("ftyp", ascii(brand), new byte[4], ascii(brand));
    }

    /** An Ogg page of {@code body} (one packet, under 255 bytes a segment), its granule {@code granule}. */
    static byte[] oggPage(int flags, long granule, byte[]... packets) {
        ByteArrayOutputStream lacing = new ByteArrayOutputStream();
        for (byte[] packet : packets) {
            int left = packet.length;
            while (left >= 255) {
                lacing.write(255);
                left -= 255;
            }
            lacing.write(left);
        }
        ByteBuffer h = ByteBuffer.allocate(27).order(ByteOrder.LITTLE_ENDIAN);
        h.put(ascii("OggS")).put((byte) 0).put((byte) flags).putLong(granule).putInt(58).putInt(0).putInt(0)
                .put((byte) lacing.size());
        return concat(h.array(), lacing.toByteArray(), concat(packets));
    }

    /** {@code seconds} of Opus: 20 ms CELT packets of 3 bytes, 50 a page, each page's granule {@code granule}. */
    static byte[] opus(int seconds, long granule) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(oggPage(2, 0, concat(ascii("OpusHead"), new byte[11])));
        out.writeBytes(oggPage(0, 0, concat(ascii("OpusTags"), new byte[8])));
        byte[][] packets = new byte[50][];
        Arrays.fill(packets, new byte[] {(byte) (31 << 3), 0, 0});
        for (int s = 1; s <= seconds; s++) {
            out.writeBytes(oggPage(0, granule < 0 ? s * 48_000L : granule, packets));
        }
        return out.toByteArray();
    }

    /** FLAC: STREAMINFO stating {@code stated} samples at 16 kHz, then {@code blocks} silent 4,096-sample frames. */
    static byte[] flac(long stated, int blocks) {
        return flac(stated, blocks, 16_000, 5);
    }

    /**
     * FLAC: STREAMINFO stating {@code stated} samples at {@code infoRate}, then {@code blocks} silent
     * 4,096-sample frames whose headers code their rate as {@code rateCode} followed by {@code rateBytes}.
     */
    static byte[] flac(long stated, int blocks, int infoRate, int rateCode, byte... rateBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii("fLaC"));
        ByteBuffer info = ByteBuffer.allocate(38);
        info.put((byte) 0x80).put((byte) 0).put((byte) 0).put((byte) 34).putShort((short) 4096).putShort((short) 4096)
                .put(new byte[6]).putLong((long) infoRate << 44 | 15L << 36 | stated).put(new byte[16]);
        out.writeBytes(info.array());
        for (int f = 0; f < blocks; f++) {
            byte[] header = concat(new byte[] {(byte) 0xFF, (byte) 0xF8, (byte) (0xC0 | rateCode), 0x08, (byte) (f & 0x7F)},
                    rateBytes, new byte[1]);
            header[header.length - 1] = (byte) crc8(header, header.length - 1);
            out.writeBytes(header);
            out.writeBytes(new byte[] {0, 0, 0, 0x12, 0x34});
        }
        return out.toByteArray();
    }

    /** {@code file}'s Ogg pages, each moved to logical stream {@code serial}. */
    static byte[] reserial(byte[] file, int serial) {
        byte[] out = file.clone();
        for (int at = 0; at + 27 <= out.length; ) {
            ByteBuffer.wrap(out, at + 14, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(serial);
            int segments = out[at + 26] & 0xFF;
            int size = 0;
            for (int i = 0; i < segments; i++) {
                size += out[at + 27 + i] & 0xFF;
            }
            at += 27 + segments + size;
        }
        return out;
    }

    /** The pages of two Ogg files interleaved, one of each in turn: streams multiplexed side by side. */
    static byte[] interleaved(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        int j = 0;
        while (i < a.length || j < b.length) {
            int n = pageLength(a, i);
            out.write(a, i, n);
            i += n;
            n = pageLength(b, j);
            out.write(b, j, n);
            j += n;
        }
        return out.toByteArray();
    }

    private static int pageLength(byte[] file, int at) {
        if (at + 27 > file.length) {
            return 0;
        }
        int segments = file[at + 26] & 0xFF;
        int size = 0;
        for (int i = 0; i < segments; i++) {
            size += file[at + 27 + i] & 0xFF;
        }
        return 27 + segments + size;
    }

    /** A sound track at 44.1 kHz of {@code stbl}'s children besides its stsd. */
    static byte[] soundTrack(byte[]... tables) {
        byte[] mdhd = ByteBuffer.allocate(24).putInt(0).putInt(0).putInt(0).putInt(44_100).putInt(1).putInt(0).array();
        byte[] hdlr = concat(new byte[8], ascii("soun"), new byte[12]);
        return box("trak", box("tkhd", new byte[84]), box("mdia", box("mdhd", mdhd), box("hdlr", hdlr),
                box("minf", box("stbl", box("stsd", new byte[8]), concat(tables)))));
    }

    static byte[] stts(int... countsAndDeltas) {
        ByteBuffer b = ByteBuffer.allocate(8 + 4 * countsAndDeltas.length).putInt(0).putInt(countsAndDeltas.length / 2);
        for (int v : countsAndDeltas) {
            b.putInt(v);
        }
        return box("stts", b.array());
    }

    /** A track of handler {@code soun}: {@code mdhds} (none, one or several), then an stbl of {@code stsd} and {@code tables}. */
    static byte[] codedTrack(byte[] mdhds, byte[] stsd, byte[]... tables) {
        byte[] hdlr = concat(new byte[8], ascii("soun"), new byte[12]);
        return box("trak", box("tkhd", new byte[84]), box("mdia", mdhds, box("hdlr", hdlr),
                box("minf", box("stbl", stsd, concat(tables)))));
    }

    static byte[] mdhd(long timescale) {
        return box("mdhd", ByteBuffer.allocate(24).putInt(0).putInt(0).putInt(0).putInt((int) timescale).putInt(1).putInt(0)
                .array());
    }

    static byte[] stsd(byte[]... entries) {
        return box("stsd", ByteBuffer.allocate(8).putInt(0).putInt(entries.length).array(), concat(entries));
    }

    static byte[] stsz(int samples) {
        return box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(24).putInt(samples).array());
    }

    /** An audio sample entry of {@code type} (version 0) stating {@code rate} Hz in its 16.16 field, then {@code children}. */
    static byte[] audioEntry(String type, long rate, byte[]... children) {
        ByteBuffer b = ByteBuffer.allocate(28).put(new byte[6]).putShort((short) 1).putShort((short) 0).putShort((short) 0)
                .putInt(0).putShort((short) 1).putShort((short) 16).putShort((short) 0).putShort((short) 0)
                .putInt((int) (rate << 16));
        return box(type, b.array(), concat(children));
    }

    /** A QuickTime version 2 sound description: its 16.16 field the constant 1.0, its rate a float64 further on. */
    static byte[] audioEntryV2(String type, double rate, byte[]... children) {
        ByteBuffer b = ByteBuffer.allocate(64).put(new byte[6]).putShort((short) 1).putShort((short) 2).putShort((short) 0)
                .putInt(0).putShort((short) 3).putShort((short) 16).putShort((short) -2).putShort((short) 0)
                .putInt(0x10000).putInt(72).putDouble(rate).putInt(1).putInt(0x7F000000).putInt(16).putInt(0).putInt(0)
                .putInt(1_024);
        return box(type, b.array(), concat(children));
    }

    /** An {@code esds} of {@code objectType} (0x40: MPEG-4 audio) whose DecoderSpecificInfo is {@code config}. */
    static byte[] esds(int objectType, byte[] config) {
        byte[] info = concat(new byte[] {5, (byte) config.length}, config);
        byte[] decoder = concat(new byte[] {4, (byte) (13 + info.length), (byte) objectType, 0x15}, new byte[11], info);
        byte[] es = concat(new byte[] {3, (byte) (3 + decoder.length + 3), 0, 1, 0}, decoder, new byte[] {6, 1, 2});
        return box("esds", new byte[4], es);
    }

    /** Bits written as 0s and 1s (spaces ignored), zero-padded to whole bytes. */
    static byte[] bits(String s) {
        String b = s.replace(" ", "");
        byte[] out = new byte[(b.length() + 7) / 8];
        for (int i = 0; i < b.length(); i++) {
            if (b.charAt(i) == '1') {
                out[i / 8] |= (byte) (0x80 >> (i % 8));
            }
        }
        return out;
    }

    /** 24 bits of {@code v}, as 0s and 1s. */
    static String bits24(int v) {
        return String.format("%24s", Integer.toBinaryString(v)).replace(' ', '0');
    }

    /** AAC LC, 44.1 kHz (index 4), mono, 1,024-sample frames. */
    static final byte[] AAC_LC_44K = bits("00010 0100 0001 000");

    /** Milliseconds {@code samples} frames of {@code perFrame} samples play at {@code rate}, rounded up. */
    static long decoded(long samples, long perFrame, long rate) {
        return (samples * perFrame * 1000 + rate - 1) / rate;
    }

    static int crc8(byte[] b, int length) {
        int crc = 0;
        for (int i = 0; i < length; i++) {
            crc ^= b[i] & 0xFF;
            for (int k = 0; k < 8; k++) {
                crc = (crc & 0x80) != 0 ? (crc << 1 ^ 0x07) & 0xFF : crc << 1 & 0xFF;
            }
        }
        return crc;
    }

    static long frameMillis(long frames) {
        return (frames * 1152 * 1000 + 44099) / 44100;
    }

    /**
     * Audio an answer carries (speech the model wrote) is measured as it streams past, only its first
     * bytes kept: a whole answer exactly, a longer one by its bytes at the rate of the part kept,
     * however it is cut into writes.
     */
    @Test
    void anAnswersAudioLastsWhatItsBytesPlay() {
        // 24 kHz, 16-bit mono (OpenAI's speech): 48,000 bytes a second; 2 s fit the part kept, 60 s do not
        for (int seconds : new int[] {2, 60}) {
            byte[] speech = wav(1, 1, 24_000, 48_000, 16, 0xFFFFFFFFL, seconds * 48_000);
            AudioDuration.Answer answer = new AudioDuration.Answer("audio/wav");
            for (int off = 0; off < speech.length; off += 7_001) {
                answer.feed(speech, off, Math.min(7_001, speech.length - off));
            }
            long millis = answer.millis();
            // a longer answer is read at the rate of its first 64 KB, header and all: a thousandth short at most
            assertTrue(millis >= seconds * 999L && millis <= seconds * 1_000L + 10, seconds + " s read as " + millis + " ms");
        }
        AudioDuration.Answer none = new AudioDuration.Answer("audio/wav");
        assertEquals(-1, none.millis(), "no bytes: nothing a reader reads, not measured");
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
    void onlyTheFirstFmtChunkCountsAsFfmpegReadsIt() throws IOException {
        byte[] wav = wav(7, 1, 8_000, 8_000, 8, 80_000, 80_000);
        // a second fmt chunk, PCM at 4 GB a second, between the first and the data
        byte[] second = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).put(ascii("fmt ")).putInt(16)
                .putShort((short) 1).putShort((short) 1).putInt(-1).putInt(-1).putShort((short) 1).putShort((short) 8).array();
        byte[] file = concat(Arrays.copyOf(wav, 36), second, Arrays.copyOfRange(wav, 36, wav.length));
        assertEquals(10_000, millis(file));
    }

    @Test
    void framesOfAnotherSampleRateAreWalkedAtTheirOwnRate() throws IOException {
        byte[] fast = new byte[960];
        fast[0] = (byte) 0xFF;
        fast[1] = (byte) 0xFB;
        fast[2] = (byte) (14 << 4 | 1 << 2); // MPEG-1 48 kHz 320 kbit/s
        byte[] slow = new byte[72];
        slow[0] = (byte) 0xFF;
        slow[1] = (byte) 0xE3;
        slow[2] = (byte) (1 << 4 | 2 << 2); // MPEG-2.5 8 kHz 8 kbit/s
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        for (int i = 0; i < 3; i++) {
            file.writeBytes(fast);
        }
        for (int i = 0; i < 1_000; i++) {
            file.writeBytes(slow);
        }
        assertEquals(72 + 72_000, millis(file.toByteArray()));
    }

    @Test
    void anMp4LastsItsSoundTracksSamplesWhereverItsMoovIs() throws IOException {
        // 60 s of AAC at 48 kHz (1,024 samples a frame) beside 60 s of video; mdhd claims 1 unit
        byte[] moov = box("moov", box("mvhd", new byte[100]), track("vide", 600, 1_800, 20),
                track("soun", 48_000, 2_813, 1_024));
        byte[] mdat = box("mdat", new byte[200_000]);
        long sound = (2_813L * 1_024 * 1000 + 47_999) / 48_000;
        assertEquals(sound, millis(concat(ftyp("isom"), moov, mdat)), "faststart");
        assertEquals(sound, millis(concat(ftyp("M4A "), mdat, moov)), "moov after mdat, past the head");
        // a track of another handler (metadata) that runs longer counts: FFmpeg decodes mp4a under any but vide
        assertEquals(120_000, millis(concat(ftyp("mp42"), mdat, box("moov", track("meta", 1_000, 120, 1_000),
                track("soun", 48_000, 2_813, 1_024)))));
    }

    @Test
    void anMp4PlaysItsLongestVideoTracksPicturesBesideItsSound() throws IOException {
        // 60 s of video (1,800 frames of 20 units at 600 a second) and 20 s of AAC
        byte[] moov = box("moov", box("mvhd", new byte[100]), track("vide", 600, 1_800, 20),
                track("vide", 1_000, 30, 1_000), track("soun", 48_000, 938, 1_024));
        byte[] file = concat(ftyp("isom"), moov, box("mdat", new byte[200_000]));
        AudioDuration.Played played = AudioDuration.played(Arrays.copyOf(file, AudioDuration.HEAD),
                new ByteArrayInputStream(file, AudioDuration.HEAD, file.length - AudioDuration.HEAD), null);
        assertEquals(new AudioDuration.Played((938L * 1_024 * 1000 + 47_999) / 48_000, 60_000), played);
        byte[] wav = wav(1, 1, 8_000, 8_000, 8, 80_000, 80_000);
        assertEquals(new AudioDuration.Played(10_000, 0), AudioDuration.played(wav, InputStream.nullInputStream(), null),
                "a WAV has no pictures");
    }

    /** A fragmented file's track: {@code tkhd} with its id, {@code mdhd} timescale, its handler; its tables empty. */
    static byte[] fragmentedTrack(int id, String handler, int timescale) {
        byte[] tkhd = ByteBuffer.allocate(84).putInt(3).putInt(0).putInt(0).putInt(id).array();
        byte[] mdhd = ByteBuffer.allocate(24).putInt(0).putInt(0).putInt(0).putInt(timescale).putInt(0).putInt(0).array();
        return box("trak", box("tkhd", tkhd), box("mdia", box("mdhd", mdhd), box("hdlr", concat(new byte[8], ascii(handler),
                new byte[12])), box("minf", box("stbl", box("stsd", new byte[8]), box("stts", new byte[8])))));
    }

    /** A {@code moof} of one run of {@code count} samples of track {@code id}, each {@code duration} long and {@code size} bytes. */
    static byte[] fragment(int id, int count, int duration, int size) {
        byte[] tfhd = ByteBuffer.allocate(8).putInt(0x020000).putInt(id).array();
        ByteBuffer trun = ByteBuffer.allocate(8 + 8 * count).putInt(0x000300).putInt(count);
        for (int i = 0; i < count; i++) {
            trun.putInt(duration).putInt(size);
        }
        return box("moof", box("mfhd", new byte[8]), box("traf", box("tfhd", tfhd), box("trun", trun.array())));
    }

    @Test
    void aFragmentedMp4IsTimedByItsFragmentsItsSoundNeverShorterThanItsBytesPlay() throws IOException {
        // Safari's MediaRecorder layout: moov with mvex and empty tables, then moof and mdat pairs
        byte[] moov = box("moov", box("mvhd", new byte[100]), fragmentedTrack(1, "vide", 90_000),
                fragmentedTrack(2, "soun", 48_000), box("mvex", box("trex", new byte[24]), box("trex", new byte[24])));
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.writeBytes(concat(ftyp("iso5"), moov));
        for (int second = 0; second < 10; second++) {
            // a second of video at 30 frames of 3,000 units, and of AAC frames of 1,024 samples at 48 kHz
            file.writeBytes(fragment(1, 30, 3_000, 2_000));
            file.writeBytes(fragment(2, 47, 1_024, 300));
            file.writeBytes(box("mdat", new byte[30 * 2_000 + 47 * 300]));
        }
        byte[] bytes = file.toByteArray();
        AudioDuration.Played played = AudioDuration.played(Arrays.copyOf(bytes, AudioDuration.HEAD),
                new ByteArrayInputStream(bytes, AudioDuration.HEAD, bytes.length - AudioDuration.HEAD), null);
        assertEquals(10_000, played.video());
        // 470 frames of 300 bytes: 10.03 s timed, 70.5 s at the lowest bitrate (16 kbit/s)
        assertEquals(AudioDuration.atLowestBitrate(470L * 300), played.sound());
    }

    @Test
    void anMp4WithoutSoundHasNoneAndAnUnreadableOneIsMeasuredBySize() throws IOException {
        byte[] mdat = box("mdat", new byte[200_000]);
        assertEquals(0, millis(concat(ftyp("isom"), box("moov", track("vide", 600, 1_800, 20)), mdat)), "video only");
        assertEquals(0, millis(concat(ftyp("isom"), mdat)), "no moov: nothing a decoder can play");
        byte[] fragmented = concat(ftyp("iso6"), box("moov", box("mvex", new byte[8]), track("soun", 48_000, 0, 0)),
                box("moof", new byte[16]), mdat);
        assertEquals(fragmented.length / 2, millis(fragmented), "fragmented: the size rule");
        byte[] compressed = concat(ftyp("qt  "), box("moov", box("cmov", new byte[100])), mdat);
        assertEquals(compressed.length / 2, millis(compressed), "no track read: the size rule");
    }

    @Test
    void anMp4IsTimedByItsLastSttsAndEverySampleItsStszLists() throws IOException {
        byte[] ftyp = ftyp("M4A ");
        byte[] stsz = box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(24).putInt(2_584).array());
        byte[] stz2 = box("stz2", new byte[4], ByteBuffer.allocate(8).putInt(16).putInt(2_584).array());
        // 2,584 AAC frames of 1,024 samples at 44.1 kHz: 60 s
        long minute = (2_584L * 1_024 * 1000 + 44_099) / 44_100;
        assertEquals(minute, millis(concat(ftyp, box("moov", soundTrack(stts(2_584, 1_024), stsz)))));
        assertEquals(minute, millis(concat(ftyp, box("moov", soundTrack(stts(1, 1_024), stts(2_584, 1_024), stsz)))),
                "a stub stts before the real one: the last counts, as FFmpeg keeps it");
        assertEquals(minute, millis(concat(ftyp, box("moov", soundTrack(stts(1, 1_024), stsz)))),
                "stsz's samples beyond what stts times count at its delta");
        assertEquals(minute, millis(concat(ftyp, box("moov", soundTrack(stts(1, 1_024), stz2)))), "stz2 as stsz");
        assertEquals(((4_096L + 2_580L * 1_536) * 1000 + 44_099) / 44_100,
                millis(concat(ftyp, box("moov", soundTrack(stts(2, 1_024, 1, 512, 1, 1_536), stsz)))),
                "the samples stts leaves untimed at its largest delta");
        byte[] untimed = concat(ftyp, box("moov", soundTrack(stts(), stsz)), box("mdat", new byte[20_000]));
        assertEquals(AudioDuration.atLowestBitrate(untimed.length), millis(untimed), "samples without a delta: the size rule");
    }

    @Test
    void anAacTrackLastsWhatItsFramesDecodeToWhateverItsTimestampsSay() throws IOException {
        byte[] ftyp = ftyp("M4A ");
        byte[] stsd = stsd(audioEntry("mp4a", 44_100, esds(0x40, AAC_LC_44K)));
        byte[] stsz = stsz(2_584);
        long minute = decoded(2_584, 1_024, 44_100);
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100), stsd, stts(2_584, 1_024), stsz)))),
                "consistent tables: as before");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100), stsd, stts(2_584, 1), stsz)))),
                "deltas of 1");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100), stsd, stts(2_584, 0), stsz)))),
                "deltas of 0");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(mdhd(1_000_000_000), stsd, stts(2_584, 1_024),
                stsz)))), "a timescale of 10^9");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100), stsd, stts(), stsz)))),
                "no timestamps at all: the frames, not the size rule");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(new byte[0], stsd, stts(2_584, 1_024), stsz)))),
                "no mdhd: FFmpeg plays the track at a default timescale");
        // a second mdhd makes FFmpeg refuse the file ("Multiple mdhd?"); whichever is read, the frames count
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(concat(mdhd(44_100), mdhd(1_000_000_000)), stsd,
                stts(2_584, 1_024), stsz)))), "a second mdhd after the real one");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(concat(mdhd(1_000_000_000), mdhd(44_100)), stsd,
                stts(2_584, 1_024), stsz)))), "a second mdhd before the real one");
        assertEquals(decoded(2_584, 2_048, 44_100), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100), stsd,
                stts(2_584, 2_048), stsz)))), "timestamps longer than the frames still count");
        assertEquals(minute, millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntryV2("mp4a", 44_100.0, esds(0x40, AAC_LC_44K))), stts(2_584, 1), stsz)))),
                "a QuickTime v2 entry: its rate is the float64, not the 16.16 field's constant 1.0");
    }

    @Test
    void anAacTrackIsTimedAtTheLowestRateItStatesAndNoFasterThanAacPlays() throws IOException {
        byte[] ftyp = ftyp("M4A ");
        byte[] stsz = stsz(2_584);
        // HE-AAC: a 22,050 Hz core (index 7) that SBR doubles to 44.1 kHz (index 4): 2,048 samples at 44.1 kHz a frame
        byte[] he = esds(0x40, bits("00101 0111 0001 0100 00010 000"));
        assertEquals(decoded(2_584, 1_024, 22_050), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntry("mp4a", 44_100, he)), stts(2_584, 1), stsz)))), "HE-AAC: its core rate");
        assertEquals(decoded(2_584, 1_024, 22_050), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntry("mp4a", 22_050, esds(0x40, AAC_LC_44K))), stts(2_584, 1), stsz)))),
                "the entry's rate below the config's");
        // an explicit rate (index 15) of 1 MHz, no rate in the entry: AAC plays at most 96 kHz
        byte[] fast = esds(0x40, bits("00010 1111 " + bits24(1_000_000) + " 0001 000"));
        assertEquals(decoded(2_584, 1_024, 96_000), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntry("mp4a", 0, fast)), stts(2_584, 1), stsz)))), "capped at 96 kHz");
        assertEquals(decoded(2_584, 1_024, 96_000), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntry("mp4a", 0)), stts(2_584, 1), stsz)))), "no rate stated at all: 96 kHz");
        // frameLengthFlag: 960-sample frames (DAB+); an AAC LD config (object type 23): 512
        assertEquals(decoded(2_584, 960, 44_100), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntry("mp4a", 44_100, esds(0x40, bits("00010 0100 0001 100")))), stts(2_584, 1), stsz)))),
                "960-sample frames");
        assertEquals(decoded(2_584, 512, 44_100), millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100),
                stsd(audioEntry("mp4a", 44_100, esds(0x40, bits("10111 0100 0001 000")))), stts(2_584, 1), stsz)))),
                "AAC LD: 512-sample frames");
    }

    @Test
    void eachCodecsFramesDecodeToItsOwnSamples() throws IOException {
        byte[] ftyp = ftyp("M4A ");
        byte[] stsz = stsz(2_584);
        java.util.function.Function<byte[], Long> timed = entry -> {
            try {
                // with sample bytes, so the 1,000 ms a byte bound of a tiny file is not what is measured
                return millis(concat(ftyp, box("moov", codedTrack(mdhd(44_100), stsd(entry), stts(2_584, 1), stsz)),
                        box("mdat", new byte[2_584])));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        assertEquals(decoded(2_584, 1_152, 44_100), timed.apply(audioEntry(".mp3", 44_100)), "MP3");
        assertEquals(decoded(2_584, 1_152, 22_050), timed.apply(audioEntry(".mp3", 22_050)),
                "MP3 at an LSF rate: 1,152 all the same, the larger bound");
        assertEquals(decoded(2_584, 1_152, 48_000), timed.apply(audioEntry(".mp3", 0)), "MP3, no rate: 48 kHz");
        assertEquals(decoded(2_584, 1_152, 44_100), timed.apply(audioEntry("mp4a", 44_100, esds(0x6B, new byte[0]))),
                "MP3 as mp4a, object type 0x6B");
        assertEquals(decoded(2_584, 1_536, 48_000), timed.apply(audioEntry("ac-3", 48_000)), "AC-3");
        assertEquals(decoded(2_584, 256, 48_000), timed.apply(audioEntry("ec-3", 48_000)), "E-AC-3: its shortest frame");
        byte[] cookie = box("alac", new byte[4], ByteBuffer.allocate(24).putInt(352).put(new byte[] {0, 16, 40, 10, 14, 1})
                .putShort((short) 255).putInt(0).putInt(0).putInt(32_000).array());
        assertEquals(decoded(2_584, 352, 32_000), timed.apply(audioEntry("alac", 44_100, cookie)),
                "ALAC: the cookie's frame length, at the lower rate");
        assertEquals(decoded(2_584, 4_096, 44_100), timed.apply(audioEntry("alac", 44_100)), "ALAC without a cookie: 4,096");
        byte[] dops = box("dOps", new byte[] {0, 1, 1, 56}, ByteBuffer.allocate(7).putInt(16_000).array());
        assertEquals(decoded(2_584, 120, 48_000), timed.apply(audioEntry("Opus", 48_000, dops)), "Opus: 2.5 ms a packet");
        byte[] streaminfo = ByteBuffer.allocate(34).putShort((short) 4_096).putShort((short) 4_096).put(new byte[6])
                .putLong(16_000L << 44 | 15L << 36).array();
        byte[] dfla = box("dfLa", new byte[4], new byte[] {(byte) 0x80, 0, 0, 34}, streaminfo);
        assertEquals(decoded(2_584, 4_096, 16_000), timed.apply(audioEntry("fLaC", 16_000, dfla)),
                "FLAC: STREAMINFO's smallest block");
        assertEquals(decoded(2_584, 1, 44_100), timed.apply(audioEntry("spex", 8_000)), "another codec: its timestamps");
    }

    @Test
    void amrAndPcmSamplesDecodeToTheirFramesWhateverTheirTimestampsSay() throws IOException {
        byte[] ftyp = ftyp("3gp4");
        java.util.function.BiFunction<byte[], byte[], Long> timed = (entry, stsz) -> {
            try {
                // a 10^9 timescale and deltas of 1: the timestamps say nothing (the sample bytes lift the
                // bound of 1,000 ms a byte of the file)
                return millis(concat(ftyp, box("moov", codedTrack(mdhd(1_000_000_000L), stsd(entry), stts(30_000, 1), stsz)),
                        box("mdat", new byte[10_000])));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        byte[] amrFrames = box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(13).putInt(30_000).array());
        assertEquals(600_000, timed.apply(audioEntry("samr", 8_000), amrFrames), "AMR-NB: 20 ms a frame");
        assertEquals(600_000, timed.apply(audioEntry("sawb", 0), amrFrames), "AMR-WB: 20 ms a frame, no rate stated");
        // 30,000 samples of 320 bytes: at least 10 frames of the largest (32 bytes) each
        byte[] packed = box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(320).putInt(30_000).array());
        assertEquals(6_000_000, timed.apply(audioEntry("samr", 8_000), packed), "AMR-NB samples packing frames");
        // PCM: a sample a frame at the stated rate
        byte[] oneByte = box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(1).putInt(30_000).array());
        assertEquals(3_750, timed.apply(audioEntry("ulaw", 8_000), oneByte), "mu-law: 30,000 samples at 8 kHz");
        assertEquals(3_750, timed.apply(audioEntry("sowt", 8_000), oneByte), "16-bit PCM with a size of 1 a sample");
        assertEquals(decoded(30_000, 1, 768_000), timed.apply(audioEntry("twos", 0), oneByte),
                "no rate stated: the highest PCM is recorded at");
        // samples larger than a frame hold several: 30,000 samples of 1,600 bytes of 16-bit mono at 8 kHz
        byte[] large = box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(1_600).putInt(30_000).array());
        assertEquals(3_000_000, timed.apply(audioEntry("twos", 8_000), large), "16-bit samples of 800 frames");
        assertEquals(6_000_000, timed.apply(audioEntry("alaw", 8_000), large), "A-law samples of 1,600 frames");
        assertEquals(decoded(30_000L * 1_600 / 8, 1, 8_000), timed.apply(audioEntry("fl64", 8_000), large), "fl64");
        // QuickTime version 1: 100 samples a packet of 800 bytes, read so by FFmpeg chunk by chunk
        byte[] v1 = box("lpcm", ByteBuffer.allocate(44).put(new byte[6]).putShort((short) 1).putShort((short) 1).putShort((short) 0)
                .putInt(0).putShort((short) 1).putShort((short) 16).putShort((short) 0).putShort((short) 0)
                .putInt(8_000 << 16).putInt(100).putInt(800).putInt(800).putInt(2).array());
        assertEquals(decoded(30_000 / 100 * 400, 1, 8_000), timed.apply(v1, oneByte), "v1: 400 frames a packet of 100 samples");
    }

    /** {@code samples} samples of {@code data} (each {@code sampleSize} bytes) in one chunk of a 3GP's {@code entry} track, {@code moov} first or last. */
    static byte[] amr3gp(String entry, byte[] data, int sampleSize, boolean moovFirst) {
        int samples = data.length / sampleSize;
        byte[] ftyp = ftyp("3gp4");
        java.util.function.IntFunction<byte[]> moov = offset -> box("moov", codedTrack(mdhd(8_000),
                stsd(audioEntry(entry, 8_000)), stts(samples, 160),
                box("stsz", new byte[4], ByteBuffer.allocate(8).putInt(sampleSize).putInt(samples).array()),
                box("stsc", ByteBuffer.allocate(20).putInt(0).putInt(1).putInt(1).putInt(samples).putInt(1).array()),
                box("stco", ByteBuffer.allocate(12).putInt(0).putInt(1).putInt(offset).array())));
        byte[] mdat = box("mdat", data);
        if (moovFirst) {
            return concat(ftyp, moov.apply(ftyp.length + moov.apply(0).length + 8), mdat);
        }
        return concat(ftyp, mdat, moov.apply(ftyp.length + 8));
    }

    /** {@code count} AMR frames of frame type {@code type} (its header byte's quality bit set), {@code size} bytes each. */
    static byte[] amrFrames(int type, int size, int count) {
        byte[] b = new byte[size * count];
        for (int i = 0; i < b.length; i += size) {
            b[i] = (byte) (type << 3 | 0x04);
        }
        return b;
    }

    @Test
    void amrSamplesPlayEveryFrameTheyHold() throws IOException {
        // 3,000 samples of ten 6.60 kbit/s AMR-WB frames (18 bytes): 30,000 frames, whatever stts says
        // (one frame a sample) and not the sample bytes over the largest frame (61 bytes: 177 s)
        assertEquals(600_000, millis(amr3gp("sawb", amrFrames(0, 18, 30_000), 180, true)), "AMR-WB, ten frames a sample");
        assertEquals(200_000, millis(amr3gp("samr", amrFrames(0, 13, 10_000), 65, true)), "AMR-NB 4.75, five a sample");
        // mixed modes in a sample: 12.2 (32 bytes), 4.75 (13), SID (6), NO_DATA (1): four frames
        byte[] mixed = concat(amrFrames(7, 32, 1), amrFrames(0, 13, 1), amrFrames(8, 6, 1), amrFrames(15, 1, 1));
        byte[] data = new byte[52 * 1_000];
        for (int i = 0; i < 1_000; i++) {
            System.arraycopy(mixed, 0, data, i * 52, 52);
        }
        assertEquals(80_000, millis(amr3gp("samr", data, 52, true)), "every frame by its own size");
        // moov after mdat (FFmpeg's default layout): the mdat walked as it passed as frames all of one
        // size, the samples found on those frames and each a whole number of them: 10,000 frames
        assertEquals(200_000, millis(amr3gp("samr", amrFrames(0, 13, 10_000), 65, false)), "moov last, walked");
        assertEquals(600_000, millis(amr3gp("sawb", amrFrames(0, 18, 30_000), 180, false)), "AMR-WB, moov last");
        // frames of several sizes streamed past unlocated: their bytes count at the most frames (a 6-byte
        // SID frame each): 52,000 bytes, 8,667 frames
        assertEquals(173_340, millis(amr3gp("samr", data, 52, false)), "mixed frames before moov");
        // samples that are not whole frames of the walk (20-byte samples over 32-byte frames): at the most
        assertEquals(133_340, millis(amr3gp("samr", amrFrames(7, 32, 1_250), 20, false)), "samples across frames");
        // a frame running past its sample (a 32-byte frame in 20-byte samples): the sample at the most frames
        assertEquals(2_000L * 4 * 20, millis(amr3gp("samr", amrFrames(7, 20, 2_000), 20, true)), "a frame cut short");
    }

    /** A raw AMR file: {@code magic}, then {@code frames}. */
    static byte[] rawAmr(String magic, byte[] frames) {
        return concat(ascii(magic), frames);
    }

    @Test
    void rawAmrIsTimedByItsFrames() throws IOException {
        // 4.75 kbit/s AMR-NB (13 bytes a 20 ms frame) is a third of the size rule's 16 kbit/s
        assertEquals(1_800_000, millis(rawAmr("#!AMR\n", amrFrames(0, 13, 90_000))), "AMR-NB 4.75");
        assertEquals(600_000, millis(rawAmr("#!AMR\n", amrFrames(7, 32, 30_000))), "AMR-NB 12.2");
        assertEquals(600_000, millis(rawAmr("#!AMR-WB\n", amrFrames(0, 18, 30_000))), "AMR-WB 6.60");
        assertEquals(600_000, millis(rawAmr("#!AMR-WB\n", amrFrames(8, 61, 30_000))), "AMR-WB 23.85");
        // a tail cut inside a frame: its 12 bytes at the most frames (two)
        byte[] cut = Arrays.copyOf(rawAmr("#!AMR\n", amrFrames(7, 32, 1_001)), 6 + 1_000 * 32 + 12);
        assertEquals(1_002 * 20, millis(cut), "a cut tail");
        // a reserved frame type after 1,000 frames: the rest, 1,300 bytes, at the most frames (217)
        byte[] garbled = concat(rawAmr("#!AMR\n", amrFrames(0, 13, 1_000)), new byte[] {0x4C}, new byte[1_299]);
        assertEquals(1_217 * 20, millis(garbled), "a garbled tail");
        // multi-channel files are not walked: every byte after the first nine at the most frames
        byte[] channels = concat(ascii("#!AMR_MC1.0\n"), new byte[] {0, 0, 0, 2}, amrFrames(0, 13, 200));
        assertEquals((2_607 + 5) / 6 * 20, millis(channels), "AMR-NB, two channels");
    }

    @Test
    void rf64AndBw64AreWaves() throws IOException {
        byte[] riff = wav(1, 1, 8_000, 16_000, 16, 0xFFFFFFFFL, 16_000);
        byte[] ds64 = concat(ascii("ds64"), ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN).putInt(28)
                .putLong(riff.length + 36 - 8).putLong(16_000).putLong(8_000).putInt(0).array());
        for (String magic : new String[] {"RF64", "BW64"}) {
            byte[] file = concat(ascii(magic), new byte[] {-1, -1, -1, -1}, ascii("WAVE"), ds64,
                    Arrays.copyOfRange(riff, 12, riff.length));
            assertTrue(AudioDuration.isAudio("application/octet-stream", file), magic);
            assertEquals(1_000, millis(file), magic);
        }
    }

    @Test
    void aFlacFrameIsTimedAtTheLowerOfItsHeadersRateAndStreamInfos() throws IOException {
        // 225 blocks of 4,096 samples: 57.6 s at 16 kHz, 115.2 s at 8 kHz
        assertEquals(115_200, millis(flac(0, 225, 655_350, 4)), "8 kHz frames under a 655,350 Hz STREAMINFO");
        assertEquals(115_200, millis(flac(0, 225, 8_000, 5)), "16 kHz frames under an 8 kHz STREAMINFO");
        assertEquals(115_200, millis(flac(0, 225, 16_000, 13, (byte) 0x1F, (byte) 0x40)), "8,000 Hz coded in the header");
        assertEquals(115_200, millis(flac(0, 225, 16_000, 12, (byte) 8)), "8 kHz coded in kHz");
        assertEquals(57_600, millis(flac(0, 225, 16_000, 0)), "a header coding no rate: STREAMINFO's");
        assertEquals(57_600, millis(flac(0, 225, 16_000, 13, (byte) 0, (byte) 0)), "a coded 0: STREAMINFO's");
    }

    @Test
    void aFlacLastsItsFramesOrWhatItsStreamInfoStatesWhicheverIsMore() throws IOException {
        // 225 blocks of 4,096 samples at 16 kHz: 57.6 s in 2.5 KB, 1.3 s by size
        assertEquals(57_600, millis(flac(225 * 4096, 225)));
        assertEquals(57_600, millis(flac(0, 225)), "no total stated");
        assertEquals(57_600, millis(flac(1, 225)), "a total understated");
        assertEquals(900_000, millis(flac(16_000L * 900, 225)), "a total beyond the frames present");
    }

    @Test
    void aChainedOggPlaysEveryLinkAndStreamsSideBySideAddUp() throws IOException {
        assertEquals(32_000, millis(concat(reserial(opus(2, -1), 1), reserial(opus(30, -1), 2))), "cat a.opus b.opus");
        assertEquals(32_000, millis(concat(opus(2, -1), opus(30, -1))), "a link reusing the serial before it");
        assertEquals(32_000, millis(interleaved(reserial(opus(2, -1), 1), reserial(opus(30, -1), 2))),
                "two streams at once: their sum, never less than either");
        // a Vorbis link after an Opus one: its granule, or its own pages by size, on top of the Opus link
        byte[] vorbisHead = concat(new byte[] {1}, ascii("vorbis"), new byte[5], new byte[] {(byte) 0x80, (byte) 0xBB, 0, 0},
                new byte[14]);
        byte[] vorbis = reserial(concat(oggPage(2, 0, vorbisHead), oggPage(0, 48_000 * 10, new byte[200])), 3);
        assertEquals(40_000, millis(concat(reserial(opus(30, -1), 1), vorbis)));
    }

    @Test
    void anOggOpusLastsItsPacketsOrItsGranuleWhicheverIsMore() throws IOException {
        assertEquals(30_000, millis(opus(30, -1)));
        assertEquals(30_000, millis(opus(30, 48)), "granules understated: the packets count");
        assertEquals(60_000, millis(opus(30, 60 * 48_000L)), "a granule beyond the packets");
        // a byte between pages: the demuxer resynchronises
        byte[] file = opus(30, -1);
        byte[] broken = concat(Arrays.copyOf(file, 200), new byte[] {7}, Arrays.copyOfRange(file, 200, file.length));
        assertTrue(millis(broken) >= 29_000, millis(broken) + " ms");
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
        assertTrue(AudioDuration.isAudio("image/png", wav), "a label cannot take audio away");
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
                "#!AMR\n".getBytes(StandardCharsets.ISO_8859_1),
                "#!AMR-WB\n".getBytes(StandardCharsets.ISO_8859_1),
                "RF64\0\0\0\0WAVEds64".getBytes(StandardCharsets.ISO_8859_1),
                amr3gp("sawb", amrFrames(1, 24, 20), 48, true),
                flac(16_000L * 3_600, 2),
                opus(2, Long.MAX_VALUE),
                concat(ftyp("M4A "), box("moov", track("soun", 1, -1, -1))),
                concat(ftyp("isom"), box("mdat", new byte[20])),
                concat(ftyp("isom"), box("moov", box("trak", box("mdia", box("hdlr", new byte[12]),
                        box("minf", box("stbl", box("stts", new byte[8]))), box("mdhd"))))),
                new byte[0]);
        return prefix.flatMap(p -> noise.map(n -> concat(p, n)));
    }
}
