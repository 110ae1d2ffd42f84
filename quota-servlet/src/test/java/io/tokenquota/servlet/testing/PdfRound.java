package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;

/**
 * A round on the PDF page count: a PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser
 * that answers plain text without usage ({@link PdfFiles.Summarizer}) is charged its estimate, the pages counted
 * times {@link #PAGE_TOKENS}. The rounds share the endpoint and the way a PDF is sent so that each keeps only
 * the files its attack writes ({@link PdfFiles}).
 */
public abstract class PdfRound extends H2FilterRound {
    protected static final int PAGES = 40;
    /** What the filter holds a PDF page at where it knows no model's rate (MediaSize.PDF_PAGE_TOKENS). */
    protected static final long PAGE_TOKENS = 258;

    private final int round;
    protected final ModelCalls calls = new ModelCalls();

    /** {@code round}: the round's number, in its subjects. */
    protected PdfRound(int round) {
        this.round = round;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("raw", new PdfFiles.Summarizer(calls), "/ai/summarize-pdf");
    }

    protected String subject(String what) {
        return "r" + round + "-" + what + "-" + kind() + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** The PDF request of {@code s}, to be sent (or sent with a longer timeout). */
    protected HttpRequest.Builder pdfRequest(String s, byte[] pdf) {
        return TestHttp.requestAs(container.uri("/ai/summarize-pdf"), s, "Content-Type", "application/pdf")
                .POST(HttpRequest.BodyPublishers.ofByteArray(pdf));
    }

    /** Sends {@code pdf} as {@code s}: one model call, 200; returns what the call was charged. */
    protected long sendPdf(String s, byte[] pdf) {
        return charged(s, TestHttp.send(pdfRequest(s, pdf).build()));
    }

    protected long charged(String s, HttpResponse<String> r) {
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }
}
