package io.tokenquota.servlet.breakit312;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiVideoModel;
import io.tokenquota.servlet.testing.H264Files;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 312 of issue 11 ("no model call goes unpaid"): an MP4's video track the media pricing
 * ({@code Mp4Duration.sound}/{@code pictures}, {@code Mp4Fragments.track}) does not see as video, although the
 * demuxer the code itself follows sees it as video.
 *
 * <p>The code decides a track is video by "the last {@code hdlr}" of its {@code mdia} ("every hdlr sets the track's
 * type as FFmpeg reads it (mov_read_hdlr): the last one decides"), and times it by its {@code mdhd} timescale (0:
 * "not timed"). FFmpeg does neither:
 * <ul>
 * <li>{@code libavformat/mov.c mov_read_hdlr} sets the stream's type only for {@code vide}, {@code soun},
 *     {@code subp}/{@code clcp}; any other handler (ISO/IEC 14496-12's {@code auxv} auxiliary video, {@code meta},
 *     QuickTime's {@code alis}) leaves it as it was, and a track without any {@code hdlr} stays
 *     {@code AVMEDIA_TYPE_DATA} (set by {@code mov_read_trak});</li>
 * <li>{@code mov_codec_id} then makes any stream that is not audio a <b>video</b> stream when its sample entry is a
 *     video codec's ({@code avc1} is in {@code ff_codec_movvideo_tags}): "else if (st->codecpar->codec_type !=
 *     AVMEDIA_TYPE_AUDIO && ...) { id = ff_codec_get_id(ff_codec_movvideo_tags, format); ... if (id > 0)
 *     st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;";</li>
 * <li>{@code mov_fix_timescale}: a stream whose {@code mdhd} timescale is 0 is warned about ("stream %d, timescale
 *     not set") and timed at the movie's ({@code mvhd}) timescale, not dropped. The warning is common in real
 *     files (Plex's scanner logs "[FFMPEG] - stream 0, timescale not set" on library movies; DJI drone MP4s print
 *     it when frames are extracted).</li>
 * </ul>
 * So the same H.264 pictures, one box changed, play as a one-minute video to FFmpeg (and to a provider decoding
 * with it; Gemini bills video at 263 tokens a second, ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens")
 * while the filter holds them as sound at 32 a second or as nothing. The file is a hostile client's (a real encoder
 * writes {@code vide} and a timescale); the claim is about what the provider bills for those bytes. The request is
 * round 293's: an application endpoint taking a browser recording as a data: URL and answering the model's text
 * without usage, so the documented rule (docs/decisions.md, "Video is priced as Gemini reads it": "a video by its
 * video tracks' length at Gemini's 263 tokens a second ... in an application's own field") sets the charge.
 */
abstract class AbstractRound312 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long VIDEO_RATE = GeminiVideoModel.VIDEO_RATE;
    static final long OUTPUT = 300;
    static final String DESCRIBE = "/ai/app/video/describe";
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";
    static final String ANSWER = "The recording opens the settings page, turns on two-factor sign-in and saves.";
    /** What each video plays to FFmpeg, in seconds, by its base64. */
    static final Map<String, Long> PLAYS = new ConcurrentHashMap<>();

    final Map<String, Long> reported = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("describe", new Describe(), "/ai/app/*");
    }

    /**
     * An application's endpoint taking {@code {"video": <data: URL>, "question": …}} (a browser's
     * {@code FileReader.readAsDataURL} of a recording), that has Gemini describe it and returns the text alone, no
     * usage (Spring AI's {@code ChatClient ... .call().content()}): the model billed 263 a second of video, the
     * question and the output.
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String url = body.get("video").asText();
            long seconds = PLAYS.get(url.substring(url.indexOf(',') + 1));
            calls.count(req.getHeader("x-user-id"));
            reported.put(req.getHeader("x-user-id"), VIDEO_RATE * seconds + GeminiVideoModel.textTokens(QUESTION) + OUTPUT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    static String describe(byte[] video, long seconds) {
        PLAYS.put(b64(video), seconds);
        return "{\"video\":\"data:video/mp4;base64," + b64(video) + "\",\"question\":\"" + QUESTION + "\"}";
    }

    /** A one-minute 640x360 H.264 screen recording at one frame a second, FFmpeg's faststart layout (round 293's). */
    static byte[] minute() {
        return H264Files.faststart(60, 1, 3_000);
    }

    /** Where the first box of {@code type} starts its type field in {@code b}. */
    static int at(byte[] b, String type) {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        outer:
        for (int i = 4; i + 4 <= b.length; i++) {
            for (int j = 0; j < 4; j++) {
                if (b[i + j] != t[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new IllegalStateException(type);
    }

    static void put(byte[] b, int at, String s) {
        System.arraycopy(s.getBytes(StandardCharsets.US_ASCII), 0, b, at, 4);
    }

    static void putU32(byte[] b, int at, long v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    void assertChargedItsVideo(String what, byte[] video) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(video, 60));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * 60, kind() + ": a 60 s H.264 video (" + what + ") that FFmpeg plays as video and"
                + " Gemini billed " + reported.get(s) + " for, answered without usage, charged " + used + ": " + ledger(s));
    }

    /**
     * The track's handler is {@code auxv} (ISO/IEC 14496-12 auxiliary video, MP4RA's handler list) instead of
     * {@code vide}, all else FFmpeg's faststart file. FFmpeg: {@code mov_read_hdlr} leaves the type DATA,
     * {@code mov_codec_id} makes the {@code avc1} stream VIDEO, 60 s. The filter: not video, held as 60 s of
     * <i>sound</i> at 32 a second.
     */
    @Test
    void aVideoTrackWithAnAuxiliaryHandlerIsChargedItsVideo() {
        byte[] v = minute();
        put(v, at(v, "vide"), "auxv");
        assertChargedItsVideo("handler auxv", v);
    }

    /**
     * The track has no {@code hdlr}: the box is a {@code free} box of the same size (ISO/IEC 14496-12 8.1.2: a free
     * box may appear anywhere and is ignored). FFmpeg: DATA, then VIDEO by its {@code avc1} entry, 60 s. The filter
     * skips a track without a handler: the video is held at nothing.
     */
    @Test
    void aVideoTrackWithoutAHandlerIsChargedItsVideo() {
        byte[] v = minute();
        put(v, at(v, "hdlr"), "free");
        assertChargedItsVideo("no hdlr", v);
    }

    /**
     * The track's {@code mdhd} timescale is 0 and the movie's ({@code mvhd}) is the track's 15,360 (its duration
     * restated in it). FFmpeg's {@code mov_fix_timescale} times the stream at the movie's timescale: 60 frames of
     * 15,360 units, 60 s. The filter: "0 when not timed", the video held at nothing.
     */
    @Test
    void aVideoTrackWhoseMediaTimescaleIsZeroIsChargedItsVideo() {
        byte[] v = minute();
        int mvhd = at(v, "mvhd");
        putU32(v, mvhd + 16, 15_360);
        putU32(v, mvhd + 20, 60L * 15_360);
        putU32(v, at(v, "mdhd") + 16, 0);
        assertChargedItsVideo("mdhd timescale 0", v);
    }

    /** Control: the unchanged file is charged its 60 s of video (the harness measures the rule). */
    @Test
    void controlTheUnchangedVideoIsChargedItsVideo() {
        assertChargedItsVideo("unchanged", minute());
    }
}
