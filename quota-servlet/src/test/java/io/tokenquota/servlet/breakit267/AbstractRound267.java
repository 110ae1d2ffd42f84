package io.tokenquota.servlet.breakit267;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CannedProvider;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 267 of issue 11: the calls around model calls that an SDK sends as a {@code POST}. A relay passes
 * Vertex AI's and OpenAI's APIs on under the protected prefix {@code /ai/}. Round 264 made a read
 * ({@code GET}) of a provider's stored resource cost nothing; but two SDKs poll or store with a
 * {@code POST} that runs no model:
 * <ul>
 *   <li>Vertex AI's Veo: the Google Gen AI SDK ({@code client.operations.get(operation)} with
 *   {@code vertexai=True}) and Google's own REST samples poll a video generation's long-running operation
 *   with {@code POST …/publishers/google/models/{model}:fetchPredictOperation} and
 *   {@code {"operationName": "…/operations/{id}"}}, answered with the operation resource
 *   ({@code {"name": "…/operations/{id}"}}, then {@code "done": true} and its {@code response});</li>
 *   <li>OpenAI's Conversations API: the OpenAI Agents SDK's {@code OpenAIConversationsSession.add_items}
 *   stores each turn's items with {@code POST /v1/conversations/{id}/items}, answered with the
 *   {@code list} of the items created.</li>
 * </ul>
 * Neither runs a model; each must cost nothing.
 */
