package io.tokenquota.servlet.breakit137;

import static io.tokenquota.servlet.testing.PdfFileRelay.pdf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.PdfFileRelay;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 137 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * PDF input by file id. A relay passes OpenAI's API on under the protected prefix. OpenAI's "File
 * inputs" guide: upload a PDF with {@code POST /v1/files} ({@code purpose: user_data}), then name it in
 * a chat message, {@code {"type": "file", "file": {"file_id": "file-…"}}}; the model reads the text
 * and an image of every page (OpenAI bills both; here 1,000 input tokens a page). The filter saw the
 * upload go through it (released, rightly: no model ran), and it measures a PDF sent inline by its
 * pages (258 a page at least). A chat completion streamed the way OpenAI streams by default, without
 * {@code stream_options.include_usage}, ends with no usage chunk and is charged what the filter
 * estimated.
 */
abstract class AbstractRound137 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Pages of each PDF the relay's provider stores, by file id. */
    static final Map<String, Integer> FILES = new ConcurrentHashMap<>();
    static final int PAGES = 60;
    /** The filter's own least figure for a PDF page it can see (docs/estimation.md). */
    static final long PAGE_FLOOR = 258;
    /** What OpenAI bills a page: its text and its image. */
    static final long PAGE_BILLED = PdfFileRelay.PAGE_BILLED;

    static String subject() {
        return "u137-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("relay", new PdfFileRelay(calls, FILES), new jakarta.servlet.MultipartConfigElement(""), "/ai/*");
    }

    /** Uploads the PDF through the relay, as the SDK's {@code files.create(file, purpose="user_data")}; its id. */
    String upload(String s, byte[] pdf) {
        return PdfFileRelay.upload(container.uri("/ai/v1/files"), s, "report.pdf", "application/pdf", pdf);
    }

    static String chatWithInlinePdf(byte[] pdf) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"file\",\"file\":{\"filename\":\"report.pdf\",\"file_data\":\"data:application/pdf;base64,"
                + Base64.getEncoder().encodeToString(pdf) + "\"}},"
                + "{\"type\":\"text\",\"text\":\"Summarise the quarter in three bullets.\"}]}]}";
    }

    /**
     * Control: the 60-page PDF sent inline ({@code file_data}, base64) in a streamed chat completion
     * without {@code include_usage}. The model reads 60 pages (60,020 billed input); the stream reports
     * no usage. The filter measures the PDF by its pages: expected charged at least 60 x 258 = 15,480.
     */
    @Test
    void inlinePdfStreamedWithoutUsageIsChargedItsPages() throws Exception {
        String s = subject();
        byte[] pdf = pdf(PAGES);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, chatWithInlinePdf(pdf));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a streamed call reading a " + PAGES + "-page inline PDF (OpenAI bills " + (PAGES * PAGE_BILLED + 20)
                        + " input) answered " + r.statusCode() + ", charged " + used + "; expected at least "
                        + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Control: a 12-page PDF uploaded through the relay ({@code POST /v1/files}) is charged nothing (no
     * model ran), and a streamed chat completion naming it by {@code file_id} with {@code include_usage}
     * is charged its usage: 12,020 + 150 = 12,170. (The 60-page one is held at its pages, 15,480 and
     * more, and refused on a 20,000 allowance before the 60,170-token call.)
     */
    @Test
    void uploadIsFreeAndACallByFileIdWithUsageIsChargedIt() throws Exception {
        String s = subject();
        String id = upload(s, pdf(12));
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, true));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(12 * PAGE_BILLED + 20 + 150, settled(s).used(), ledger(s));
    }

    /**
     * Attack: the same 60-page PDF, uploaded through the relay (the filter sees every byte of it, and
     * releases the upload), then named by {@code file_id} in a streamed chat completion sent as OpenAI's
     * SDKs send one by default, without {@code stream_options.include_usage}: no usage chunk, the
     * stream ends normally with {@code [DONE]}. The model reads 60 pages (OpenAI bills 60,020 input).
     * The estimate counts a file by id as one media item (258), so the call is charged about its prompt,
     * 258 and its 300-token budget. Expected: at least what the same PDF costs inline, 60 x 258 = 15,480
     * (or a 429).
     */
    @Test
    void pdfByFileIdStreamedWithoutUsageIsChargedItsPages() throws Exception {
        String s = subject();
        String id = upload(s, pdf(PAGES));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, false));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a streamed call reading the uploaded " + PAGES + "-page PDF by file_id (OpenAI bills "
                        + (PAGES * PAGE_BILLED + 20) + " input) answered " + r.statusCode() + ", charged " + used
                        + "; expected at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack on the allowance: one upload, then ten such streamed calls naming the file by id, each
     * reading 60 pages (60,170 billed each, 601,700 in all, thirty times the 20,000 allowance). Expected:
     * every served call charged at least 15,480, so at most two are served on 20,000. Here each is held
     * and charged about 1,000 and all ten are served.
     */
    @Test
    void tenCallsByFileIdStayWithinTheAllowance() throws Exception {
        String s = subject();
        String id = upload(s, pdf(PAGES));
        int served = 0;
        for (int i = 0; i < 10; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, false));
            if (r.statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        assertTrue(served <= 2 && used >= served * PAGES * PAGE_FLOOR,
                served + " calls each reading " + PAGES + " pages (" + served * (PAGES * PAGE_BILLED + 170)
                        + " billed) served, model calls " + calls.of(s) + ", charged " + used + " on " + ALLOWANCE
                        + "; expected at most 2 served, each charged at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }
}
