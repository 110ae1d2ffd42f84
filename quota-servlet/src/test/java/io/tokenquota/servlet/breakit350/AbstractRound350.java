package io.tokenquota.servlet.breakit350;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.SupportChatRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 350 of issue 11 ("no model call goes unpaid"): the floor of a stopped stream (rounds 328, 331, 339) meets
 * the model's spellings (round 341).
 *
 * <p>The rules. docs/servlet.md, "The estimate", and docs/decisions.md, "Input an application adds, before any call
 * shows it": a call whose stream is stopped before its usage pays at least its input plus the text it carried, and
 * its input counts what the application adds to its client's request (its system prompt) as the subject's complete
 * calls "to the same route and model" showed it, or the median of the last 15 subjects' figures there. The model is
 * "the model that answered (the first the answer names)" (Settlement.endpoint). README "Per-model weights" and
 * round 341 (Weighing.spellings): a server that resolves a model's name runs {@code llama3.3:70b},
 * {@code library/llama3.3:70b}, {@code registry.ollama.ai/library/llama3.3:70b} and {@code LLAMA3.3:70B} as the one
 * model, and Ollama answers with the name as the request wrote it.
 *
 * <p>The application: a support chat in front of Ollama, as round 339's is in front of OpenAI, that lets its client
 * choose among the models the server has pulled (it passes {@code model} through, as Open WebUI-style front ends do):
 * its client posts {@code {"model": …, "question": …}}; the handler adds its 4,000-token system message, calls
 * Ollama's OpenAI-compatible {@code POST /v1/chat/completions} with {@code stream: true} and
 * {@code stream_options.include_usage}, and relays each chunk as it comes, stopping (cancelling its Ollama call) at
 * the first write that fails.
 *
 * <p>Shapes: ollama/ollama {@code openai/openai.go}: {@code ChatCompletionChunk} ({@code id}, {@code object}
 * "chat.completion.chunk", {@code created}, {@code model} = {@code r.Model}, {@code system_fingerprint}
 * "fp_ollama", {@code choices[].delta} {role, content}, {@code finish_reason}), and with
 * {@code StreamOptions.IncludeUsage} a last chunk with empty {@code choices} and {@code usage}
 * ({@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}: {@code ToUsage}), then
 * {@code data: [DONE]}; {@code r.Model} is the request's {@code model} as written ({@code server/routes.go},
 * {@code ChatHandler}: {@code api.ChatResponse{Model: req.Model, …}}); the name resolves by {@code model.ParseName}
 * ({@code types/model/name.go}: missing host {@code registry.ollama.ai}, namespace {@code library}) and
 * {@code getExistingName} (each part compared with {@code strings.EqualFold}).
 *
 * <p>The attack: the complete calls of the route (the subject's own, other subjects') were all made naming the model
 * {@code llama3.3:70b}; the stopped call names the same model {@code library/llama3.3:70b} (or {@code LLAMA3.3:70B}).
 * Ollama runs the same model on the same 4,020-token prompt and echoes the spelling, the endpoint key
 * (route + answering model) is a new one, nothing was "learnt" for it, and the stopped call pays only the 20-token
 * question and the text: about 1,020 for the 5,020 Ollama counted before the stop.
 */
