package io.tokenquota.servlet.breakit393;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CannedProviderRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 393 of issue 11 ("no model call goes unpaid"): model APIs that are not chat, relayed through a guarded path
 * (rerank, embeddings, OCR, audio, moderation).
 *
 * <p>Probed and found right (not tests here): Cohere rerank v2 with {@code meta.billed_units.search_units} alone is
 * charged its estimate, and its {@code meta.tokens} when present; Jina's and Voyage's rerank {@code usage.total_tokens};
 * OpenAI embeddings with {@code encoding_format: base64} ({@code usage.prompt_tokens} after 40 base64 vectors); Cohere
 * embed v2's {@code meta.billed_units.input_tokens}; Gemini {@code batchEmbedContents} (no usage: the estimate of its
 * {@code requests[].content.parts[].text}); a transcription's {@code usage} of {@code type: "tokens"} and of
 * {@code type: "duration"} (17 a second, as documented); a Cohere 400 and a FastAPI 422 from a reranker released.
 * Mistral OCR's answer ({@code usage_info.pages_processed}, no tokens; its pages' markdown charged the estimate, 1,016)
 * is docs/decisions.md's open item "A model's own JSON answer", not reported again.
 *
 * <p>The finding: Hugging Face Text Embeddings Inference (TEI), the server most self-hosted rerankers and embedders
 * run behind, puts its count in response headers, not in its body: {@code x-compute-tokens} (with
 * {@code x-compute-characters}, {@code x-compute-time}, ...; text-embeddings-inference {@code router/src/lib.rs},
 * {@code impl From<ResponseMetadata> for HeaderMap}). Its bodies carry no usage at all: {@code POST /rerank} answers
 * {@code RerankResponse(Vec<Rank>)}, a bare list of {@code {"index", "score"}} ({@code router/src/http/types.rs}), and
 * {@code POST /embed} a bare list of vectors ({@code EmbedResponse(Vec<Vec<f32>>)}). For a rerank, TEI runs the model
 * once per text on the pair (query, text), and {@code x-compute-tokens} adds up each pair's tokens
 * ({@code router/src/http/server.rs}, {@code async fn rerank}: {@code total_compute_tokens += r.0}, the
 * {@code prompt_tokens} of {@code infer.predict((query, text), ...)}; {@code compute_chars = query_chars * batch_size +
 * Σ text chars}): the query is read as many times as there are texts. The filter reads the count headers of TGI
 * ({@code x-prompt-tokens}, {@code x-generated-tokens}) and Bedrock as final, server-set counts (docs/servlet.md,
 * "Where usage is read"), but not TEI's, so such a call is charged the request's estimate, which counts the query once.
 */
abstract class AbstractRound393 extends CannedProviderRound {
    /** The client's query: about 889 tokens of prose (Prose: ~4.5 characters a token). */
    static final String QUERY = Prose.english(4_000);
    /** One text to rank or embed: about 222 tokens. */
    static final String TEXT = Prose.english(1_000);
    static final int TEXTS = 16;
    /**
     * TEI's count of one (query, text) pair as an XLM-RoBERTa reranker (BAAI/bge-reranker-v2-m3) encodes it:
     * {@code <s> query </s></s> text </s>}, the query's and the text's tokens and 4 special ones.
     */
    static final long PAIR_TOKENS = 889 + 222 + 4;
    /** {@code x-compute-tokens} of the rerank of {@link #TEXTS} texts: 17,840. */
    static final long RERANK_TOKENS = TEXTS * PAIR_TOKENS;
    /** TEI's count of one text embedded by a BERT model ({@code [CLS] text [SEP]}). */
    static final long EMBED_TOKENS_EACH = 222 + 2;
    static final int EMBEDDED = 40;
    /** {@code x-compute-tokens} of the embedding of {@link #EMBEDDED} texts: 8,960. */
    static final long EMBED_TOKENS = EMBEDDED * EMBED_TOKENS_EACH;

    AbstractRound393() {
        super(path -> path.startsWith("/ai/"));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("provider", provider, "/ai/*")
                .servlet("huggingface", new HuggingFaceRelay(), "/ai/hf/*");
    }

