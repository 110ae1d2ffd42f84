package io.tokenquota.servlet.breakit264;

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
 * Round 264 of issue 11: a relay that passes the whole API of Google's Gemini API, Vertex AI, Amazon
 * Bedrock, Mistral and Cohere on under the protected prefix {@code /ai/}. Besides model calls, the
 * providers' SDKs send the calls around them: reading, listing, extending and deleting a context cache,
 * polling a batch or a long-running operation, reading and deleting files, listing models and jobs.
 * None of those runs a model; each must cost nothing, and a context cache's tokens must not be charged
 * again each time the cache's resource is read or its TTL extended.
 *
 * <p>The mock provider answers each request with the provider's documented JSON for it; it counts the
 * requests that ran a model ({@link #calls}).
 */
abstract class AbstractRound264 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The provider behind the relay: the answers each test sets; its model calls counted ({@link #calls}). */
    final CannedProvider provider = new CannedProvider(calls, path -> path.endsWith(":generateContent")
            || path.endsWith(":batchGenerateContent") || path.endsWith(":predictLongRunning"));

    static String subject() {
        return "u264-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("provider", provider, "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    void answer(String subject, String method, String path, String json) {
        provider.answer(subject, method, path, json);
    }

    /** Sends {@code method path} as {@code subject} (a JSON body or none) and answers the tokens it cost. */
    long cost(String subject, String method, String pathAndQuery, String body) {
        long before = settled(subject).used();
        HttpRequest.BodyPublisher p = body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body);
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri(pathAndQuery), subject,
                "Content-Type", "application/json").method(method, p).build());
        assertEquals(200, r.statusCode(), method + " " + pathAndQuery + ": " + r.body());
        return settled(subject).used() - before;
    }

    // ---------------------------------------------------------------- Gemini context caching

    static final String GEMINI = "/ai/gemini/v1beta/";
    static final String CACHE_NAME = "cachedContents/lmh3e3mx0ghq";

    static String cache(String expireTime) {
        return "{\"name\":\"" + CACHE_NAME + "\",\"model\":\"models/gemini-2.5-flash\","
                + "\"createTime\":\"2025-06-01T10:00:00.123456Z\",\"updateTime\":\"2025-06-01T10:00:00.123456Z\","
                + "\"expireTime\":\"" + expireTime + "\",\"displayName\":\"product-manual\","
                + "\"usageMetadata\":{\"totalTokenCount\":6000}}";
    }

    static final String MANUAL = "Section 4.2: the pump's pressure relief valve opens at 6 bar and must be inspected monthly. ";

    /**
     * The attack: the application caches a 6,000-token manual (Google's {@code caches.create}), then,
     * as the Google GenAI SDK's {@code caches.get} does, reads the cache's resource back to check its
     * expiry, and extends its TTL ({@code caches.update}: {@code PATCH …?updateMask=ttl}). The resource
     * carries the cache's size ({@code usageMetadata.totalTokenCount}); no model runs for a read or an
     * update, yet each is charged the whole cache again.
     */
    @Test
    void readingAndExtendingAGeminiCacheCostsNothing() {
        String s = subject();
        answer(s, "POST", GEMINI + "cachedContents", cache("2025-06-01T11:00:00.105133Z"));
        answer(s, "GET", GEMINI + CACHE_NAME, cache("2025-06-01T11:00:00.105133Z"));
        answer(s, "PATCH", GEMINI + CACHE_NAME, cache("2025-06-01T12:00:00.105133Z"));
        long created = cost(s, "POST", GEMINI + "cachedContents", "{\"model\":\"models/gemini-2.5-flash\",\"displayName\":"
                + "\"product-manual\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + MANUAL.repeat(300) + "\"}]}],"
                + "\"ttl\":\"3600s\"}");
        long read = cost(s, "GET", GEMINI + CACHE_NAME, null);
        long extended = cost(s, "PATCH", GEMINI + CACHE_NAME + "?updateMask=ttl", "{\"ttl\":\"7200s\"}");
        assertEquals(0, read + extended, "the cache's creation cost " + created + "; reading its resource back cost " + read
                + " and extending its TTL " + extended + " (no model ran for either): " + ledger(s));
    }

    /** The same on Vertex AI: {@code GET …/locations/{l}/cachedContents/{id}} reads a cache of 43,130 tokens. */
    @Test
    void readingAVertexCacheCostsNothing() {
        String s = subject();
        String path = "/ai/vertex/v1/projects/acme/locations/us-central1/cachedContents/4242424242";
        answer(s, "GET", path, "{\"name\":\"projects/acme/locations/us-central1/cachedContents/4242424242\","
                + "\"model\":\"projects/acme/locations/us-central1/publishers/google/models/gemini-2.0-flash-001\","
                + "\"createTime\":\"2025-06-01T10:00:00Z\",\"updateTime\":\"2025-06-01T10:00:00Z\","
                + "\"expireTime\":\"2025-06-01T11:00:00Z\",\"usageMetadata\":{\"totalTokenCount\":43130,\"textCount\":153,"
                + "\"imageCount\":167,\"videoDurationSeconds\":2222}}");
        long read = cost(s, "GET", path, null);
        assertEquals(0, read, "a read of a cache's resource runs no model: " + ledger(s));
    }

    /** Listing the caches and deleting one ({@code caches.list}, {@code caches.delete}, answered {@code {}}). */
    @Test
    void listingAndDeletingGeminiCachesCostsNothing() {
        String s = subject();
        answer(s, "GET", GEMINI + "cachedContents", "{\"cachedContents\":[" + cache("2025-06-01T11:00:00Z") + "]}");
        answer(s, "DELETE", GEMINI + CACHE_NAME, "{}");
        long listed = cost(s, "GET", GEMINI + "cachedContents?pageSize=50", null);
        long deleted = cost(s, "DELETE", GEMINI + CACHE_NAME, null);
        assertEquals(0, listed + deleted, "listing cost " + listed + ", deleting " + deleted + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- Gemini Files API

    static final String FILE = "{\"name\":\"files/abc123xyz\",\"displayName\":\"lecture.mp4\",\"mimeType\":\"video/mp4\","
            + "\"sizeBytes\":\"48213504\",\"createTime\":\"2025-06-01T10:00:00.000000Z\",\"updateTime\":\"2025-06-01T10:00:05.000000Z\","
            + "\"expirationTime\":\"2025-06-03T10:00:00.000000Z\",\"sha256Hash\":\"ZGVhZGJlZWY=\","
            + "\"uri\":\"https://generativelanguage.googleapis.com/v1beta/files/abc123xyz\",\"state\":\"%s\",\"source\":\"UPLOADED\"}";

    /**
     * The attack: after uploading a video, the SDK polls {@code files.get} until the file is
     * {@code ACTIVE} (Google's own sample), lists the files and deletes the video afterwards. None runs
     * a model.
     */
    @Test
    void readingListingAndDeletingGeminiFilesCostsNothing() {
        String s = subject();
        answer(s, "GET", GEMINI + "files/abc123xyz", String.format(FILE, "PROCESSING"));
        answer(s, "GET", GEMINI + "files", "{\"files\":[" + String.format(FILE, "ACTIVE") + "]}");
        answer(s, "DELETE", GEMINI + "files/abc123xyz", "{}");
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", GEMINI + "files/abc123xyz", null);
        }
        long listed = cost(s, "GET", GEMINI + "files?pageSize=10", null);
        long deleted = cost(s, "DELETE", GEMINI + "files/abc123xyz", null);
        assertEquals(0, polls + listed + deleted, "three polls of the upload's state cost " + polls + ", listing " + listed
                + ", deleting " + deleted + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- Gemini Batch Mode

    static String batch(String state, String extra) {
        return "{\"name\":\"batches/q9x8w7v6u5\",\"metadata\":{\"@type\":"
                + "\"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch\",\"model\":"
                + "\"models/gemini-2.5-flash\",\"displayName\":\"nightly-summaries\",\"createTime\":\"2025-06-01T10:00:00Z\","
                + "\"updateTime\":\"2025-06-01T10:05:00Z\",\"batchStats\":{\"requestCount\":\"2\",\"pendingRequestCount\":\"2\"},"
                + "\"state\":\"" + state + "\",\"name\":\"batches/q9x8w7v6u5\"}" + extra + "}";
    }

    static final String BATCH_BODY = "{\"batch\":{\"display_name\":\"nightly-summaries\",\"input_config\":{\"requests\":"
            + "{\"requests\":[{\"request\":{\"contents\":[{\"parts\":[{\"text\":\"Summarise the incident report.\"}]}]},"
            + "\"metadata\":{\"key\":\"request-1\"}},{\"request\":{\"contents\":[{\"parts\":[{\"text\":"
            + "\"Summarise the maintenance log.\"}]}]},\"metadata\":{\"key\":\"request-2\"}}]}}}}";

    /**
     * The attack: a batch created with inline requests ({@code models/…:batchGenerateContent}: charged its
     * requests' estimate, as the decisions say of a batch's creation), then polled with
     * {@code batches.get} while pending and running, as Google's sample polls it every 30 s. A poll runs
     * no model (round 263 released Anthropic's); here each costs 1,000.
     */
    @Test
    void pollingAGeminiBatchCostsNothing() {
        String s = subject();
        String create = GEMINI + "models/gemini-2.5-flash:batchGenerateContent";
        answer(s, "POST", create, batch("BATCH_STATE_PENDING", ""));
        answer(s, "GET", GEMINI + "batches/q9x8w7v6u5", batch("BATCH_STATE_RUNNING", ""));
        long created = cost(s, "POST", create, BATCH_BODY);
        long polls = 0;
        for (int i = 0; i < 4; i++) {
            polls += cost(s, "GET", GEMINI + "batches/q9x8w7v6u5", null);
        }
        assertEquals(0, polls, "the creation cost " + created + "; four polls of the running batch cost " + polls + ": "
                + ledger(s));
    }

    /** Cancelling the batch ({@code batches/{id}:cancel}, answered {@code {}}) and deleting it. */
    @Test
    void cancellingAndDeletingAGeminiBatchCostsNothing() {
        String s = subject();
        answer(s, "POST", GEMINI + "batches/q9x8w7v6u5:cancel", "{}");
        answer(s, "DELETE", GEMINI + "batches/q9x8w7v6u5", "{}");
        long cancelled = cost(s, "POST", GEMINI + "batches/q9x8w7v6u5:cancel", "");
        long deleted = cost(s, "DELETE", GEMINI + "batches/q9x8w7v6u5", null);
        assertEquals(0, cancelled + deleted, "cancelling cost " + cancelled + ", deleting " + deleted + ": " + ledger(s));
    }

    static String inlined(int prompt, int output) {
        return "{\"response\":{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"The summary.\"}],\"role\":\"model\"},"
                + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + prompt
                + ",\"candidatesTokenCount\":" + output + ",\"totalTokenCount\":" + (prompt + output) + "},"
                + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-" + UUID.randomUUID() + "\"},"
                + "\"metadata\":{\"key\":\"request-" + output + "\"}}";
    }

    /** The finished batch with its two results inline: calls that used 9,000 and 7,000 tokens. */
    static final String FINISHED = batch("BATCH_STATE_SUCCEEDED", ",\"done\":true,\"response\":{\"@type\":"
            + "\"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput\",\"inlinedResponses\":"
            + "{\"inlinedResponses\":[" + inlined(1_000, 8_000) + "," + inlined(1_000, 6_000) + "]}}");

    /**
     * The batch's results, read inline from the finished batch ({@code done}, {@code response.inlinedResponses}):
     * two calls that used 9,000 and 7,000 tokens. With the creation charged its estimate, the creation and the
     * results together must come to at least the 16,000 the batch used.
     */
    @Test
    void aFinishedGeminiBatchsInlinedResultsAreCharged() {
        String s = subject();
        String create = GEMINI + "models/gemini-2.5-flash:batchGenerateContent";
        answer(s, "POST", create, batch("BATCH_STATE_PENDING", ""));
        answer(s, "GET", GEMINI + "batches/q9x8w7v6u5", FINISHED);
        long created = cost(s, "POST", create, BATCH_BODY);
        long read = cost(s, "GET", GEMINI + "batches/q9x8w7v6u5", null);
        assertTrue(created + read >= 16_000, "the batch used 16,000; its creation cost " + created + " and its results "
                + read + ": " + ledger(s));
    }

    /** The finished batch read again (the SDK's last poll, then the application's read): its results are charged once. */
    @Test
    void aFinishedGeminiBatchReadTwiceIsChargedOnce() {
        String s = subject();
        answer(s, "GET", GEMINI + "batches/q9x8w7v6u5", FINISHED);
        long first = cost(s, "GET", GEMINI + "batches/q9x8w7v6u5", null);
        long again = cost(s, "GET", GEMINI + "batches/q9x8w7v6u5", null);
        assertEquals(16_000, first, "the results' usage: " + ledger(s));
        assertEquals(0, again, "the same results read again: " + ledger(s));
    }

    /** OpenAI's file deletion answers {@code {"object": "file", "deleted": true}}, as Mistral's does. */
    @Test
    void anOpenAiFileDeletionCostsNothing() {
        String s = subject();
        answer(s, "DELETE", "/ai/openai/v1/files/file-abc123", "{\"id\":\"file-abc123\",\"object\":\"file\",\"deleted\":true}");
        assertEquals(0, cost(s, "DELETE", "/ai/openai/v1/files/file-abc123", null), ledger(s));
    }

    /**
     * The batch's results in a file ({@code response.responsesFile}), downloaded as the SDK's
     * {@code files.download} does ({@code GET /download/v1beta/files/{id}:download?alt=media}): one JSON line
     * per request, {@code {"key": …, "response": GenerateContentResponse}}, two calls of 9,000 and 7,000 tokens.
     */
    @Test
    void aFinishedGeminiBatchsResultsFileIsCharged() {
        String s = subject();
        String create = GEMINI + "models/gemini-2.5-flash:batchGenerateContent";
        answer(s, "POST", create, batch("BATCH_STATE_PENDING", ""));
        String download = "/ai/gemini/download/v1beta/files/batch-q9x8w7v6u5:download";
        answer(s, "GET", download, "{\"key\":\"request-1\"," + inlined(1_000, 8_000).substring(1).replaceFirst(",\"metadata\".*$", "}")
                + "\n{\"key\":\"request-2\"," + inlined(1_000, 6_000).substring(1).replaceFirst(",\"metadata\".*$", "}") + "\n");
        long created = cost(s, "POST", create, BATCH_BODY);
        long read = cost(s, "GET", download + "?alt=media", null);
        assertTrue(created + read >= 16_000, "the batch used 16,000; its creation cost " + created + " and its results file "
                + read + ": " + ledger(s));
    }

    /**
     * A video (Veo) generated as a long-running operation: the {@code predictLongRunning} call runs the
     * model and is charged; the SDK then polls {@code operations.get} every 10 s until {@code done}.
     */
    @Test
    void pollingALongRunningOperationCostsNothing() {
        String s = subject();
        String op = GEMINI + "models/veo-3.0-generate-001/operations/op7f3k2m1n";
        answer(s, "POST", GEMINI + "models/veo-3.0-generate-001:predictLongRunning",
                "{\"name\":\"models/veo-3.0-generate-001/operations/op7f3k2m1n\"}");
        answer(s, "GET", op, "{\"name\":\"models/veo-3.0-generate-001/operations/op7f3k2m1n\"}");
        long started = cost(s, "POST", GEMINI + "models/veo-3.0-generate-001:predictLongRunning",
                "{\"instances\":[{\"prompt\":\"A drone shot over a misty pine forest at dawn\"}],\"parameters\":{\"aspectRatio\":\"16:9\"}}");
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", op, null);
        }
        assertEquals(0, polls, "the generation cost " + started + "; three polls of its operation (not done) cost " + polls
                + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- Vertex AI

    @Test
    void pollingAVertexBatchPredictionJobCostsNothing() {
        String s = subject();
        String path = "/ai/vertex/v1/projects/acme/locations/us-central1/batchPredictionJobs/8812345678901234567";
        answer(s, "GET", path, "{\"name\":\"projects/acme/locations/us-central1/batchPredictionJobs/8812345678901234567\","
                + "\"displayName\":\"nightly\",\"model\":\"publishers/google/models/gemini-2.0-flash-001\","
                + "\"inputConfig\":{\"instancesFormat\":\"jsonl\",\"gcsSource\":{\"uris\":[\"gs://acme/in.jsonl\"]}},"
                + "\"outputConfig\":{\"predictionsFormat\":\"jsonl\",\"gcsDestination\":{\"outputUriPrefix\":\"gs://acme/out\"}},"
                + "\"state\":\"JOB_STATE_RUNNING\",\"createTime\":\"2025-06-01T10:00:00Z\",\"updateTime\":\"2025-06-01T10:05:00Z\"}");
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", path, null);
        }
        assertEquals(0, polls, "three polls of a running batch prediction job cost " + polls + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- Amazon Bedrock

    @Test
    void bedrocksCatalogueAndBatchJobReadsCostNothing() {
        String s = subject();
        String job = "{\"jobArn\":\"arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/abcd1234efgh\",\"jobName\":"
                + "\"nightly\",\"modelId\":\"anthropic.claude-3-haiku-20240307-v1:0\",\"roleArn\":\"arn:aws:iam::111122223333:role/"
                + "bedrock-batch\",\"status\":\"InProgress\",\"submitTime\":\"2025-06-01T10:00:00Z\",\"inputDataConfig\":"
                + "{\"s3InputDataConfig\":{\"s3Uri\":\"s3://acme/in/\"}},\"outputDataConfig\":{\"s3OutputDataConfig\":"
                + "{\"s3Uri\":\"s3://acme/out/\"}}}";
        answer(s, "GET", "/ai/bedrock/foundation-models", "{\"modelSummaries\":[{\"modelArn\":\"arn:aws:bedrock:us-east-1::"
                + "foundation-model/anthropic.claude-3-haiku-20240307-v1:0\",\"modelId\":\"anthropic.claude-3-haiku-20240307-v1:0\","
                + "\"modelName\":\"Claude 3 Haiku\",\"providerName\":\"Anthropic\",\"inputModalities\":[\"TEXT\",\"IMAGE\"],"
                + "\"outputModalities\":[\"TEXT\"],\"responseStreamingSupported\":true,\"inferenceTypesSupported\":[\"ON_DEMAND\"],"
                + "\"modelLifecycle\":{\"status\":\"ACTIVE\"}}]}");
        answer(s, "GET", "/ai/bedrock/model-invocation-job/abcd1234efgh", job);
        answer(s, "GET", "/ai/bedrock/model-invocation-jobs", "{\"invocationJobSummaries\":[" + job + "]}");
        answer(s, "POST", "/ai/bedrock/model-invocation-job/abcd1234efgh/stop", "{}");
        answer(s, "GET", "/ai/bedrock-runtime/async-invoke/zx81qw7e5r2t", "{\"invocationArn\":\"arn:aws:bedrock:us-east-1:"
                + "111122223333:async-invoke/zx81qw7e5r2t\",\"modelArn\":\"arn:aws:bedrock:us-east-1::foundation-model/"
                + "amazon.nova-reel-v1:0\",\"status\":\"InProgress\",\"submitTime\":\"2025-06-01T10:00:00Z\","
                + "\"outputDataConfig\":{\"s3OutputDataConfig\":{\"s3Uri\":\"s3://acme/video\"}}}");
        long models = cost(s, "GET", "/ai/bedrock/foundation-models?byOutputModality=TEXT", null);
        long jobRead = cost(s, "GET", "/ai/bedrock/model-invocation-job/abcd1234efgh", null);
        long jobs = cost(s, "GET", "/ai/bedrock/model-invocation-jobs?statusEquals=InProgress", null);
        long stopped = cost(s, "POST", "/ai/bedrock/model-invocation-job/abcd1234efgh/stop", "");
        long asyncRead = cost(s, "GET", "/ai/bedrock-runtime/async-invoke/zx81qw7e5r2t", null);
        assertEquals(0, models + jobRead + jobs + stopped + asyncRead, "ListFoundationModels cost " + models
                + ", GetModelInvocationJob " + jobRead + ", ListModelInvocationJobs " + jobs + ", StopModelInvocationJob "
                + stopped + ", GetAsyncInvoke " + asyncRead + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- Mistral

    @Test
    void mistralsFileDeletionAndFineTuningPollCostNothing() {
        String s = subject();
        answer(s, "DELETE", "/ai/mistral/v1/files/3b1e8c9a-7f0d-4e2b-9a61-5c3d2e1f0a9b",
                "{\"id\":\"3b1e8c9a-7f0d-4e2b-9a61-5c3d2e1f0a9b\",\"object\":\"file\",\"deleted\":true}");
        answer(s, "GET", "/ai/mistral/v1/fine_tuning/jobs/6a1d2c3b-0e9f-4a8b-8c7d-1e2f3a4b5c6d",
                "{\"id\":\"6a1d2c3b-0e9f-4a8b-8c7d-1e2f3a4b5c6d\",\"auto_start\":true,\"model\":\"open-mistral-7b\","
                + "\"status\":\"RUNNING\",\"job_type\":\"completion\",\"created_at\":1717000000,\"modified_at\":1717000100,"
                + "\"training_files\":[\"3b1e8c9a-7f0d-4e2b-9a61-5c3d2e1f0a9b\"],\"validation_files\":[],\"object\":\"job\","
                + "\"fine_tuned_model\":null,\"suffix\":null,\"integrations\":[],\"trained_tokens\":null,"
                + "\"hyperparameters\":{\"training_steps\":10,\"learning_rate\":0.0001},\"events\":[],\"checkpoints\":[]}");
        long deleted = cost(s, "DELETE", "/ai/mistral/v1/files/3b1e8c9a-7f0d-4e2b-9a61-5c3d2e1f0a9b", null);
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", "/ai/mistral/v1/fine_tuning/jobs/6a1d2c3b-0e9f-4a8b-8c7d-1e2f3a4b5c6d", null);
        }
        assertEquals(0, deleted + polls, "deleting a file cost " + deleted + ", three polls of a fine-tuning job " + polls
                + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- Cohere

    @Test
    void coheresEmbedJobAndDatasetReadsCostNothing() {
        String s = subject();
        answer(s, "GET", "/ai/cohere/v1/embed-jobs/9f3c2b1a-embed", "{\"job_id\":\"9f3c2b1a-embed\",\"name\":\"catalogue\","
                + "\"status\":\"processing\",\"created_at\":\"2025-06-01T10:00:00Z\",\"input_dataset_id\":\"catalogue-x2k9\","
                + "\"model\":\"embed-english-v3.0\",\"truncate\":\"END\",\"meta\":{\"api_version\":{\"version\":\"1\"}}}");
        answer(s, "GET", "/ai/cohere/v1/datasets/catalogue-x2k9", "{\"dataset\":{\"id\":\"catalogue-x2k9\",\"name\":\"catalogue\","
                + "\"created_at\":\"2025-06-01T10:00:00Z\",\"updated_at\":\"2025-06-01T10:00:00Z\",\"dataset_type\":"
                + "\"embed-input\",\"validation_status\":\"validated\",\"dataset_parts\":[{\"id\":\"p1\",\"name\":\"part-0.jsonl\","
                + "\"num_rows\":5000}]}}");
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", "/ai/cohere/v1/embed-jobs/9f3c2b1a-embed", null);
        }
        long dataset = cost(s, "GET", "/ai/cohere/v1/datasets/catalogue-x2k9", null);
        assertEquals(0, polls + dataset, "three polls of an embed job cost " + polls + ", reading its dataset " + dataset
                + ": " + ledger(s));
    }
}
