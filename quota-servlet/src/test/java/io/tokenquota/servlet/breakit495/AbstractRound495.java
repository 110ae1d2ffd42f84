package io.tokenquota.servlet.breakit495;

import static io.tokenquota.servlet.testing.PdfFiles.ascii;
import static io.tokenquota.servlet.testing.PdfFiles.deflate;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.PdfRound;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Round 495 of issue 11: how the filter counts a PDF's pages (MediaSize.pdfPageObjects: the regex
 * {@code /Type\s*\/Page} over the raw bytes and over inflated object streams, within an 8 MB inflation
 * budget). A PDF sent as the body ({@code curl --data-binary @report.pdf -H 'Content-Type: application/pdf'})
 * to a summariser that answers plain text without usage is charged its estimate: the pages counted times 258.
 * Each finding is a PDF every reader renders with the same 40 pages, counted otherwise.
 */
abstract class AbstractRound495 extends PdfRound {
    AbstractRound495() {
        super(495);
    }

    /** A page's text, deflated as a PDF writer does ({@code /Filter /FlateDecode}, ISO 32000-1 section 7.4.4). */
    static byte[] pageContent(Random words, int page) {
        String[] vocabulary = {"revenue", "quarter", "margin", "growth", "customers", "region", "costs", "forecast",
                "segment", "operating", "income", "during", "compared", "increase", "percent", "million", "the", "of"};
        StringBuilder content = new StringBuilder("BT /F1 11 Tf 72 740 Td 14 TL\n");
        for (int line = 0; line < 48; line++) {
            content.append('(');
            for (int w = 0; w < 12; w++) {
                content.append(vocabulary[words.nextInt(vocabulary.length)]).append(' ');
            }
            content.append(") '\n");
        }
        content.append("ET");
        return deflate(ascii(content.toString()));
    }

