package io.tokenquota.servlet.breakit505;

import static io.tokenquota.servlet.testing.PdfFiles.ascii;
import static io.tokenquota.servlet.testing.PdfFiles.deflate;
import static io.tokenquota.servlet.testing.PdfFiles.kids;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.PdfRound;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 505 of issue 11: the PDF page count after round 498 (PdfPages, its lexer). A PDF sent as the body
 * ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged
 * its estimate: the pages counted times 258, at least the fallback 1,000. Every PDF here is written with a
 * correct cross-reference table (ISO 32000-1 section 7.5.4), so a reader finds each object at its offset;
 * PDFBox 3.0.8 ({@code Loader.loadPDF}, {@code getNumberOfPages}, {@code PDFRenderer.renderImage}) opens
 * each with the page count stated.
 */
abstract class AbstractRound505 extends PdfRound {
    static final Map<String, CompletableFuture<Long>> ALLOCATED = new ConcurrentHashMap<>();

    AbstractRound505() {
        super(505);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("meter", new AllocationMeter(), "/*")
                .filter("quota", filter, "/*")
                .servlet("raw", new PdfFiles.Summarizer(calls), "/ai/summarize-pdf");
    }

    /** What the request thread allocates in the quota filter and the endpoint (the filter estimates on it). */
    public static class AllocationMeter implements Filter {
        @Override
        public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
            com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long before = threads.getCurrentThreadAllocatedBytes();
            try {
                chain.doFilter(req, res);
            } finally {
                String s = ((HttpServletRequest) req).getHeader("x-user-id");
                if (s != null) {
                    ALLOCATED.computeIfAbsent(s, k -> new CompletableFuture<>())
                            .complete(threads.getCurrentThreadAllocatedBytes() - before);
                }
            }
        }
    }

    /**
     * A 40-page report whose catalog names an uncompressed XMP metadata stream (ISO 32000-1 section 14.3.2;
     * XMP is kept uncompressed so tools can find it), written before the pages, whose {@code /Length} is an
     * indirect object (section 7.3.8.2: "the number of bytes ... may be an indirect object", so a writer can
     * write the length once the data is out). Its description text holds {@code endstream ((((((((}.
     * {@code lengthAdjacent}: the length object right after the stream (as qpdf writes it), else after the
     * pages, before the cross-reference table.
     */
    static byte[] reportWithMetadata(boolean lengthAdjacent) {
        byte[] xmp = ascii("<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>\n<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
                + "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description rdf:about=''"
                + " xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:description>notes: endstream ((((((((</dc:description>"
                + "</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end='w'?>");
        PdfFiles.Writer pdf = new PdfFiles.Writer();
        pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R /Metadata 100 0 R >>");
        pdf.obj(2, "<< /Type /Pages /Kids [" + kids(PAGES) + "] /Count " + PAGES + " >>");
        pdf.stream(100, "/Type /Metadata /Subtype /XML /Length 101 0 R", xmp);
        if (lengthAdjacent) {
            pdf.obj(101, String.valueOf(xmp.length));
        }
        pdf.pages(PAGES);
        if (!lengthAdjacent) {
            pdf.obj(101, String.valueOf(xmp.length));
        }
        return pdf.finish();
    }

    /**
     * A 2-page letter with a 40-page PDF attached uncompressed (an embedded file, ISO 32000-1 section 7.11.4),
     * the attachment's {@code /Length} an indirect object 9, right after it or after the letter's font.
     */
    static byte[] letterWithAttachment(boolean lengthAdjacent) {
        PdfFiles.Writer attached = new PdfFiles.Writer();
        attached.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
        attached.obj(2, "<< /Type /Pages /Kids [" + kids(PAGES) + "] /Count " + PAGES + " >>");
        byte[] attachment = attached.pages(PAGES).finish();
        PdfFiles.Writer pdf = new PdfFiles.Writer();
        pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(appendix.pdf) 7 0 R] >> >> >>");
        pdf.obj(2, "<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>");
        pdf.obj(7, "<< /Type /Filespec /F (appendix.pdf) /UF (appendix.pdf) /EF << /F 8 0 R >> >>");
        pdf.stream(8, "/Type /EmbeddedFile /Subtype /application#2Fpdf /Length 9 0 R", attachment);
        if (lengthAdjacent) {
            pdf.obj(9, String.valueOf(attachment.length));
        }
        pdf.pages(2);
        if (!lengthAdjacent) {
            pdf.obj(9, String.valueOf(attachment.length));
        }
        return pdf.finish();
    }

    /**
     * A one-page PDF with {@code streams} object streams (ISO 32000-1 section 7.5.7), each holding one page-tree
     * node whose {@code /Kids} names page 3 over and over: deflated to a few KB, padded after the end of its
     * deflate data to a hundredth of what it decodes to, so each is decoded to the full 8 MB bound.
     */
    static byte[] objectStreamsOfKids(int streams) {
        int decoded = 8_000_000;
        PdfFiles.Writer pdf = new PdfFiles.Writer();
        pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
        pdf.obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        pdf.obj(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>");
        for (int k = 0; k < streams; k++) {
            String header = (5000 + k) + " 0 ";
            StringBuilder body = new StringBuilder(header).append("<< /Type /Pages /Kids [");
            while (body.length() < decoded - 8) {
                body.append("3 0 R ");
            }
            byte[] deflated = deflate(ascii(body.append("] >>").toString()));
            byte[] data = Arrays.copyOf(deflated, Math.max(deflated.length, decoded / 100 + 16));
            pdf.stream(10 + k, "/Type /ObjStm /N 1 /First " + header.length() + " /Filter /FlateDecode /Length " + data.length, data);
        }
        return pdf.finish();
    }

    @Override
    protected long sendPdf(String s, byte[] pdf) {
        // a long timeout: the count of the hostile body below takes over 30 s in the suite's C1-only JVM
        return charged(s, TestHttp.send(pdfRequest(s, pdf).timeout(java.time.Duration.ofMinutes(5)).build()));
    }

    long allocated(String s) throws Exception {
        return ALLOCATED.computeIfAbsent(s, k -> new CompletableFuture<>()).get(30, TimeUnit.SECONDS);
    }

    void assertFortyPages(String s, String what, long used) {
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF " + what + " was charged " + used
                + ", should be at least " + PAGES * PAGE_TOKENS + " (" + PAGES + " x " + PAGE_TOKENS + "): " + ledger(s));
    }

    /** Control: the 40-page report whose metadata length object follows the stream is charged its pages (passes today). */
    @Test
    void control_aLengthObjectRightAfterItsStreamIsRead() {
        String s = subject("len-adjacent");
        assertFortyPages(s, "with its metadata's /Length object right after the stream", sendPdf(s, reportWithMetadata(true)));
    }

    /**
     * The same 40-page report with the metadata's length object written after the pages. Readers take the
     * stream's bytes by the length they resolve through the cross-reference table (PDFBox 3.0.8 renders all 40
     * pages). PdfPages looks for the length object only right after the stream; not found there, it ends the
     * stream at the first {@code endstream} in its data, lexes the rest of the XMP as objects, and the
     * description's {@code ((((((((} opens a string no page after it closes: counted 0 pages, charged the
     * fallback 1,000, should be at least 10,320.
     */
    @Test
    void aLengthObjectWrittenAfterThePagesDoesNotHideThem() {
        String s = subject("len-later");
        assertFortyPages(s, "with its metadata's /Length object written after the pages", sendPdf(s, reportWithMetadata(false)));
    }

    /**
     * An honest 2-page letter with a 40-page PDF attached uncompressed, the attachment's length an indirect
     * object after the letter's pages (PDFBox 3.0.8: 2 pages either way). With the length object right after the
     * attachment (the control) it is charged the fallback, 1,000; with it later, the attachment ends at its
     * own first {@code endstream}, its objects are read as the letter's and its pages counted (39, their
     * numbers replacing the letter's 3 and 5): charged 10,062 + the answer, should be what the control is.
     */
    @Test
    void anAttachmentWhoseLengthObjectComesLaterIsNotCountedAsPages() {
        long adjacent = sendPdf(subject("attached-len-adjacent"), letterWithAttachment(true));
        String s = subject("attached-len-later");
        long used = sendPdf(s, letterWithAttachment(false));
        assertTrue(adjacent < 4 * PAGE_TOKENS + 1_000, kind() + ": control: the letter with its attachment's length "
                + "object right after it was charged " + adjacent);
        assertTrue(used <= adjacent + 500, kind() + ": a 2-page letter with a 40-page PDF attached uncompressed, its "
                + "/Length an object written after the letter's pages, was charged " + used + "; with the length object "
                + "right after the attachment, " + adjacent + ": " + ledger(s));
    }

    /** Control: an honest 40-page PDF body costs the request thread a few MB to count and serve (passes today). */
    @Test
    void control_anHonestPdfIsCountedInAFewMegabytes() throws Exception {
        String s = subject("alloc-honest");
        sendPdf(s, reportWithMetadata(true));
        long bytes = allocated(s);
        assertTrue(bytes < 64L << 20, kind() + ": an honest 40-page PDF allocated " + (bytes >> 20) + " MB");
    }

    /**
     * A 0.96 MB PDF body (under the default 1 MB limit) of 12 object streams, each 80 KB decoding to 8 MB of
     * {@code 3 0 R 3 0 R ...} in one {@code /Kids}. Each stream is within its bounds (8 MB, 100 times its size),
     * but PdfPages then parses each 8 MB into a list of 1.3 million references and keeps each node's
     * {@code /Kids} as a long[] (10.7 MB each, all 12 held until the count ends): outside the filter the count
     * needs more than 160 MB of heap (it fails with OutOfMemoryError at -Xmx160m) and allocates 3.9 GB, 1.8 to
     * 2.6 s of CPU. In the suite's JVM (C1 only) the request thread allocated 3,936 MB and the request took 25 to
     * 30 s (past the 30 s client timeout of TestHttp); should stay within
     * the 256 MB asserted (an honest PDF takes a few, the control).
     */
    @Test
    void objectStreamsOfKidsDoNotTakeHundredsOfMegabytes() throws Exception {
        String s = subject("alloc-kids");
        byte[] pdf = objectStreamsOfKids(12);
        assertTrue(pdf.length < 1_000_000, "the body is within the default limit: " + pdf.length);
        long start = System.nanoTime();
        sendPdf(s, pdf);
        long millis = (System.nanoTime() - start) / 1_000_000;
        long bytes = allocated(s);
        assertTrue(bytes < 256L << 20, kind() + ": a " + pdf.length + "-byte PDF body made the request thread allocate "
                + (bytes >> 20) + " MB and take " + millis + " ms to count its pages (should be under 256 MB): " + ledger(s));
    }
}