    /**
     * A relay to self-hosted Hugging Face servers that passes their answer and their response headers on, as a
     * gateway copying the upstream's headers does (round 116's TGI relay): TEI's {@code /rerank} and {@code /embed},
     * TGI's {@code /generate}. Each request is one model call.
     */
    final class HuggingFaceRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String path = req.getRequestURI();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            StringBuilder out = new StringBuilder("[");
            if (path.endsWith("/tei/rerank")) {
                // RerankResponse: the ranks sorted by score, highest first; no text unless return_text
                for (int i = 0; i < TEXTS; i++) {
                    out.append(i == 0 ? "" : ",").append("{\"index\":").append((i + 5) % TEXTS)
                            .append(",\"score\":").append((float) (0.98 - i * 0.05)).append('}');
                }
                teiHeaders(resp, (long) QUERY.length() * TEXTS + (long) TEXT.length() * TEXTS, RERANK_TOKENS);
            } else if (path.endsWith("/tei/embed")) {
                // EmbedResponse: one vector per input
                for (int i = 0; i < EMBEDDED; i++) {
                    out.append(i == 0 ? "" : ",").append("[0.0123291,-0.0456543,0.0287476,0.0031891]");
                }
                teiHeaders(resp, (long) TEXT.length() * EMBEDDED, EMBED_TOKENS);
            } else if (path.endsWith("/tgi/generate")) {
                // TGI's GenerateResponse without details, its counts in headers (router/src/server.rs: x-prompt-tokens,
                // x-generated-tokens beside x-compute-type, x-compute-time, ...)
                resp.setHeader("x-compute-type", "1-nvidia-a10g");
                resp.setHeader("x-compute-time", "4.211");
                resp.setHeader("x-prompt-tokens", String.valueOf(RERANK_TOKENS - 300));
                resp.setHeader("x-generated-tokens", "300");
                resp.getOutputStream().write("{\"generated_text\":\"Refunds are granted within thirty days of purchase.\"}"
                        .getBytes(StandardCharsets.UTF_8));
                return;
            } else {
                resp.sendError(404);
                return;
            }
            resp.getOutputStream().write(out.append(']').toString().getBytes(StandardCharsets.UTF_8));
        }

        /** TEI's headers (router/src/lib.rs, {@code impl From<ResponseMetadata> for HeaderMap}). */
        private void teiHeaders(HttpServletResponse resp, long chars, long tokens) {
            resp.setHeader("x-compute-type", "gpu+optimized");
            resp.setHeader("x-compute-time", "212");
            resp.setHeader("x-compute-characters", String.valueOf(chars));
            resp.setHeader("x-compute-tokens", String.valueOf(tokens));
            resp.setHeader("x-total-time", "212");
            resp.setHeader("x-tokenization-time", "3");
            resp.setHeader("x-queue-time", "1");
            resp.setHeader("x-inference-time", "208");
        }
    }

    static String texts(int n) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < n; i++) {
            b.append(i == 0 ? "" : ",").append('"').append(TEXT).append('"');
        }
        return b.append(']').toString();
    }

    /** TEI's {@code RerankRequest} (router/src/http/types.rs: {@code query}, {@code texts}, {@code truncate}, ...). */
    static final String TEI_RERANK = "{\"query\":\"" + QUERY + "\",\"texts\":" + texts(TEXTS) + ",\"truncate\":true}";
    /** TEI's {@code EmbedRequest} ({@code inputs}: one string or a batch). */
    static final String TEI_EMBED = "{\"inputs\":" + texts(EMBEDDED) + ",\"truncate\":true}";

    void assertChargedExactly(String s, HttpResponse<String> r, int status, long used, String what) {
        QuotaAccount a = settled(s);
        assertEquals(status, r.statusCode(), figures(s, r, a));
        assertEquals(status == 200 ? 1 : calls.of(s), calls.of(s), figures(s, r, a));
        assertEquals(used, a.used(), what + ": " + figures(s, r, a));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Found and fixed: a TEI rerank of 16 texts against an 889-token query. TEI ran the model on 16 (query, text)
     * pairs and says so in {@code x-compute-tokens: 17840}; the filter did not read that header and charged the
     * request's estimate, which counts the query once.
     */
    @Test
    void aTeiRerankIsChargedTheTokensItsServerCountedInXComputeTokens() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/hf/tei/rerank"), s, TEI_RERANK);
        assertEquals(String.valueOf(RERANK_TOKENS), r.headers().firstValue("x-compute-tokens").orElse("-"));
        assertChargedExactly(s, r, 200, RERANK_TOKENS, "TEI computed " + RERANK_TOKENS
                + " tokens (x-compute-tokens: the query read beside each of the " + TEXTS + " texts)");
    }

    /**
     * Found and fixed, the same cause: a TEI {@code /embed} of 40 texts, {@code x-compute-tokens: 8960}, was charged
     * its estimate.
     */
    @Test
    void aTeiEmbedIsChargedTheTokensItsServerCountedInXComputeTokens() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/hf/tei/embed"), s, TEI_EMBED);
        assertEquals(String.valueOf(EMBED_TOKENS), r.headers().firstValue("x-compute-tokens").orElse("-"));
        assertChargedExactly(s, r, 200, EMBED_TOKENS, "TEI embedded " + EMBED_TOKENS + " tokens (x-compute-tokens)");
    }

    // ------------------------------------------------------------------ controls

    /**
     * Control: the same relay passing TGI's answer with its count headers ({@code x-prompt-tokens: 17540},
     * {@code x-generated-tokens: 300}) is charged them exactly (round 116's rule).
     */
    @Test
    void controlATgiAnswerWithItsCountHeadersIsChargedThem() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/hf/tgi/generate"), s,
                "{\"inputs\":\"What does the handbook say about refunds?\",\"parameters\":{\"max_new_tokens\":300}}");
        assertChargedExactly(s, r, 200, RERANK_TOKENS, "TGI's x-prompt-tokens + x-generated-tokens");
    }

    /**
     * Control: the same rerank against Voyage, which reports it in its body ({@code usage.total_tokens}, "the number
     * of query tokens × the number of documents + the sum of the number of tokens in all documents": Voyage AI docs,
     * "Rerankers"; response {@code {"object": "list", "data": [{"relevance_score", "index"}], "model", "usage":
     * {"total_tokens"}}}, API reference "Rerankers"), is charged that count exactly.
     */
    @Test
    void controlAVoyageRerankReportingItsUsageInTheBodyIsChargedIt() {
        String s = subject();
        String path = "/ai/v1/rerank";
        provider.answer(s, "POST", path, "{\"object\":\"list\",\"data\":[{\"relevance_score\":0.4375,\"index\":5},"
                + "{\"relevance_score\":0.421875,\"index\":0}],\"model\":\"rerank-2\",\"usage\":{\"total_tokens\":"
                + RERANK_TOKENS + "}}");
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, "{\"model\":\"rerank-2\",\"query\":\""
                + QUERY + "\",\"documents\":" + texts(TEXTS) + ",\"top_k\":2}");
        assertChargedExactly(s, r, 200, RERANK_TOKENS, "Voyage's usage.total_tokens");
    }

    /**
     * Control: a TEI rerank refused before the model ran (TEI's 422 {@code {"error": "Tokenization error",
     * "error_type": "tokenizer"}}, server.rs's documented responses) is released.
     */
    @Test
    void controlATeiRerankRefusedWithA422IsReleased() {
        String s = subject();
        String path = "/ai/tei422/rerank";
        provider.answerRaw(s, "POST", path, 422, "application/json",
                "{\"error\":\"Tokenization error\",\"error_type\":\"tokenizer\"}");
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, TEI_RERANK);
        QuotaAccount a = settled(s);
        assertEquals(422, r.statusCode(), figures(s, r, a));
        assertEquals(0, a.used(), "a refused rerank: " + figures(s, r, a));
    }
}
