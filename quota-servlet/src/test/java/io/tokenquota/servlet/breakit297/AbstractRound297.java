package io.tokenquota.servlet.breakit297;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HeldChatModel;
import io.tokenquota.servlet.testing.H264Files;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 297 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the rules
 * the last ten commits added, tried from both sides.
 *
 * <p><b>1. A plan downgrade while a call is held (round 295's floor, {@code LedgerRules.planAllocation}).</b> The
 * allocation a plan change gives is {@code max(plan, min(allocated, used + reserved))}: the tokens a running call
 * holds (its whole estimate, the output budget included) are made allowance of the month, and they stay allowance
 * when the call ends using a fraction of them. A user who downgrades while a long call runs keeps the old plan's
 * tokens for the month, and spends them on model calls the new plan never paid for.
 *
 * <p><b>2. A fragmented MP4 whose {@code moov} describes samples (round 293's {@code Mp4Fragments}).</b> A file with
 * an {@code mvex} box is timed only by its {@code moof} fragments; the samples its {@code moov}'s own tables list
 * are not counted. FFmpeg writes exactly that with {@code -movflags frag_keyframe} and no {@code empty_moov}
 * (doc/muxers.texi, mov muxer, {@code empty_moov}: "Generally, an mdat/moov pair is written at the start of the file,
 * as a normal MOV/MP4 file, containing only a short portion of the file. With this option set, there is no initial
 * mdat atom"): the first fragment (up to the second keyframe) is an ordinary {@code moov}+{@code mdat} pair, with the
 * {@code mvex} that announces the fragments after it; a clip of one GOP (x264's default {@code keyint} is 250
 * frames) has no {@code moof} at all.
 */
abstract class AbstractRound297 extends QuotaApiRound {

    static final ObjectMapper JSON = new ObjectMapper();
    static final String DESCRIBE = "/ai/app/video/describe";

    static String subject() {
        return "u297-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("chat", model, "/ai/openai/*")
                .servlet("describe", new Describe(), "/ai/app/*")
                .servlet("quota-api", apiServlet(), API + "/*");
    }

    // ------------------------------------------------------------------ a call held while the plan changes

    /** The model, whose calls a test can hold open. */
    final HeldChatModel model = new HeldChatModel(completion());
    static final long PROMPT = 420;
    static final long COMPLETION = 80;

    /**
     * OpenAI's chat completions: the model reads the prompt and writes its answer (420 + 80 tokens), answered as a
     * {@code chat.completion} with {@code usage} (platform.openai.com/docs/api-reference/chat/object). For a subject
     * the test holds, the call waits in the model until the test releases it (a long reasoning call).
     */
    static String completion() {
        return "{\"id\":\"chatcmpl-297\",\"object\":\"chat.completion\",\"created\":1764583200,"
                    + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                    + "\"content\":\"The plan's three risks are cost, schedule and staffing.\",\"refusal\":null},"
                    + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + PROMPT
                    + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + (PROMPT + COMPLETION)
                    + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":"
                    + "{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                    + "\"rejected_prediction_tokens\":0}},\"service_tier\":\"default\",\"system_fingerprint\":\"fp_297\"}";
    }

    static String chat(long maxTokens) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You review project plans.\"},"
                + "{\"role\":\"user\",\"content\":\"List the three main risks of the attached plan, one line each.\"}],"
                + "\"max_tokens\":" + maxTokens + "}";
    }

    /**
     * A user on the 20,000-token plan starts a long call (a chat completion with {@code max_tokens} 16,000: held at
     * its estimate, 16,027). While it runs, the billing system moves the user to a 5,000-token plan
     * ({@code PUT /users/{id}/plan}, as a {@code customer.subscription.updated} webhook handler does when the user
     * downgrades in Stripe's customer portal: docs.stripe.com/billing/subscriptions/change-price, "Changing prices"
     * applies at once and prorates, crediting the unused time of the dearer price; docs.stripe.com/customer-management
     * lets the customer switch plans). The call then ends having used 500 tokens.
     *
     * <p>Found: the 15,527 tokens the call held and did not use stayed allowance of the 5,000 plan for the rest of the
     * month. Decided (docs/decisions.md, "Plan changes"): the holds open at a change were granted under the old plan,
     * and lowering the allocation below them charged them against purchased tokens (round 299); so what they leave
     * unused stays allowance until the month ends, never more than the old plan gave. This test holds that bound.
     */
    @Test
    void aDowngradeDuringARunningCallLeavesNoMoreThanTheOldPlanGave() throws Exception {
        String s = subject();
        model.hold(s);
        CompletableFuture<HttpResponse<String>> call = TestHttp.client()
                .sendAsync(TestHttp.jsonPost(container.uri(CHAT), s, chat(16_000)), HttpResponse.BodyHandlers.ofString());
        assertTrue(model.awaitArrival(s), "the call reached the model");
        QuotaAccount during = store.account(s);
        HttpResponse<String> plan = putPlan(s, 5_000);
        model.letGo(s);
        HttpResponse<String> r = call.get(15, TimeUnit.SECONDS);
        QuotaAccount a = settled(s);
        assertAll(() -> assertTrue(during.reserved() >= 16_000, "the call was held at its estimate: " + during),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + ledger(s)),
                () -> assertTrue(a.allocated() <= during.used() + during.reserved() && a.allocated() <= 20_000,
                        kind() + ": downgraded to 5,000 while a call held " + during.reserved() + ", the call used "
                        + (PROMPT + COMPLETION) + "; allocated " + a.allocated() + ": " + a));
    }

    /**
     * Control: the same user, the same call and the same downgrade, the plan changed just after the call ended: the
     * 5,000 plan leaves 4,500.
     */
    @Test
    void controlADowngradeAfterTheCallLeavesThePlanLessWhatTheMonthSpent() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, chat(16_000));
        assertEquals(200, r.statusCode(), r.body());
        HttpResponse<String> plan = putPlan(s, 5_000);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(PROMPT + COMPLETION, a.used(), ledger(s)),
                () -> assertEquals(5_000, a.allocated(), a.toString()),
                () -> assertEquals(5_000 - (PROMPT + COMPLETION), a.available(), a.toString()));
    }

    // ------------------------------------------------------------------ fragmented MP4 with a filled moov

    /** Gemini's rate for video, tokens a second (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens"). */
    static final long VIDEO_RATE = 263;
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";
    static final String ANSWER = "The recording opens the settings page, turns on two-factor sign-in and saves.";
    /** What each file plays, in seconds, by its base64. */
    static final Map<String, Long> PLAYS = new ConcurrentHashMap<>();
    final Map<String, Long> reported = new ConcurrentHashMap<>();

    /**
     * An application's endpoint taking a browser's or a tool's recording as JSON, {@code {"video": <data: URL>,
     * "question": …}}, that sends it to Gemini and returns the text alone, no usage (Spring AI's
     * {@code .call().content()}), as round 293's: a whole answer without usage is charged its estimate, and a video
     * in an application's own field is estimated at 263 tokens a second of its video tracks (docs/decisions.md,
     * "Video is priced as Gemini reads it").
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String url = body.get("video").asText();
            long seconds = PLAYS.get(url.substring(url.indexOf(',') + 1));
            reported.put(req.getHeader("x-user-id"), VIDEO_RATE * seconds + QUESTION.length() / 4 + 300);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    static byte[] fragKeyframe(int seconds, int fps, int gop, int frameBytes) {
        return played(H264Files.fragKeyframe(seconds, fps, gop, frameBytes), seconds);
    }

    static byte[] fragmented(int seconds, int fps, int gop, int frameBytes, boolean emptyMoov) {
        return played(H264Files.fragmented(seconds, fps, gop, frameBytes, emptyMoov), seconds);
    }

    /** {@code video}, its length noted for the mock model. */
    static byte[] played(byte[] video, long seconds) {
        PLAYS.put(Base64.getEncoder().encodeToString(video), seconds);
        return video;
    }

    static String describe(byte[] video) {
        return "{\"video\":\"data:video/mp4;base64," + Base64.getEncoder().encodeToString(video) + "\",\"question\":\""
                + QUESTION + "\"}";
    }

    void assertChargedItsVideo(String s, HttpResponse<String> r, long seconds, String what) {
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * seconds, kind() + ": " + what + ", a " + seconds + " s video Gemini billed "
                + reported.get(s) + " for, answered without usage, charged " + used + " (at least "
                + VIDEO_RATE * seconds + " for its pictures): " + ledger(s));
    }

    /**
     * A one-minute screen recording at one frame a second (3,000-byte frames, round 293's), written by FFmpeg with
     * {@code -movflags frag_keyframe} and x264's default keyframe interval (250 frames: the minute is one GOP), so the
     * file is an {@code mvex}-announcing {@code moov} whose tables list all 60 frames, its {@code mdat}, and no
     * {@code moof}. {@code Mp4Fragments} reads no fragment and answers the size rule for sound and no video: charged
     * 3,905 (as round 293's fragmented recording was charged by its size), not the 15,780 its pictures cost.
     */
    @Test
    void aFragKeyframeRecordingOfOneGopIsChargedItsVideo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(fragKeyframe(60, 1, 250, 3_000)));
        assertChargedItsVideo(s, r, 60, "FFmpeg -movflags frag_keyframe, one GOP (no moof)");
    }

    /**
     * The same minute with a keyframe every 20 s ({@code -g 20}): the {@code moov} lists the first 20 frames, two
     * {@code moof} fragments the other 40. The first fragment's 20 s are not counted: held and charged as 40 s of
     * pictures (11,533 in all), not 60 (15,780 for the pictures alone).
     */
    @Test
    void aFragKeyframeRecordingIsChargedItsFirstFragmentToo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(fragKeyframe(60, 1, 20, 3_000)));
        assertChargedItsVideo(s, r, 60, "FFmpeg -movflags frag_keyframe -g 20 (first 20 s in the moov)");
    }

    /**
     * Control: the same minute written with {@code -movflags frag_keyframe+empty_moov -g 20} (the {@code moov}'s tables
     * empty, three {@code moof} fragments of 20 s): timed by its fragments, charged its 60 s of pictures.
     */
    @Test
    void controlTheSameRecordingWithAnEmptyMoovIsChargedItsVideo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(fragmented(60, 1, 20, 3_000, true)));
        assertChargedItsVideo(s, r, 60, "FFmpeg -movflags frag_keyframe+empty_moov -g 20");
    }
}
