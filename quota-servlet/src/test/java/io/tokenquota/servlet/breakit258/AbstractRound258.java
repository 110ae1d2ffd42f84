package io.tokenquota.servlet.breakit258;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BilledTokens;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 258 of issue 11: the request estimate of a chat call whose answer carries no usage (an OpenAI
 * chat stream the client asked without {@code stream_options.include_usage}, relayed as the provider
 * streams it). Such a call is charged the estimate (input plus the default output budget, or the text
 * streamed). The model reads more than the strings of the body: each message of the conversation is
 * framed by the chat template, {@code <|start|>role\n … <|end|>\n}, which OpenAI bills as 3 tokens a
 * message plus the role (and 1 plus the name's tokens for a {@code name}), plus 3 priming the reply
 * (OpenAI cookbook, "How to count tokens with tiktoken", {@code num_tokens_from_messages}; the same holds
 * for gpt-4o's o200k_base). A hostile client that sends its prompt as thousands of tiny messages, or puts
 * text into the {@code name} of each, makes the model read far more than the estimate counts.
 *
 * <p>The mock provider bills what the model read by that rule; its strings are chosen so their o200k_base
 * counts are known exactly: {@code "ok"} and each role are one token, a run of digits one token per
 * group of up to three digits.
 */
abstract class AbstractRound258 extends H2FilterRound {
    /** Why two of this round's tests are disabled: the open part of issue 11 they show. */
    static final String OPEN_LETTERS_IN_NO_LANGUAGE = "issue 11, open: Latin letters in no language (DNA, random"
            + " strings) and languages the default estimator was not tuned on (Finnish) are estimated at a third to a"
            + " half of o200k_base (docs/decisions.md, \"Text the default estimator counts low (open)\")";

    final BilledTokens billed = new BilledTokens();

    static String subject() {
        return "u258-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/v1/chat/completions");
    }

    /** A FASTA contig of 12,000 bases, as a lab's assistant sends it to be analysed. */
    static String fasta() {
        java.util.Random r = new java.util.Random(258);
        StringBuilder b = new StringBuilder("Find the open reading frames in this sequence:\n>contig_17 assembled from run 4\n");
        for (int line = 0; line < 200; line++) {
            for (int i = 0; i < 60; i++) {
                b.append("ACGT".charAt(r.nextInt(4)));
            }
            b.append('\n');
        }
        return b.toString();
    }

    static final String FINNISH = "Tiivistä seuraava teksti:\n" + ("Hallituksen esityksessä ehdotetaan muutettavaksi työttömyysturvalakia siten, että ansiosidonnaisen työttömyyspäivärahan enimmäiskestoa lyhennettäisiin. "
            + "Kunnallisvaaleissa äänestysaktiivisuus jäi edellisiä vaaleja alhaisemmaksi erityisesti nuorten ikäluokissa. "
            + "Metsäteollisuuden kannattavuus heikkeni vuoden loppupuoliskolla, kun sellun maailmanmarkkinahinnat kääntyivät laskuun. "
            + "Opetusministeriö valmistelee uudistusta, jonka tavoitteena on vahvistaa perusopetuksen oppimistuloksia ja vähentää alueellisia eroja. "
            + "Terveydenhuollon henkilöstöpula vaikeuttaa erikoissairaanhoidon jonojen purkamista useimmissa hyvinvointialueissa. ").repeat(12);

    /** o200k_base counts of these texts, measured with jtokkit 1.1.0 ({@code countTokensOrdinary}). */
    static final Map<String, Long> KNOWN = Map.of(fasta(), 6_457L, FINNISH, 2_314L);

    /** o200k_base tokens of the strings these tests send (and nothing else). */
    static long tokens(String s) {
        if (s.isEmpty()) {
            return 0;
        }
        if (s.equals("ok") || s.equals("user") || s.equals("assistant")) {
            return 1;
        }
        Long known = KNOWN.get(s);
        if (known != null) {
            return known;
        }
        if (s.chars().allMatch(Character::isDigit)) {
            return (s.length() + 2) / 3;
        }
        throw new AssertionError("no known count for " + s);
    }

    /** What the model reads of a chat body, as OpenAI bills it (num_tokens_from_messages, gpt-4o). */
    @SuppressWarnings("unchecked")
    static long promptTokens(Map<String, Object> body) {
        long n = 3; // <|start|>assistant<|message|> priming the reply
        for (Object m : (List<Object>) body.get("messages")) {
            Map<String, Object> message = (Map<String, Object>) m;
            n += 3;
            for (Map.Entry<String, Object> e : message.entrySet()) {
                n += tokens((String) e.getValue());
                if (e.getKey().equals("name")) {
                    n += 1;
                }
            }
        }
        return n;
    }

    static final int WORDS = 20;

    /** An OpenAI-compatible provider: streams the answer, with usage only when the client asked for it. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            Map<String, Object> body = JsonTree.object(new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            long prompt = promptTokens(body);
            billed.add(req.getHeader("x-user-id"), prompt + WORDS);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String id = "chatcmpl-258";
            for (int i = 0; i < WORDS; i++) {
                out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
            }
            out.write(("data: " + ChatCompletions.chunkHead(id)
                    + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n").getBytes(StandardCharsets.UTF_8));
            Object options = body.get("stream_options");
            if (options instanceof Map<?, ?> o && Boolean.TRUE.equals(o.get("include_usage"))) {
                out.write(ChatCompletions.usageEvent(id, prompt, WORDS).getBytes(StandardCharsets.UTF_8));
            }
            out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    static String messages(int count, String message) {
        StringBuilder b = new StringBuilder("{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[");
        for (int i = 0; i < count; i++) {
            b.append(i == 0 ? "" : ",").append(message);
        }
        return b.append("]}").toString();
    }

    void attack(String body) throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        long model = billed.of(s);
        long used = settled(s).used();
        assertTrue(used >= model, "the model read and wrote " + model + " tokens, charged " + used + ": " + ledger(s));
    }

    /** A prompt sent as 3,000 one-word messages ("ok"): the model reads 5 tokens a message, 15,003 in all. */
    @Test
    void aPromptSplitIntoThousandsOfOneWordMessagesIsChargedWhatTheModelRead() throws InterruptedException {
        attack(messages(3_000, "{\"role\":\"user\",\"content\":\"ok\"}"));
    }

    /** 4,000 empty messages: the model reads their template, 4 tokens each, 16,003 in all. */
    @Test
    void thousandsOfEmptyMessagesAreChargedWhatTheModelRead() throws InterruptedException {
        attack(messages(4_000, "{\"role\":\"user\",\"content\":\"\"}"));
    }

    /** 600 messages each named with 63 digits (a valid OpenAI name): 27 tokens a message, 16,203 in all. */
    @Test
    void textInEachMessagesNameIsChargedWhatTheModelRead() throws InterruptedException {
        attack(messages(600, "{\"role\":\"user\",\"name\":\"" + "123456789".repeat(7) + "\",\"content\":\"ok\"}"));
    }

    /** A lab assistant's request: a 12,000-base FASTA contig (6,457 tokens) with a 100-token budget. */
    @Test
    @Disabled(OPEN_LETTERS_IN_NO_LANGUAGE)
    void aDnaSequenceIsChargedWhatTheModelRead() throws InterruptedException {
        attack("{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
                + JsonTree.quoted(fasta()) + "}]}");
    }

    /** A Finnish user's summary request (2,314 tokens of Finnish prose) with a 100-token budget. */
    @Test
    @Disabled(OPEN_LETTERS_IN_NO_LANGUAGE)
    void finnishProseIsChargedWhatTheModelRead() throws InterruptedException {
        attack("{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
                + JsonTree.quoted(FINNISH) + "}]}");
    }

    /** Control: the same one-word messages with include_usage are charged the usage. */
    @Test
    void control_withUsageTheChargeIsTheUsage() throws InterruptedException {
        String body = messages(3_000, "{\"role\":\"user\",\"content\":\"ok\"}").replace("\"stream\":true",
                "\"stream\":true,\"stream_options\":{\"include_usage\":true}");
        attack(body);
    }
}
