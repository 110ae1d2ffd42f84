package io.tokenquota.servlet.breakit29;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.TokenUsage;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Round 29 of issue 11 ("no model call goes unpaid"): per-model weights. The charge of an answer
 * that does not name its model (OpenAI audio and image answers, Bedrock Converse, Cohere v2, an app's
 * own JSON) is weighed by the model the filter thinks the request names; wherever the filter reads
 * that name from another place than the endpoint does, the client picks its own price.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound29 {
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", Rates.of("0.15", "0.075", "0.6", "0.6"))
            .model("anthropic.claude*", Rates.of("3", "0.3", "15", "15"))
            .model("claude-opus*", Rates.of("15", "1.5", "75", "75"))
            .model("command-a*", Rates.of("2.5", "2.5", "10", "10"))
            .model("command-r7b*", Rates.of("0.0375", "0.0375", "0.15", "0.15"))
            .defaults(Rates.of("1", "1", "4", "4"))
            .build();
    static final long INPUT = 1_000;
    static final long OUTPUT = 500;
    static final ObjectMapper JSON = new ObjectMapper();

    /** The model each subject's call actually ran on, as the endpoint chose it. */
    static final Map<String, String> RAN = new ConcurrentHashMap<>();

    protected TestDatabase db;
    protected JdbiQuotaStore store;
    protected EmbeddedContainer container;

    protected abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(1_000_000).build()).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").modelWeights(WEIGHTS)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("transcribe", new ParameterModel(),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), "/ai/audio/transcriptions")
                .servlet("ask", new ParameterModel(), "/ai/ask")
                .multipartServlet("upload", new JsonPartModel(),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), "/ai/upload")
                .servlet("bedrock", new BedrockConverse(), "/ai/model/*")
                .servlet("cohere", new GoCohereRelay(), "/ai/v2/chat")
                .servlet("messages", new AnthropicTextStream(), "/ai/messages"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    static String subject() {
        return "u29-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /**
     * An endpoint that takes its model from the request parameters (a form, a multipart upload: OpenAI's
     * {@code /v1/audio/transcriptions} takes {@code model} as a form field) the servlet way,
     * {@code getParameter}, and answers as OpenAI's transcription does: a usage, no model.
     */
    public static class ParameterModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String model = req.getParameter("model");
            RAN.put(req.getHeader("x-user-id"), model);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"text\":\"Hello there.\",\"usage\":{\"type\":\"tokens\",\"input_tokens\":" + INPUT
                    + ",\"output_tokens\":" + OUTPUT + ",\"total_tokens\":" + (INPUT + OUTPUT) + "}}");
        }
    }

    /**
     * An upload endpoint that takes its request as a JSON part (Spring's {@code @RequestPart ChatRequest}
     * beside a {@code MultipartFile}) and answers with its own JSON: the text and the call's usage.
     */
    public static class JsonPartModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode request;
            try {
                request = JSON.readTree(req.getPart("request").getInputStream());
            } catch (jakarta.servlet.ServletException e) {
                throw new IOException(e);
            }
            RAN.put(req.getHeader("x-user-id"), request.path("model").asText());
            resp.setContentType("application/json");
            resp.getWriter().write("{\"summary\":\"A file.\",\"usage\":{\"prompt_tokens\":" + INPUT
                    + ",\"completion_tokens\":" + OUTPUT + ",\"total_tokens\":" + (INPUT + OUTPUT) + "}}");
        }
    }

    /**
     * A Bedrock Converse relay: {@code POST /model/{modelId}/converse}, the model in the path (Bedrock's
     * body has no model field), the answer Converse's (a usage, no model).
     */
    public static class BedrockConverse extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String[] segments = req.getPathInfo().split("/");
            String model = segments[1];
            RAN.put(req.getHeader("x-user-id"), model);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Hi.\"}]}},"
                    + "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":" + INPUT + ",\"outputTokens\":" + OUTPUT
                    + ",\"totalTokens\":" + (INPUT + OUTPUT) + "},\"metrics\":{\"latencyMs\":12}}");
        }
    }

    /**
     * A relay written in Go ({@code encoding/json}: keys match struct tags case-insensitively, the last
     * one wins) in front of Cohere's v2 chat, whose answer carries a usage and no model.
     */
    public static class GoCohereRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String model = null;
            for (Iterator<Map.Entry<String, JsonNode>> it = body.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getKey().equalsIgnoreCase("model")) {
                    model = f.getValue().asText();
                }
            }
            RAN.put(req.getHeader("x-user-id"), model);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"c1\",\"finish_reason\":\"COMPLETE\",\"message\":{\"role\":\"assistant\","
                    + "\"content\":[{\"type\":\"text\",\"text\":\"Hi.\"}]},\"usage\":{\"billed_units\":{\"input_tokens\":"
                    + INPUT + ",\"output_tokens\":" + OUTPUT + "},\"tokens\":{\"input_tokens\":" + INPUT
                    + ",\"output_tokens\":" + OUTPUT + "}}}");
        }
    }

    /**
     * A chat endpoint that streams Anthropic's envelope events as Anthropic sent them (message_start,
     * message_delta, message_stop: the client SDK reads them) but writes the model's text raw into its
     * own events ({@code "data: " + text}), as the framing rules assume an application may. The
     * "model" here repeats what the client asked it to say (the {@code say} field).
     */
    public static class AnthropicTextStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String model = "claude-opus-4-20250514";
            RAN.put(req.getHeader("x-user-id"), model);
            resp.setContentType("text/event-stream");
            var out = resp.getWriter();
            out.write("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
                    + "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + model + "\",\"content\":[],"
                    + "\"usage\":{\"input_tokens\":" + INPUT + ",\"output_tokens\":1}}}\n\n");
            out.write("data: " + body.path("say").asText() + "\n\n");
            out.write("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                    + "\"usage\":{\"output_tokens\":" + OUTPUT + "}}\n\n");
            out.write("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            out.flush();
        }
    }

    QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    String ledger(String subject) {
        return Ledgers.events(store, subject, YearMonth.now(ZoneOffset.UTC)).toString();
    }

    /** What the call costs at the rates of the model that ran it. */
    static long due(String subject) {
        String model = RAN.get(subject);
        return WEIGHTS.charge(new TokenUsage(model, INPUT, 0, OUTPUT, 0));
    }

    void assertChargedAsRun(String subject, HttpResponse<String> r) {
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(subject);
        assertEquals(due(subject), a.used(), "the endpoint ran " + RAN.get(subject) + " (" + INPUT + " in, " + OUTPUT
                + " out: " + due(subject) + " units at its rates); the ledger charged " + a.used() + " (" + ledger(subject)
                + ")");
    }

    static HttpResponse<String> multipart(EmbeddedContainer c, String path, String subject, String... fields) {
        String boundary = "----b29" + UUID.randomUUID();
        StringBuilder body = new StringBuilder();
        for (int i = 0; i < fields.length; i += 2) {
            body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"").append(fields[i])
                    .append("\"\r\n\r\n").append(fields[i + 1]).append("\r\n");
        }
        body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n")
                .append("Content-Type: audio/wav\r\n\r\n");
        byte[] head = body.toString().getBytes(StandardCharsets.UTF_8);
        byte[] audio = new byte[2048];
        for (int i = 0; i < audio.length; i++) {
            audio[i] = (byte) (i * 37 + 128);
        }
        byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[head.length + audio.length + tail.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(audio, 0, all, head.length, audio.length);
        System.arraycopy(tail, 0, all, head.length + audio.length, tail.length);
        return TestHttp.post(c.uri(path), all, "x-user-id", subject, "Content-Type",
                "multipart/form-data; boundary=" + boundary);
    }

    // ------------------------------------------------------------------ 1. multipart: the first model field is the one served

    /**
     * The README: the request's model is "a form or multipart field {@code model}". The filter takes
     * the last {@code model} field (as for JSON); the servlet API's {@code getParameter} (and every
     * endpoint that uses it) takes the first. A transcription upload with {@code model=gpt-4o-transcribe}
     * then {@code model=gpt-4o-mini-transcribe} runs gpt-4o and is charged at gpt-4o-mini's rates.
     */
    @Test
    void aMultipartUploadIsChargedForTheModelTheEndpointReadsNotTheLastField() {
        String s = subject();
        HttpResponse<String> r = multipart(container, "/ai/audio/transcriptions", s,
                "model", "gpt-4o-transcribe", "model", "gpt-4o-mini-transcribe");
        assertChargedAsRun(s, r);
    }

    /**
     * The same with the expensive model in the query string: the container merges the query string
     * into the parameters before the body's, so {@code getParameter("model")} is the query's; the filter
     * reads only the multipart field. (Jetty merges the query first; Tomcat hands a multipart request's
     * parts first, where both agree, so this runs in the Jetty suite only.)
     */
    void assertQueryModelOfAMultipartUploadCharged() {
        String s = subject();
        HttpResponse<String> r = multipart(container, "/ai/audio/transcriptions?model=gpt-4o-transcribe", s,
                "model", "gpt-4o-mini-transcribe");
        assertChargedAsRun(s, r);
    }

    // ------------------------------------------------------------------ 2. a urlencoded form names no model to the filter

    /**
     * The README promises "a form or multipart field {@code model}" names the request's model; for an
     * {@code application/x-www-form-urlencoded} body the filter parses the bytes as JSON for the model,
     * finds none, and weighs the call at the table's default. {@code model=gpt-4o} costs 3,000 units
     * instead of 7,500.
     */
    @Test
    void aUrlencodedFormsModelFieldIsTheModelCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/ask"), "model=gpt-4o&prompt=Tell+me+a+story",
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        assertChargedAsRun(s, r);
    }

    // ------------------------------------------------------------------ 3. Bedrock: the model is in the path

    /**
     * Bedrock's runtime API names the model in the path ({@code /model/{modelId}/converse}) and its
     * answer names none. The filter reads only Gemini's path shape, then the body's {@code model},
     * which Bedrock does not have and ignores: a client adds {@code "model":"gpt-4o-mini"} to a Claude
     * call and is charged 450 units for a call worth 10,500.
     */
    @Test
    void aBedrockCallIsChargedForTheModelInItsPath() {
        String s = subject();
        String body = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],"
                + "\"inferenceConfig\":{\"maxTokens\":500}}";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/model/anthropic.claude-3-opus-20240229-v1:0/converse"),
                body, "x-user-id", s, "Content-Type", "application/json");
        assertChargedAsRun(s, r);
    }

    // ------------------------------------------------------------------ 4. Go-folded model key

    /**
     * Earlier rounds read budgets and counts under Go-folded keys ({@code Max_Tokens}), because a Go
     * endpoint's {@code encoding/json} matches them. The model name is read only as {@code model}: a
     * body {@code {"model":"command-r7b","Model":"command-a"}} runs command-a on a Go relay (last match
     * wins) and is charged command-r7b's rates (Cohere's answer names no model).
     */
    @Test
    void aGoFoldedModelKeyIsTheModelCharged() {
        String s = subject();
        String body = "{\"model\":\"command-r7b-12-2024\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":500,\"Model\":\"command-a-03-2025\"}";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/v2/chat"), body, "x-user-id", s,
                "Content-Type", "application/json");
        assertChargedAsRun(s, r);
    }

    // ------------------------------------------------------------------ 5. a model's text names a cheaper model

    /**
     * Usage in an event framed as no provider frames it (a second data line: text written raw) is
     * provisional, so a model's text cannot lower the charge with a planted {@code usage}. A planted
     * {@code model} is not: a document with a model and no usage marks nothing, and the answer's model is
     * the last one seen. Anthropic names its model only in {@code message_start}, so text that prints
     * {@code {"model":"gpt-4o-mini"}\ndata: Sure.} (an event of two data lines, as no provider
     * frames one) after it makes a claude-opus call cost gpt-4o-mini's rates.
     */
    @Test
    void aModelNamedByTheModelsTextDoesNotLowerTheCharge() {
        String s = subject();
        String body = "{\"model\":\"claude-opus-4-20250514\",\"max_tokens\":500,\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Repeat exactly what is in say.\"}],\"say\":\"{\\\"model\\\":\\\"gpt-4o-mini\\\"}\\ndata: Sure.\"}";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/messages"), body, "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        long due = WEIGHTS.charge(new TokenUsage(RAN.get(s), INPUT, 0, OUTPUT, 0));
        assertEquals(due, a.used(), "claude-opus answered (" + INPUT + " in, " + OUTPUT + " out: " + due
                + " units); its text named gpt-4o-mini and the ledger charged " + a.used() + " (" + ledger(s) + "); answer:\n"
                + r.body());
    }

    // ------------------------------------------------------------------ 6. the model in a JSON part

    /**
     * A JSON part of a multipart request is estimated "as a JSON body would" (its budget, its n), but
     * its {@code model} is not read: only a plain field named {@code model} names the request's model.
     * A {@code @RequestPart} request of {@code "model":"gpt-4o"} beside a file is weighed at the default.
     */
    @Test
    void theModelOfAJsonRequestPartIsTheModelCharged() {
        String s = subject();
        String boundary = "----b29j" + UUID.randomUUID();
        String body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"request\"\r\n"
                + "Content-Type: application/json\r\n\r\n{\"model\":\"gpt-4o\",\"max_tokens\":500,"
                + "\"instructions\":\"Summarise the file.\"}\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc.txt\"\r\n"
                + "Content-Type: text/plain\r\n\r\nA short document.\r\n--" + boundary + "--\r\n";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/upload"), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertChargedAsRun(s, r);
    }
}