abstract class AbstractRound350 extends SupportChatRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String CHAT = "/ai/support/chat";
    /** The application's system message, in tokens; what Ollama counts as the prompt: it and the question. */
    static final long SYSTEM = 4_000;
    static final long PROMPT = SYSTEM + 20;
    /** The question, as the client's body carries it (the client reads {@link #READ} tokens before it stops). */
    static final String QUESTION = "How do I reset the router to its factory settings?";

    AbstractRound350() {
        super("350", PROMPT, false);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("support", new OllamaSupportChat(), "/ai/support/*");
    }

    /** The support chat's relay of Ollama's OpenAI-compatible stream (see the class comment). */
    class OllamaSupportChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String model = body.path("model").asText("llama3.3:70b");
            String s = req.getHeader("x-user-id");
            calls.count(s);
            String head = "{\"id\":\"chatcmpl-350\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,\"model\":"
                    + JSON.writeValueAsString(model) + ",\"system_fingerprint\":\"fp_ollama\",";
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < DELTAS; i++) {
                EventStreams.write(out, delta(head, i == 0));
            }
            // the last events as Ollama writes them; the relay stops, cancelling its Ollama call, at a failed write
            relayTheRest(s, out, n -> delta(head, false), completion -> "data: " + head + "\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"stop\"}]}\n\n"
                    + "data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT
                    + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (PROMPT + completion) + "}}\n\n"
                    + "data: [DONE]\n\n");
        }

        private String delta(String head, boolean first) {
            return "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\""
                    + (first ? TEN_WORDS.substring(1) + " " : TEN_WORDS) + "\"},\"finish_reason\":null}]}\n\n";
        }
    }

    static String ask(String model) {
        return "{\"model\":\"" + model + "\",\"question\":\"" + QUESTION + "\"}";
    }

    /** The question naming {@code model}, read to {@code [DONE]}: what {@code s} was charged for it. */
    long readToItsEnd(String s, String model) {
        return readToItsEnd(s, CHAT, ask(model));
    }

    /** The question naming {@code model}, its answer stopped after {@link #READ} tokens: what {@code s} was charged for it. */
    long stopped(String s, String model) throws IOException {
        return stopped(s, CHAT, ask(model));
    }

    void assertStoppedCallPaysItsPrompt(String s, int modelCalls, long cut, String what) {
        assertAll(() -> assertEquals(modelCalls, calls.of(s), "model calls"),
                () -> assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up"),
                () -> assertTrue(cut >= PROMPT + READ, kind() + ": " + what + ": Ollama read the application's " + PROMPT
                        + "-token prompt and the client read " + READ + " tokens of its answer before it stopped (at least "
                        + (PROMPT + READ) + "); it was charged " + cut + ": " + ledger(s)));
    }

    /** {@code s}'s call naming {@code llama3.3:70b}, read to its end: charged Ollama's usage. */
    private void completeCall(String s) {
        assertEquals(PROMPT + READ, readToItsEnd(s, "llama3.3:70b"), "a call read to its end: " + ledger(s));
    }

    /** Three other subjects' calls on the route naming {@code llama3.3:70b}, each read to its end (the route's median). */
    private void threeOthersCompleteCalls() {
        for (int i = 0; i < 3; i++) {
            completeCall(subject());
        }
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: the subject's own complete call named {@code llama3.3:70b} and taught the 4,000 tokens the application
     * adds; its next call names the same model as {@code library/llama3.3:70b} (Ollama's namespaced name, round 341)
     * and is stopped before the usage chunk: charged the question and the text, the system prompt skipped.
     */
    @Test
    void aStoppedCallNamingTheModelByItsNamespacedNameSkipsThePromptItsOwnCompleteCallShowed() throws IOException {
        String s = subject();
        completeCall(s);
        long cut = stopped(s, "library/llama3.3:70b");
        assertStoppedCallPaysItsPrompt(s, 2, cut, "stopped, naming library/llama3.3:70b after a complete llama3.3:70b call");
    }

    /**
     * Finding: three other subjects' complete calls on the route showed the 4,000 tokens (the route's median); a new
     * subject's first call names the model {@code LLAMA3.3:70B} (Ollama compares each part of a name with
     * {@code strings.EqualFold}) and is stopped: charged as if no call on the route had ever been read to its end.
     */
    @Test
    void aNewSubjectsStoppedCallNamingTheModelInCapitalsSkipsThePromptTheRoutesCallsShowed() throws IOException {
        threeOthersCompleteCalls();
        String s = subject();
        long cut = stopped(s, "LLAMA3.3:70B");
        assertStoppedCallPaysItsPrompt(s, 1, cut, "a new subject's first call, stopped, naming LLAMA3.3:70B");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same subject's stopped call naming the model as its complete call did pays the prompt. */
    @Test
    void controlAStoppedCallNamingTheModelAsTheCompleteCallDidPaysThePrompt() throws IOException {
        String s = subject();
        completeCall(s);
        long cut = stopped(s, "llama3.3:70b");
        assertStoppedCallPaysItsPrompt(s, 2, cut, "stopped, naming llama3.3:70b after a complete llama3.3:70b call");
    }

    /** Control: a new subject's stopped call naming the model as the route's complete calls did pays the prompt. */
    @Test
    void controlANewSubjectsStoppedCallNamingTheModelAsTheRoutesCallsDidPaysThePrompt() throws IOException {
        threeOthersCompleteCalls();
        String s = subject();
        long cut = stopped(s, "llama3.3:70b");
        assertStoppedCallPaysItsPrompt(s, 1, cut, "a new subject's first call, stopped, naming llama3.3:70b");
    }

    /** Control: calls read to their end are charged Ollama's usage, whatever spelling of the model they name. */
    @Test
    void controlCallsReadToTheirEndAreChargedTheirUsageWhateverTheSpelling() {
        String s = subject();
        assertEquals(PROMPT + READ, readToItsEnd(s, "llama3.3:70b"), ledger(s));
        assertEquals(PROMPT + READ, readToItsEnd(s, "library/llama3.3:70b"), ledger(s));
        assertEquals(PROMPT + READ, readToItsEnd(s, "LLAMA3.3:70B"), ledger(s));
        assertEquals(3 * (PROMPT + READ), settled(s).used(), ledger(s));
    }
}