    /**
     * A classic PDF of {@code pages} pages (catalog 1, page tree 2, page {@code 3+2i} and its content
     * {@code 4+2i}); {@code pageType} is how each page dictionary spells its type.
     */
    static byte[] pdf(int pages, String pageType) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random words = new Random(495);
        out.writeBytes(ascii(PdfFiles.head(pages, "")));
        PdfFiles.pages(out, pages, "/Type " + pageType, i -> pageContent(words, i));
        out.writeBytes(ascii("trailer << /Root 1 0 R /Size " + (3 + 2 * pages) + " >>\n%%EOF\n"));
        return out.toByteArray();
    }

    /** Control: the plain 40-page PDF sent as the body is charged its 40 pages (and passes today). */
    @Test
    void control_aPlainPdfBodyIsChargedItsPages() {
        String s = subject("plain");
        long used = sendPdf(s, pdf(PAGES, "/Page"));
        assertTrue(used >= PAGES * PAGE_TOKENS && used < (PAGES + 4) * PAGE_TOKENS, kind() + ": charged " + used
                + ", should be about " + PAGES * PAGE_TOKENS + ": " + ledger(s));
    }

    /**
     * A name may spell any character as {@code #xx} (ISO 32000-1 section 7.3.5: {@code /Pag#65} is the
     * name {@code /Page}, identical to it for every reader). The filter's regex reads the raw spelling: the
     * 40 pages count 0, the PDF is held as 1 page, and the call is charged 258 (the body's fallback,
     * 1,000) for 40 pages the model read, 10,320.
     */
    @Test
    void aPageTypeSpelledWithANameEscapeStillCountsItsPages() {
        String s = subject("escape");
        long used = sendPdf(s, pdf(PAGES, "/Pag#65"));
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF whose page dictionaries say "
                + "/Type /Pag#65 (the name /Page, ISO 32000-1 7.3.5) was charged " + used + ", should be at least "
                + PAGES * PAGE_TOKENS + ": " + ledger(s));
    }

    /**
     * PDF 1.5 object streams (ISO 32000-1 section 7.5.7) hold the page dictionaries compressed. Round 495 found the
     * filter inflating them within 8 MB in all and in file order: one object stream first that inflates to 8 MB of
     * whitespace (legal between objects; deflates to ~8 KB) spent the whole budget, and the 40 page dictionaries in
     * the next object stream were never read (held as 1 page). Each stream now has a bound of its own.
     */
    @Test
    void pagesInAnObjectStreamAfterAPaddedOneStillCount() {
        String s = subject("budget");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random words = new Random(495);
        out.writeBytes(ascii(PdfFiles.head(PAGES, "")));
        // the padding object stream: one object (an info dictionary) then 8 MB of whitespace
        String pad = "500 0 << /Producer (pad) >>" + " ".repeat(8 << 20);
        byte[] padded = deflate(ascii(pad));
        out.writeBytes(ascii("501 0 obj << /Type /ObjStm /N 1 /First 6 /Length " + padded.length
                + " /Filter /FlateDecode >> stream\n"));
        out.writeBytes(padded);
        out.writeBytes(ascii("\nendstream endobj\n"));
        // the page dictionaries, compressed in an object stream as PDF 1.5 writers do
        PdfFiles.PageObjects objects = PdfFiles.PageObjects.of(PAGES);
        byte[] pageStream = deflate(ascii(objects.data()));
        out.writeBytes(ascii("502 0 obj << /Type /ObjStm /N " + PAGES + " /First " + objects.first()
                + " /Length " + pageStream.length + " /Filter /FlateDecode >> stream\n"));
        out.writeBytes(pageStream);
        out.writeBytes(ascii("\nendstream endobj\n"));
        PdfFiles.contentStreams(out, PAGES, i -> pageContent(words, i));
        out.writeBytes(ascii("trailer << /Root 1 0 R /Size 503 >>\n%%EOF\n"));
        byte[] pdf = out.toByteArray();
        assertTrue(pdf.length < 200_000, "a small file: " + pdf.length);
        long used = sendPdf(s, pdf);
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF (" + pdf.length + " bytes) whose "
                + "pages are in an object stream after one that inflates to 8 MB was charged " + used
                + ", should be at least " + PAGES * PAGE_TOKENS + ": " + ledger(s));
    }

    /**
     * An incremental update (ISO 32000-1 section 7.5.6) appends new versions of changed objects after the
     * first %%EOF: a reviewer's comment on every page (Acrobat, Preview, pdf.js annotation saving) rewrites
     * each page dictionary with its {@code /Annots}. The file still has 40 pages, but every page object is in
     * it twice; the filter counts both: charged 80 pages (20,640) for a 40-page document the model read.
     */
    @Test
    void anIncrementallyUpdatedPdfIsChargedItsPagesOnce() {
        String s = subject("incremental");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] original = pdf(PAGES, "/Page");
        out.writeBytes(original);
        int next = 3 + 2 * PAGES;
        StringBuilder update = new StringBuilder();
        for (int i = 0; i < PAGES; i++) {
            int page = 3 + 2 * i;
            int annot = next + i;
            update.append(annot).append(" 0 obj << /Type /Annot /Subtype /Text /Rect [500 700 520 720] /Contents "
                    + "(checked) /P ").append(page).append(" 0 R >> endobj\n");
            update.append(page).append(" 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ")
                    .append(page + 1).append(" 0 R /Annots [").append(annot).append(" 0 R] >> endobj\n");
        }
        update.append("trailer << /Root 1 0 R /Size ").append(next + PAGES).append(" /Prev 0 >>\n%%EOF\n");
        out.writeBytes(ascii(update.toString()));
        long plain = sendPdf(subject("incremental-control"), original);
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summarize-pdf"), s,
                "Content-Type", "application/pdf").POST(HttpRequest.BodyPublishers.ofByteArray(out.toByteArray())).build());
        // today: 429, held 20,640 (80 pages) on the 20,000 allowance, where the same document before its
        // comments is held 10,320 and served
        assertEquals(200, r.statusCode(), kind() + ": an honest " + PAGES + "-page PDF with a comment on each page "
                + "(incremental update) was refused; the same PDF without them was charged " + plain + ": " + r.body());
        long used = settled(s).used();
        assertTrue(used <= plain + 500, kind() + ": a " + PAGES + "-page PDF with one comment on each page, saved as "
                + "an incremental update, was charged " + used + "; the same PDF before the comments was charged "
                + plain + " (" + PAGES + " pages at " + PAGE_TOKENS + "), and the update adds " + PAGES + " short comments: "
                + ledger(s));
    }

    /**
     * Readers accept bytes before the header (ISO 32000-1 Annex H.3 / Acrobat: the header within the first
     * 1,024 bytes); e.g. a PDF produced by a web app that prefixed a BOM or a blank line. The filter looks
     * for {@code %PDF-} at byte 0 only: such a 40-page PDF is held as text (the fallback, 1,000).
     */
    @Test
    void aPdfWithBytesBeforeItsHeaderStillCountsItsPages() {
        String s = subject("junk");
        byte[] pdf = pdf(PAGES, "/Page");
        byte[] prefixed = new byte[pdf.length + 2];
        prefixed[0] = '\r';
        prefixed[1] = '\n';
        System.arraycopy(pdf, 0, prefixed, 2, pdf.length);
        long used = sendPdf(s, prefixed);
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF after a blank line was charged "
                + used + ", should be at least " + PAGES * PAGE_TOKENS + ": " + ledger(s));
    }

    /**
     * A stream may carry a chain of filters (ISO 32000-1 section 7.4: {@code /Filter [/ASCIIHexDecode
     * /FlateDecode]}, as qpdf and others write a "safe" 7-bit file); every reader decodes it. The filter
     * inflates an object stream's raw bytes as Flate only: the hex text fails to inflate, and the 40 page
     * dictionaries inside are never seen: held as 1 page.
     */
    @Test
    void pagesInAHexEncodedObjectStreamStillCount() {
        String s = subject("hex");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random words = new Random(495);
        out.writeBytes(ascii(PdfFiles.head(PAGES, "")));
        PdfFiles.PageObjects objects = PdfFiles.PageObjects.of(PAGES);
        byte[] deflated = deflate(ascii(objects.data()));
        StringBuilder hex = new StringBuilder();
        for (byte b : deflated) {
            hex.append(String.format("%02X", b & 0xFF));
        }
        hex.append('>');
        out.writeBytes(ascii("502 0 obj << /Type /ObjStm /N " + PAGES + " /First " + objects.first()
                + " /Length " + hex.length() + " /Filter [/ASCIIHexDecode /FlateDecode] >> stream\n" + hex
                + "\nendstream endobj\n"));
        PdfFiles.contentStreams(out, PAGES, i -> pageContent(words, i));
        out.writeBytes(ascii("trailer << /Root 1 0 R /Size 503 >>\n%%EOF\n"));
        long used = sendPdf(s, out.toByteArray());
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF whose page dictionaries are in an "
                + "object stream filtered [/ASCIIHexDecode /FlateDecode] was charged " + used + ", should be at least "
                + PAGES * PAGE_TOKENS + ": " + ledger(s));
    }
}
