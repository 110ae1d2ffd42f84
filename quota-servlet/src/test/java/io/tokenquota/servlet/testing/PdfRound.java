package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

    /** What PDFBox 3.0.8 read of the 40-page report ({@link ObjectStreamPdfs#report}) in the rounds' scratch programs. */
    protected static final String PDFBOX_40 = "getNumberOfPages() 40, iterator 40, text of 40";

    /** What PDFBox 3.0.8 read of a 40-page file whose text the scratch program did not extract. */
    protected static final String PDFBOX_40_PAGES = "getNumberOfPages() 40, iterator 40";

    private final int round;
    private final String pdfbox;
    protected final ModelCalls calls = new ModelCalls();

    /** {@code round}: the round's number, in its subjects. */
    protected PdfRound(int round) {
        this(round, PDFBOX_40);
    }

    /** {@code pdfbox}: what PDFBox read of the round's files, in {@link #assertAtLeast(String, int, String, long)}'s message. */
    protected PdfRound(int round, String pdfbox) {
        this.round = round;
        this.pdfbox = pdfbox;
    }

    /** A file's bytes as text, one character a byte. */
    protected static String text(byte[] b) {
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    /** Text as a file's bytes, one byte a character. */
    protected static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
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

    /** Asserts {@code s} was charged at least {@code pages} pages; {@code pdfbox}: what PDFBox 3.0.8 read of the file. */
    protected void assertAtLeast(String s, int pages, String pdfbox, String what, long used) {
        assertTrue(used >= pages * PAGE_TOKENS, kind() + ": a PDF of " + pages + " pages (PDFBox 3.0.8: " + pdfbox
                + ") " + what + " was charged " + used + ", should be at least " + pages * PAGE_TOKENS + " ("
                + pages + " x " + PAGE_TOKENS + "): " + ledger(s));
    }

    /** Sends {@code pdf} as a new subject named {@code name} and asserts it was charged the report's 40 pages at least. */
    protected void assertCharged(String name, String what, byte[] pdf) {
        String s = subject(name);
        assertAtLeast(s, PAGES, what, sendPdf(s, pdf));
    }

    /** {@link #assertAtLeast(String, int, String, String, long)} of a file PDFBox read as the 40-page report. */
    protected void assertAtLeast(String s, int pages, String what, long used) {
        assertAtLeast(s, pages, pdfbox, what, used);
    }

    /**
     * The clear report ({@link ObjectStreamPdfs#report}) with the object stream's header and dictionary rewritten
     * from {@code format} (its three {@code %s} are /N, /First and /Length), padded with spaces before the closing
     * {@code >>} to the same length, so every offset in the cross-reference stream stays right.
     */
    protected static byte[] rewritten(String format) {
        byte[] pdf = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        Matcher m = Pattern.compile("300 0 obj\n<< /Type /ObjStm /N (\\d+) /First (\\d+) /Length (\\d+) /Filter /FlateDecode >>")
                .matcher(text);
        assertTrue(m.find(), "the object stream's dictionary");
        String written = String.format(format, m.group(1), m.group(2), m.group(3));
        int room = m.end() - m.start() - written.length();
        assertTrue(room >= 0, "fits: " + written);
        written = written.substring(0, written.length() - 2) + " ".repeat(room) + ">>";
        byte[] bytes = written.getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(m.end() - m.start(), bytes.length);
        System.arraycopy(bytes, 0, pdf, m.start(), bytes.length);
        return pdf;
    }
}