abstract class AbstractRound267 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The provider behind the relay: the answers each test sets; its model calls counted ({@link #calls}). */
    final CannedProvider provider = new CannedProvider(calls, path -> path.endsWith(":predictLongRunning")
            || path.endsWith("/responses"));

    static String subject() {
        return "u267-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("provider", provider, "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    void answer(String subject, String method, String path, String... jsons) {
        provider.answer(subject, method, path, jsons);
    }

    /** Sends {@code method path} as {@code subject} (a JSON body or none) and answers the tokens it cost. */
    long cost(String subject, String method, String path, String body) {
        long before = settled(subject).used();
        HttpRequest.BodyPublisher p = body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body);
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri(path), subject,
                "Content-Type", "application/json").method(method, p).build());
        assertEquals(200, r.statusCode(), method + " " + path + ": " + r.body());
        return settled(subject).used() - before;
    }

    // ---------------------------------------------------------------- Vertex AI: Veo's operation polled by POST

    static final String VERTEX = "/ai/vertex/v1/projects/acme-media/locations/us-central1/publishers/google/models/";
    static final String VEO = "veo-3.0-generate-001";
    static final String OPERATION = "projects/acme-media/locations/us-central1/publishers/google/models/" + VEO
            + "/operations/dfe9914b-b995-4766-853e-73421b19668d";
    static final String RUNNING = "{\"name\":\"" + OPERATION + "\"}";
    static final String DONE = "{\"name\":\"" + OPERATION + "\",\"done\":true,\"response\":{\"@type\":"
            + "\"type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse\",\"raiMediaFilteredCount\":0,"
            + "\"videos\":[{\"gcsUri\":\"gs://acme-media/veo/1749200000/sample_0.mp4\",\"mimeType\":\"video/mp4\"}]}}";

    /**
     * The attack (an honest one): generate a video on Vertex AI and poll its operation as the Google Gen AI
     * SDK and Google's REST samples do, {@code POST …:fetchPredictOperation} every 15 s until {@code done}
     * (here three polls: running, running, done). The generation ran the model and is charged; the polls
     * read the operation's state and run nothing, and must cost 0.
     */
    @Test
    void pollingAVeoOperationOnVertexCostsNothing() {
        String s = subject();
        answer(s, "POST", VERTEX + VEO + ":predictLongRunning", RUNNING);
        answer(s, "POST", VERTEX + VEO + ":fetchPredictOperation", RUNNING, RUNNING, DONE);
        long started = cost(s, "POST", VERTEX + VEO + ":predictLongRunning",
                "{\"instances\":[{\"prompt\":\"A drone shot over a misty pine forest at dawn\"}],"
                        + "\"parameters\":{\"aspectRatio\":\"16:9\",\"sampleCount\":1,\"storageUri\":\"gs://acme-media/veo/\"}}");
        assertEquals(1, calls.of(s), "the generation ran the model once");
        assertTrue(started > 0, "the generation, answered with the same operation, is charged: " + ledger(s));
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "POST", VERTEX + VEO + ":fetchPredictOperation", "{\"operationName\":\"" + OPERATION + "\"}");
        }
        assertEquals(1, calls.of(s), "no poll ran a model");
        assertEquals(0, polls, "the generation cost " + started + "; three fetchPredictOperation polls of its operation (no model"
                + " ran) cost " + polls + ": " + ledger(s));
    }

    /** Control: the same operation read by a {@code GET} (the Gemini API's and Vertex's operations.get) costs nothing. */
    @Test
    void theSameOperationReadByAGetCostsNothing() {
        String s = subject();
        String get = "/ai/vertex/v1/" + OPERATION;
        answer(s, "GET", get, RUNNING, RUNNING, DONE);
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", get, null);
        }
        assertEquals(0, polls, "three GETs of the operation cost " + polls + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- OpenAI Conversations: a session's items stored

    static final String CONV = "conv_68a4b2c0e1f08193a1b2c3d4e5f60718";

    static String item(String id, String role, String type, String text) {
        return "{\"type\":\"message\",\"id\":\"" + id + "\",\"status\":\"completed\",\"role\":\"" + role + "\",\"content\":"
                + "[{\"type\":\"" + type + "\",\"text\":\"" + text + "\"" + ("output_text".equals(type) ? ",\"annotations\":[]" : "")
                + "}]}";
    }

    static final String QUESTION = "Which clauses of the supplier agreement allow us to terminate early?";
    static final String ANSWER = "Clause 14.2 allows termination with thirty days' notice for non-payment of any invoice. ";

    /**
     * The attack (an honest one): an agent built on the OpenAI Agents SDK with an
     * {@code OpenAIConversationsSession}. After each run the session stores the turn's items (the user's
     * question and the agent's answer, here about 2,000 tokens of text) with
     * {@code POST /v1/conversations/{id}/items}, which OpenAI answers with the {@code list} of the items
     * created. No model runs for it; it must cost nothing, as the conversation's creation does.
     */
    @Test
    void storingASessionsItemsInAConversationCostsNothing() {
        String s = subject();
        String longAnswer = ANSWER.repeat(100);
        answer(s, "POST", "/ai/v1/conversations", "{\"id\":\"" + CONV + "\",\"object\":\"conversation\",\"created_at\":1755541200,"
                + "\"metadata\":{}}");
        answer(s, "POST", "/ai/v1/conversations/" + CONV + "/items", "{\"object\":\"list\",\"data\":["
                + item("msg_68a4b2c1a0b48193", "user", "input_text", QUESTION) + ","
                + item("msg_68a4b2c9f7c08193", "assistant", "output_text", longAnswer) + "],"
                + "\"first_id\":\"msg_68a4b2c1a0b48193\",\"last_id\":\"msg_68a4b2c9f7c08193\",\"has_more\":false}");
        long created = cost(s, "POST", "/ai/v1/conversations", "{\"metadata\":{}}");
        long stored = cost(s, "POST", "/ai/v1/conversations/" + CONV + "/items", "{\"items\":["
                + "{\"type\":\"message\",\"role\":\"user\",\"content\":\"" + QUESTION + "\"},"
                + "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"" + longAnswer
                + "\"}]}]}");
        assertEquals(0, calls.of(s), "no model ran");
        assertEquals(0, created, "the conversation's creation cost " + created + ": " + ledger(s));
        assertEquals(0, stored, "storing a turn's items in the conversation (no model ran) cost " + stored + ": " + ledger(s));
    }
}
