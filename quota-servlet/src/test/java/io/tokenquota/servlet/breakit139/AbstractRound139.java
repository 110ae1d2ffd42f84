package io.tokenquota.servlet.breakit139;

import static io.tokenquota.servlet.testing.PdfFileRelay.pdf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.PdfFileRelay;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 139 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * files named by id. A relay passes OpenAI's API on under the protected prefix. A PDF is uploaded with
 * {@code POST /v1/files} ({@code purpose: user_data}) through the filter, which measures its pages
 * there (258 a page at least) and remembers that by the file's id; a chat message names the file by
 * {@code {"type": "file", "file": {"file_id": …}}} and the model reads every page each time a message
 * names it (OpenAI bills a page's text and image; here 1,000 input tokens a page). A chat completion
 * streamed as OpenAI's SDKs stream by default, without {@code stream_options.include_usage}, ends with
 * no usage chunk and is charged what the filter estimated.
 */
abstract class AbstractRound139 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Pages of each PDF the relay's provider stores, by file id: both relays' (one provider, two prefixes). */
    static final Map<String, Integer> FILES = new ConcurrentHashMap<>();
    /** The filter's own least figure for a PDF page it can see. */
    static final long PAGE_FLOOR = 258;
    /** What OpenAI bills a page: its text and its image. */
    static final long PAGE_BILLED = PdfFileRelay.PAGE_BILLED;
    /** Figures the second filter (on /small/) remembers: an operator's choice of a smaller memory. */
    static final int SMALL_MEMORY = 100;

    static String subject() {
        return "u139-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter small = filterFor("/small/").providerStateEntries(SMALL_MEMORY).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-small", small, "/*")
                .multipartServlet("relay", new PdfFileRelay(calls, FILES), new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .multipartServlet("relay-small", new PdfFileRelay(calls, FILES), new jakarta.servlet.MultipartConfigElement(""), "/small/*");
    }

    /** Uploads a file through the relay under {@code prefix}, as the SDK's {@code files.create}; its id. */
    String upload(String prefix, String s, String filename, String type, byte[] content) {
        return PdfFileRelay.upload(container.uri(prefix + "v1/files"), s, filename, type, content);
    }

    static String filePart(String fileId) {
        return "{\"type\":\"file\",\"file\":{\"file_id\":\"" + fileId + "\"}}";
    }

    static String inlinePart(byte[] pdf) {
        return "{\"type\":\"file\",\"file\":{\"filename\":\"report.pdf\",\"file_data\":\"data:application/pdf;base64,"
                + Base64.getEncoder().encodeToString(pdf) + "\"}}";
    }

    /**
     * A "chat with your document" conversation in its second turn, as such apps send it: each user turn
     * carries the document, the first turn's answer between them; streamed without usage.
     */
    static String twoTurns(String document) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":300,\"messages\":["
                + "{\"role\":\"user\",\"content\":[" + document + ",{\"type\":\"text\",\"text\":\"Summarise the quarter.\"}]},"
                + "{\"role\":\"assistant\",\"content\":\"Revenue rose 4% on the quarter.\"},"
                + "{\"role\":\"user\",\"content\":[" + document + ",{\"type\":\"text\",\"text\":\"And the costs, page by page?\"}]}]}";
    }

    static String oneTurn(String document) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":300,\"messages\":["
                + "{\"role\":\"user\",\"content\":[" + document + ",{\"type\":\"text\",\"text\":\"Summarise the quarter.\"}]}]}";
    }

    /**
     * Control: the second turn of a document chat with a 30-page PDF sent inline ({@code file_data}) in
     * both user turns, streamed without usage. The model reads 60 pages (OpenAI bills 60,020 input);
     * the filter measures each inline copy: expected charged at least 2 x 30 x 258 = 15,480 (or a 429).
     */
    @Test
    void inlineDocumentInTwoTurnsIsChargedBothCopies() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, twoTurns(inlinePart(pdf(30))));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "two inline copies of a 30-page PDF (60,020 billed input) answered " + r.statusCode() + ", charged "
                        + used + "; expected at least " + 60 * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack: the same document chat, but the 30-page PDF uploaded once through the relay (the filter
     * measured it there: 30 x 258 = 7,740 by its id) and named by {@code file_id} in both user turns.
     * The model reads the file once per message naming it, 60 pages (OpenAI bills 60,020 input), and
     * the stream reports no usage. The filter collects the ids of a request into a set, so the file is
     * held once: the call is charged about 7,740 + prompt + 300. Expected: at least what the two inline
     * copies cost, 15,480 (or a 429).
     */
    @Test
    void documentByIdInTwoTurnsIsChargedBothReadings() throws Exception {
        String s = subject();
        String id = upload("/ai/", s, "report.pdf", "application/pdf", pdf(30));
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, twoTurns(filePart(id)));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "a streamed call reading the uploaded 30-page PDF twice by file_id (60,020 billed input, model calls "
                        + calls.of(s) + ") answered " + r.statusCode() + ", charged " + used + "; expected at least "
                        + 60 * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack on the filter's memory, with free requests: a filter remembering 100 figures (the operator's
     * {@code providerStateEntries}; the default 65,536 falls the same way, only to more requests). A
     * 60-page PDF is uploaded through it (figure 15,480 by its id), then 100 one-line text files are
     * uploaded (each released: no model ran, charged 0, yet each adds a figure by its id and pushes
     * the PDF's out). A streamed chat completion without usage then names the PDF: the model reads 60
     * pages (60,020 billed); the filter holds the id as one media item and charges about 1,000.
     * Expected: at least 60 x 258 = 15,480 (or a 429), as without the free uploads.
     */
    @Test
    void freeUploadsDoNotEvictAFilesFigure() throws Exception {
        String s = subject();
        String pdf = upload("/small/", s, "report.pdf", "application/pdf", pdf(60));
        for (int i = 0; i < SMALL_MEMORY; i++) {
            upload("/small/", s, "note" + i + ".txt", "text/plain", ("note " + i).getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(0, settled(s).used(), (SMALL_MEMORY + 1) + " uploads ran no model");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/small/v1/chat/completions"), s, oneTurn(filePart(pdf)));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "after " + SMALL_MEMORY + " free uploads, a streamed call reading the uploaded 60-page PDF by file_id"
                        + " (60,020 billed input, model calls " + calls.of(s) + ") answered " + r.statusCode()
                        + ", charged " + used + "; expected at least " + 60 * PAGE_FLOOR);
    }

    /**
     * Control: the same, with no uploads between: the PDF's figure is there and the call is held and
     * charged at least 15,480 (or refused with 429).
     */
    @Test
    void fileByIdWithoutEvictionIsChargedItsPages() throws Exception {
        String s = subject();
        String pdf = upload("/small/", s, "report.pdf", "application/pdf", pdf(60));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/small/v1/chat/completions"), s, oneTurn(filePart(pdf)));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "a streamed call reading the uploaded 60-page PDF by file_id answered " + r.statusCode() + ", charged "
                        + used + "; expected at least " + 60 * PAGE_FLOOR + " " + ledger(s));
    }
}
