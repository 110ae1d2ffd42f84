package io.tokenquota.servlet.breakit449;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 449 of issue 11: Mistral's audio usage relayed whole by an endpoint. Voxtral counts the audio it
 * read only in {@code total_tokens} (beside {@code prompt_audio_seconds}), above {@code prompt_tokens +
 * completion_tokens}; the charge must be the call's total.
 */
abstract class AbstractRound449 extends ShapedAnswerRound {
    /** About 635 tokens of transcript (2,500 characters). */
    static final String TRANSCRIPT = TEXT.substring(0, 2_500);

    @Override
    protected String body(String shape) {
        switch (shape) {
            case "voxtral-transcription":
                // Mistral's audio transcription answer, docs.mistral.ai "Audio & Transcription" (POST
                // /v1/audio/transcriptions, model voxtral-mini-2507) example response: model, text, language,
                // segments, usage {prompt_audio_seconds 203, prompt_tokens 4, total_tokens 3264,
                // completion_tokens 635}: the audio's tokens appear only in total_tokens.
                return "{\"model\":\"voxtral-mini-2507\",\"text\":" + q(TRANSCRIPT) + ",\"language\":\"en\","
                        + "\"segments\":[],\"usage\":{\"prompt_audio_seconds\":203,\"prompt_tokens\":4,"
                        + "\"total_tokens\":3264,\"completion_tokens\":635}}";
            case "mistral-chat":
                // Mistral chat completion (docs.mistral.ai API reference, POST /v1/chat/completions response:
                // id, object, model, created, choices[{index, message{role, content}, finish_reason}], usage
                // {prompt_tokens, completion_tokens, total_tokens}): the control, total = prompt + completion.
                return "{\"id\":\"cmpl-e5cc70bb28c444948073e77776eb30ef\",\"object\":\"chat.completion\","
                        + "\"model\":\"mistral-small-latest\",\"created\":1702256327,\"choices\":[{\"index\":0,"
                        + "\"message\":{\"role\":\"assistant\",\"content\":" + q(TRANSCRIPT) + "},"
                        + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2629,\"completion_tokens\":635,"
                        + "\"total_tokens\":3264}}";
            default:
                throw new IllegalArgumentException(shape);
        }
    }

    /**
     * Mistral's streamed transcription (stream=true), as the mistralai SDK types its events
     * (models/transcriptionstreamtextdelta.py: {"type": "transcription.text.delta", "text"};
     * models/transcriptionstreamdone.py: {"type": "transcription.done", model, text, segments, language,
     * usage: UsageInfo {prompt_tokens, completion_tokens, total_tokens, prompt_audio_seconds}}), each an SSE
     * event named by its type.
     */
    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.equals("voxtral-transcription-stream")) {
            return false;
        }
        resp.setContentType("text/event-stream");
        StringBuilder sse = new StringBuilder();
        for (int i = 0; i < TRANSCRIPT.length(); i += 250) {
            sse.append("event: transcription.text.delta\ndata: {\"type\":\"transcription.text.delta\",\"text\":")
                    .append(q(TRANSCRIPT.substring(i, Math.min(TRANSCRIPT.length(), i + 250)))).append("}\n\n");
        }
        sse.append("event: transcription.done\ndata: {\"type\":\"transcription.done\",\"model\":\"voxtral-mini-2507\",")
                .append("\"text\":").append(q(TRANSCRIPT)).append(",\"segments\":[],\"language\":\"en\",")
                .append("\"usage\":{\"prompt_audio_seconds\":203,\"prompt_tokens\":4,\"total_tokens\":3264,")
                .append("\"completion_tokens\":635}}\n\n");
        resp.getOutputStream().write(sse.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    /** The endpoint's own JSON request naming the audio by URL (Mistral's file_url field) and the model. */
    static final String TRANSCRIBE_REQUEST = "{\"model\":\"voxtral-mini-2507\",\"file_url\":"
            + "\"https://docs.mistral.ai/audio/obama.mp3\",\"language\":\"en\"}";

    /** A chat request (Mistral API reference: model, messages). */
    static final String CHAT_REQUEST = "{\"model\":\"mistral-small-latest\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Transcribe what I said.\"}]}";

    /** Voxtral's transcription is charged its total, 3,264 (the audio's tokens included). */
    @Test
    void aVoxtralTranscriptionIsChargedItsTotal() {
        String s = "r449-voxtral-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/voxtral-transcription"), s, TRANSCRIBE_REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(3_264, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Voxtral's streamed transcription is charged its total too, 3,264. */
    @Test
    void aStreamedVoxtralTranscriptionIsChargedItsTotal() {
        String s = "r449-voxtral-sse-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/voxtral-transcription-stream"), s,
                TRANSCRIBE_REQUEST.replace("}", ",\"stream\":true}"));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(3_264, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: a Mistral chat completion whose total is its parts' sum is charged 3,264. */
    @Test
    void aMistralChatIsChargedItsTotal() {
        String s = "r449-chat-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/mistral-chat"), s, CHAT_REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(3_264, settled(s).used(), kind() + ": " + ledger(s));
    }
}
