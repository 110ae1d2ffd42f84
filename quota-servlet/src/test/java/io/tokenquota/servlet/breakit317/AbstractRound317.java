package io.tokenquota.servlet.breakit317;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.WebmFiles.CLUSTER;
import static io.tokenquota.servlet.testing.WebmFiles.INFO;
import static io.tokenquota.servlet.testing.WebmFiles.SEGMENT;
import static io.tokenquota.servlet.testing.WebmFiles.SIMPLE_BLOCK;
import static io.tokenquota.servlet.testing.WebmFiles.TIMESTAMP;
import static io.tokenquota.servlet.testing.WebmFiles.TIMESTAMP_SCALE;
import static io.tokenquota.servlet.testing.WebmFiles.TRACKS;
import static io.tokenquota.servlet.testing.WebmFiles.TRACK_ENTRY;
import static io.tokenquota.servlet.testing.WebmFiles.element;
import static io.tokenquota.servlet.testing.WebmFiles.float64;
import static io.tokenquota.servlet.testing.WebmFiles.size;
import static io.tokenquota.servlet.testing.WebmFiles.uint;
import static io.tokenquota.servlet.testing.WebmFiles.unknownSize;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiVideoModel;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import io.tokenquota.servlet.testing.WebmFiles;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Round 317 of issue 11 ("no model call goes unpaid"): WebM and Matroska timed by their tracks
 * ({@code MatroskaDuration}, the last commits). Three ways a file plays longer in FFmpeg (which Gemini's and
 * OpenAI's media pipelines demux with; the filter's own docs take FFmpeg as the reference: "as FFmpeg's demuxer
 * resynchronises", "FFmpeg warns of an unknown [DocType] and plays on") than the filter reads it. Each file here
 * was first written byte for byte by a Python copy of these builders and checked with FFmpeg 5.1 on this machine
 * ({@code ffprobe -show_entries packet=pts_time}, {@code ffmpeg -vf fps=1 -f null -}, and, for the sound, the
 * samples {@code ffmpeg -f s16le} decodes), with real VP9 frames from {@code libvpx-vp9} and real Opus packets from
 * {@code libopus} put in the same places:
 *
 * <ol>
 *   <li><b>Laced video frames.</b> RFC 9559 section 10.3 (Block Lacing) lets any Block hold several frames
 *   ("lacing ... puts multiple frames in a single Block"); a TrackEntry's {@code FlagLacing} defaults to 1. FFmpeg's
 *   {@code matroska_parse_block} gives a laced Block without a {@code BlockDuration} the duration
 *   {@code DefaultDuration * laces} and each lace its own timestamp, one {@code DefaultDuration} after the other.
 *   {@code MatroskaDuration.block} takes a laced block of a non-Opus track as one frame at the block's timestamp.
 *   A 60-frame VP9 screen recording at one frame a second with its last 58 frames Xiph-laced in one SimpleBlock:
 *   FFmpeg 60 frames at 0 ... 59 s (checked: {@code fps=1} sampling yields 60 frames, {@code time=00:01:00}),
 *   the filter 3 s.</li>
 *   <li><b>TrackTimestampScale.</b> RFC 9559 section 5.1.4.1.13 ({@code TrackTimestampScale}, ID 0x23314F, a
 *   float: "the scale to apply on this track to work at normal speed in relation with other tracks"). FFmpeg still
 *   applies it: {@code avpriv_set_pts_info(st, 64, matroska->time_scale * track->time_scale, 1000 * 1000 * 1000)}
 *   in {@code matroska_parse_tracks}. The filter never reads it. 60 frames stamped 10 ms apart with a
 *   TrackTimestampScale of 100.0: FFmpeg 0 ... 59 s (checked, DocType {@code webm} too), the filter 0.6 s.</li>
 *   <li><b>Opus under its pre-final CodecID.</b> {@code A_OPUS/EXPERIMENTAL} is the CodecID mkvmerge wrote for
 *   Opus before the final {@code A_OPUS}; FFmpeg's {@code libavformat/matroska.c} ({@code ff_mkv_codec_tags}),
 *   VLC's and LAV Filters' demuxers and ffms2 ("Pre-final ID, for compatibility") all map it to Opus. The filter
 *   recognises Opus by a 6-byte {@code A_OPUS} only, so the track's packets are not counted by their TOC bytes
 *   (the rule that makes "audio timestamps all at zero still count their Opus packets") but by bytes at 16 kbit/s:
 *   a 120 s voice note at 6 kbit/s stamped at 0 reads as 51 s. FFmpeg decodes 120 s of samples from it.</li>
 * </ol>
 * Controls: the same frames unlaced, the same frames stamped in milliseconds without a track scale, and the same
 * Opus packets under {@code A_OPUS}; each is charged what its length costs.
 */
abstract class AbstractRound317 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long VIDEO_RATE = GeminiVideoModel.VIDEO_RATE;
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";
    static final String ANSWER = "The recording opens the settings page, turns on two-factor sign-in and saves.";
    static final String DESCRIBE = "/ai/app/video/describe";
    static final String TRANSCRIBE = "/ai/v1/audio/transcriptions";
    static final int SECONDS = 60;

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // round 73's documented setup for uploads: OpenAI's 25 MB limit on the audio endpoints
        QuotaFilter quota = filterFor("/ai/").maxBodyBytes("/ai/v1/audio/", 25 << 20).build();
        MultipartConfigElement uploads = new MultipartConfigElement("", 32 << 20, 32 << 20, 0);
        return Deployment.create().filter("quota", quota, "/*").onStartup(quota::registerByServletName)
                .servlet("describe", new Describe(), "/ai/app/*")
                .multipartServlet("audio", new Transcribe(), uploads, "/ai/v1/audio/*");
    }

    /**
     * Round 301's application endpoint: a browser's recording as a data URL in JSON ({@code FileReader.readAsDataURL}
     * of the {@code MediaRecorder}'s blob), sent to Gemini, the text returned without usage (Spring AI's
     * {@code .call().content()}): charged its estimate.
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            body.get("video").asText();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    /**
     * OpenAI's {@code /v1/audio/transcriptions} with {@code response_format=text} (the transcript alone, no usage),
     * as {@link Transcriptions.PlainText}, counting its calls. OpenAI takes webm uploads
     * (platform.openai.com/docs/api-reference/audio/createTranscription: "flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav,
     * or webm").
     */
    class Transcribe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            try {
                req.getPart("file").getInputStream().readAllBytes();
            } catch (ServletException e) {
                throw new IOException(e);
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=utf-8");
            resp.getOutputStream().write("and then we looked at the quarterly figures again".getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ files

    /** The head of a Chrome-shaped file (WebmFiles.chrome's): EBML header, Segment of unknown size, Info at 1 ms. */
    static byte[] head(byte[]... trackEntries) {
        return cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), element(INFO, element(TIMESTAMP_SCALE,
                uint(1_000_000, 3)), element(0x4D80, ascii("Chrome")), element(0x5741, ascii("Chrome"))),
                element(TRACKS, trackEntries));
    }

    /**
     * A VP9 TrackEntry (WebmFiles.videoTrack's children) with FFmpeg's {@code DefaultDuration} of one frame a second,
     * and {@code more} children (a TrackTimestampScale).
     */
    static byte[] vp9Track(long defaultNanos, byte[]... more) {
        return element(TRACK_ENTRY, element(0xD7, uint(1, 1)), element(0x73C5, uint(0x5A3C9E22L, 4)),
                element(0x83, uint(1, 1)), element(0x86, ascii("V_VP9")),
                defaultNanos > 0 ? element(0x23E383, uint(defaultNanos, 4)) : new byte[0], cat(more),
                element(0xE0, element(0xB0, uint(1280, 2)), element(0xBA, uint(720, 2))));
    }

    /** {@code n} VP9 frames of 3,000 bytes (round 301's screen recording: 24 kbit/s at one frame a second), the first a keyframe. */
    static List<byte[]> frames(int n) {
        Random noise = new Random(317);
        List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            frames.add(WebmFiles.vp9Frame(3_000, i == 0, noise));
        }
        return frames;
    }

    /**
     * A SimpleBlock of track 1 at {@code relative} holding {@code frames} Xiph-laced (RFC 9559 section 10.3.2:
     * flags' lacing bits 01, the frame count minus one, each size but the last as 255s and a remainder).
     */
    static byte[] xiphLaced(long relative, List<byte[]> frames) {
        ByteArrayOutputStream lace = new ByteArrayOutputStream();
        lace.write(frames.size() - 1);
        for (int i = 0; i + 1 < frames.size(); i++) {
            int n = frames.get(i).length;
            for (; n >= 255; n -= 255) {
                lace.write(255);
            }
            lace.write(n);
        }
        for (byte[] f : frames) {
            lace.writeBytes(f);
        }
        return element(SIMPLE_BLOCK, size(1), uint(relative, 2), new byte[] {0x02}, lace.toByteArray());
    }

    /**
     * {@code frames} {@code stepMillis} apart, each in its own SimpleBlock, in Clusters of unknown size: a new one
     * where a block's Timestamp would pass its Cluster's by more than a signed 16-bit number holds (RFC 9559 section
     * 10.1; 32,767 ticks), as Chrome's and FFmpeg's muxers start one. (A single Cluster wrapped the blocks from 33 s on
     * to -32.5 ... -6.5 s, which FFmpeg drops and interpolates and the filter reads as 65.5 s.)
     */
    static byte[] clusters(List<byte[]> frames, long stepMillis) {
        ByteArrayOutputStream blocks = new ByteArrayOutputStream();
        long cluster = 0;
        for (int i = 0; i < frames.size(); i++) {
            long at = i * stepMillis;
            if (i == 0 || at - cluster > Short.MAX_VALUE) {
                cluster = at;
                blocks.writeBytes(cat(unknownSize(CLUSTER), element(TIMESTAMP, uint(cluster, 4))));
            }
            blocks.writeBytes(WebmFiles.simpleBlock(1, at - cluster, i == 0, frames.get(i)));
        }
        return blocks.toByteArray();
    }

    /** 60 frames at one a second, each in its own SimpleBlock (Chrome's and FFmpeg's layout). */
    static byte[] unlacedRecording() {
        return cat(head(vp9Track(1_000_000_000L)), clusters(frames(SECONDS), 1_000));
    }

    /** The same 60 frames: the first two in their own SimpleBlocks at 0 and 1 s, the other 58 laced in one at 2 s. */
    static byte[] lacedRecording() {
        List<byte[]> frames = frames(SECONDS);
        return cat(head(vp9Track(1_000_000_000L)), unknownSize(CLUSTER), element(TIMESTAMP, uint(0, 4)),
                WebmFiles.simpleBlock(1, 0, true, frames.get(0)), WebmFiles.simpleBlock(1, 1_000, false, frames.get(1)),
                xiphLaced(2_000, frames.subList(2, frames.size())));
    }

    /** The same 60 frames stamped {@code stepMillis} apart, the track's TrackTimestampScale {@code trackScale} (none at 0). */
    static byte[] scaledRecording(long stepMillis, double trackScale) {
        byte[] scale = trackScale > 0 ? element(0x23314F, float64(trackScale)) : new byte[0];
        return cat(head(vp9Track(0, scale)), clusters(frames(SECONDS), stepMillis));
    }

    /**
     * An Opus TrackEntry as WebmFiles.opusTrack writes Chrome's (OpusHead, CodecDelay, SeekPreRoll, 48 kHz mono),
     * under {@code codecId}.
     */
    static byte[] opusTrack(String codecId) {
        byte[] opusHead = cat(ascii("OpusHead"), new byte[] {1, 1, 0x38, 0x01, (byte) 0x80, (byte) 0xBB, 0, 0, 0, 0, 0});
        return element(TRACK_ENTRY, element(0xD7, uint(1, 1)), element(0x73C5, uint(0x31F0A2B8L, 4)),
                element(0x83, uint(2, 1)), element(0x86, ascii(codecId)), element(0x63A2, opusHead),
                element(0x56AA, uint(6_500_000, 3)), element(0x56BB, uint(80_000_000, 4)),
                element(0xE1, element(0xB5, float64(48_000)), element(0x9F, uint(1, 1))));
    }

    static final int VOICE_SECONDS = 120;

    /**
     * A 120 s voice note at about 6 kbit/s (the example of docs/estimation.md: "a 120-second Opus voice note at
     * 6 kbit/s"): 2,000 Opus packets of 60 ms and 47 bytes, every one stamped at 0 (MatroskaDurationTest's
     * "audio timestamps all at zero" file), under {@code codecId}.
     */
    static byte[] voiceNote(String codecId) {
        Random noise = new Random(3170);
        ByteArrayOutputStream blocks = new ByteArrayOutputStream();
        for (int i = 0; i < VOICE_SECONDS * 1000 / WebmFiles.OPUS_MILLIS; i++) {
            blocks.writeBytes(WebmFiles.simpleBlock(1, 0, true, WebmFiles.opusPacket(47, noise)));
        }
        return cat(head(opusTrack(codecId)), unknownSize(CLUSTER), element(TIMESTAMP, uint(0, 4)), blocks.toByteArray());
    }

    // ------------------------------------------------------------------ requests

    static String describe(byte[] video) {
        return "{\"video\":\"data:video/webm;base64," + Base64.getEncoder().encodeToString(video) + "\",\"question\":\""
                + QUESTION + "\"}";
    }

    /** What a video description is charged (its estimate: answered without usage), after a check it was served once. */
    long describeCharge(byte[] video, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(video));
        assertAll(() -> assertEquals(200, r.statusCode(), kind() + ": " + what + ": " + r.body()),
                () -> assertEquals(1, calls.of(s), what));
        return settled(s).used();
    }

    long transcribeCharge(byte[] webm, String what) {
        String s = subject();
        HttpResponse<String> r = Transcriptions.post(container.uri(TRANSCRIBE), s, "r317", webm, "voice-note.webm",
                "audio/webm");
        assertAll(() -> assertEquals(200, r.statusCode(), kind() + ": " + what + ": " + r.body()),
                () -> assertEquals(1, calls.of(s), what));
        return settled(s).used();
    }

    // ------------------------------------------------------------------ 1. laced video frames

    /** Control: 60 frames a second apart, one a SimpleBlock: charged at least 60 s of pictures. */
    @Test
    void controlAnUnlacedMinuteOfVideoIsChargedItsPictures() {
        long used = describeCharge(unlacedRecording(), "60 unlaced frames");
        assertTrue(used >= VIDEO_RATE * SECONDS, kind() + ": 60 s of VP9 charged " + used + ", at least "
                + VIDEO_RATE * SECONDS);
    }

    /**
     * Finding 1. The same 60 frames, 58 of them Xiph-laced in the SimpleBlock at 2 s, DefaultDuration 1 s: FFmpeg
     * demuxes 60 frames at 0 ... 59 s; expected the unlaced file's charge.
     */
    @Test
    void lacedVideoFramesAreEachTimed() {
        long control = describeCharge(unlacedRecording(), "60 unlaced frames");
        long used = describeCharge(lacedRecording(), "58 of the frames laced");
        assertEquals(control, used, kind() + ": a 60 s VP9 WebM whose last 58 frames are laced in one SimpleBlock"
                + " (FFmpeg: 60 frames at 0 ... 59 s, Gemini bills " + VIDEO_RATE * SECONDS + " for the pictures)"
                + " charged " + used + "; the same frames unlaced " + control);
    }

    // ------------------------------------------------------------------ 2. TrackTimestampScale

    /** Control: 60 frames stamped 1,000 ms apart, no track scale: charged 60 s of pictures. */
    @Test
    void controlFramesStampedASecondApartAreChargedTheirPictures() {
        long used = describeCharge(scaledRecording(1_000, 0), "60 frames 1 s apart");
        assertTrue(used >= VIDEO_RATE * SECONDS, kind() + ": 60 s of VP9 charged " + used);
    }

    /**
     * Finding 2. The same 60 frames stamped 10 ms apart, the track's TrackTimestampScale 100.0: FFmpeg's packets at
     * 0 ... 59 s; expected the charge of the file stamped a second apart.
     */
    @Test
    void aTrackTimestampScaleTimesItsTrack() {
        long control = describeCharge(scaledRecording(1_000, 0), "60 frames 1 s apart");
        long used = describeCharge(scaledRecording(10, 100.0), "60 frames 10 ms apart at a track scale of 100");
        assertEquals(control, used, kind() + ": a VP9 WebM of 60 frames 10 ms apart with TrackTimestampScale 100.0"
                + " (FFmpeg: 60 frames at 0 ... 59 s) charged " + used + "; stamped 1 s apart " + control);
    }

    // ------------------------------------------------------------------ 3. A_OPUS/EXPERIMENTAL

    /** Control: the voice note under {@code A_OPUS}, stamped at 0: its 2,000 packets count, 120 s. */
    @Test
    void controlAnOpusVoiceNoteStampedAtZeroIsChargedItsPackets() {
        long used = transcribeCharge(voiceNote("A_OPUS"), "A_OPUS");
        // 17 input and 4 transcript tokens a second (docs/decisions.md, audio uploads)
        assertTrue(used >= 21L * VOICE_SECONDS, kind() + ": a 120 s Opus voice note charged " + used);
    }

    /**
     * Finding 3. The same packets under {@code A_OPUS/EXPERIMENTAL}: FFmpeg decodes them as Opus, 120 s; expected
     * the {@code A_OPUS} file's charge.
     */
    @Test
    void opusUnderItsPreFinalCodecIdCountsItsPackets() {
        long control = transcribeCharge(voiceNote("A_OPUS"), "A_OPUS");
        long used = transcribeCharge(voiceNote("A_OPUS/EXPERIMENTAL"), "A_OPUS/EXPERIMENTAL");
        assertEquals(control, used, kind() + ": a 120 s Opus voice note (6 kbit/s, stamped at 0) under CodecID"
                + " A_OPUS/EXPERIMENTAL (FFmpeg: Opus, 120 s decoded) charged " + used + "; under A_OPUS " + control);
    }
}
