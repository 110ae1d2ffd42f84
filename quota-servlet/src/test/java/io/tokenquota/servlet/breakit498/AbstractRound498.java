package io.tokenquota.servlet.breakit498;

import static io.tokenquota.servlet.testing.PdfFiles.ascii;
import static io.tokenquota.servlet.testing.PdfFiles.deflate;
import static io.tokenquota.servlet.testing.PdfFiles.pageContent;
import static io.tokenquota.servlet.testing.PdfFiles.kids;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.PdfRound;
import io.tokenquota.servlet.testing.PdfFiles;
import java.io.ByteArrayOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 498 of issue 11: the PDF page count after rounds 491 and 495 (MediaSize.pdfPageObjects). It scans
 * the raw bytes for {@code N G obj} headers, the {@code stream} keyword and {@code /Type /Page}, without
 * knowing where a comment or a string is, and recognises a page and an object stream only by a direct
 * {@code /Type}. A PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers
 * plain text without usage is charged its estimate: the pages counted times 258, at least the fallback 1,000.
 * Each finding is a PDF that pdf.js, PDFBox and pdfium open with the same 40 pages (10,320 tokens), counted
 * as 1 page (charged the fallback, 1,000), or an honest 2-page PDF counted as 40.
 */
abstract class AbstractRound498 extends PdfRound {
    AbstractRound498() {
        super(498);
    }

    /**
     * A classic PDF (catalog 1 with {@code catalogExtra}, page tree 2, page {@code 3+2i} spelled
     * {@code << pageType /Parent ... >>} and its content {@code 4+2i} right after it), then {@code tail}
     * before the trailer.
     */
    static byte[] pdf(int pages, String catalogExtra, String pageType, String tail) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii(PdfFiles.head(pages, catalogExtra)));
        PdfFiles.pages(out, pages, pageType, PdfFiles::pageContent);
        out.writeBytes(ascii(tail + "trailer << /Root 1 0 R /Size " + (3 + 2 * pages) + " >>\n%%EOF\n"));
        return out.toByteArray();
    }

    /**
     * A PDF 1.5 file whose 40 page dictionaries sit in one object stream (ISO 32000-1 section 7.5.7) whose
     * dictionary is {@code << streamDict /N 40 /First ... /Length ... >>}; {@code extraObjects} go before it.
     */
    static byte[] objectStreamPdf(String streamDict, String extraObjects) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii(PdfFiles.head(PAGES, "") + extraObjects));
        PdfFiles.PageObjects objects = PdfFiles.PageObjects.of(PAGES);
        byte[] pageStream = deflate(ascii(objects.data()));
        out.writeBytes(ascii("502 0 obj << " + streamDict + " /N " + PAGES + " /First " + objects.first()
                + " /Length " + pageStream.length + " >> stream\n"));
        out.writeBytes(pageStream);
        out.writeBytes(ascii("\nendstream endobj\n"));
        PdfFiles.contentStreams(out, PAGES, PdfFiles::pageContent);
        out.writeBytes(ascii("trailer << /Root 1 0 R /Size 601 >>\n%%EOF\n"));
        return out.toByteArray();
    }

    void assertFortyPages(String s, String what, long used) {
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF " + what + " was charged " + used
                + ", should be at least " + PAGES * PAGE_TOKENS + " (" + PAGES + " x " + PAGE_TOKENS + "): " + ledger(s));
    }

    /** Control: the plain 40-page PDF is charged its 40 pages (passes today). */
    @Test
    void control_aPlainPdfBodyIsChargedItsPages() {
        String s = subject("plain");
        assertFortyPages(s, "(plain)", sendPdf(s, pdf(PAGES, "", "/Type /Page", "")));
    }

    /**
     * A comment ({@code %} to the end of the line, ISO 32000-1 section 7.2.3) is white space to every reader.
     * The filter reads {@code N 0 obj} wherever it appears, and keeps each object number's last version:
     * forty comment lines {@code % 3 0 obj}, {@code % 5 0 obj} ... after the pages make every page's "last
     * version" an empty object. 40 pages charged 1,000 (counted 1), should be 10,320.
     */
    @Test
    void objectHeadersInCommentsDoNotReplaceThePages() {
        String s = subject("comment-objects");
        StringBuilder comments = new StringBuilder();
        for (int i = 0; i < PAGES; i++) {
            comments.append("% ").append(3 + 2 * i).append(" 0 obj\n");
        }
        assertFortyPages(s, "followed by comment lines '% 3 0 obj' ...", sendPdf(s, pdf(PAGES, "", "/Type /Page", comments.toString())));
    }

    /**
     * The same with the headers in a string ({@code (...)}, ISO 32000-1 section 7.3.4.2): a document
     * information entry whose text is {@code 3 0 obj 5 0 obj ...}. 40 pages charged 1,000.
     */
    @Test
    void objectHeadersInAStringDoNotReplaceThePages() {
        String s = subject("string-objects");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < PAGES; i++) {
            text.append(3 + 2 * i).append(" 0 obj ");
        }
        String info = (3 + 2 * PAGES) + " 0 obj << /Keywords (" + text + ") >> endobj\n";
        assertFortyPages(s, "with an info string '3 0 obj 5 0 obj ...'", sendPdf(s, pdf(PAGES, "", "/Type /Page", info)));
    }

    /**
     * The filter takes the first {@code stream} in an object's body as its stream keyword, even inside a
     * string, and then jumps to the next {@code endstream}, skipping every object between. The catalog's
     * {@code /URI << /Base (...) >>} (ISO 32000-1 section 12.6.4.7) naming {@code https://example.com/livestream/},
     * and the page dictionaries written before their content streams (as many writers do): 40 pages charged
     * 1,000 (counted 1), should be 10,320.
     */
    @Test
    void theWordStreamInAStringDoesNotHideThePages() {
        String s = subject("string-stream");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii("%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\n1 0 obj << /Type /Catalog /Pages 2 0 R "
                + "/URI << /Base (https://example.com/livestream/) >> >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [" + kids(PAGES) + "] /Count " + PAGES + " >> endobj\n"));
        for (int i = 0; i < PAGES; i++) {
            out.writeBytes(ascii((3 + 2 * i) + " 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                    + (4 + 2 * i) + " 0 R >> endobj\n"));
        }
        for (int i = 0; i < PAGES; i++) {
            byte[] stream = pageContent(i);
            out.writeBytes(ascii((4 + 2 * i) + " 0 obj << /Length " + stream.length + " /Filter /FlateDecode >> stream\n"));
            out.writeBytes(stream);
            out.writeBytes(ascii("\nendstream endobj\n"));
        }
        out.writeBytes(ascii("trailer << /Root 1 0 R /Size " + (3 + 2 * PAGES) + " >>\n%%EOF\n"));
        assertFortyPages(s, "whose catalog has /URI << /Base (https://example.com/livestream/) >>", sendPdf(s, out.toByteArray()));
    }

    /**
     * A comment may stand wherever white space may, also between a key and its value: {@code /Type %x\n/Page}
     * is {@code /Type /Page} to every reader. The regex {@code /Type\s*\/Page} does not skip comments: 1,000.
     */
    @Test
    void aCommentBetweenTypeAndPageStillCounts() {
        String s = subject("type-comment");
        assertFortyPages(s, "spelling its pages '/Type %x\\n/Page'", sendPdf(s, pdf(PAGES, "", "/Type %x\n/Page", "")));
    }

    /**
     * pdf.js ({@code Catalog.getPageDict}: a node is a page when its type is Page or it has no {@code /Kids}),
     * PDFBox ({@code PDPageTree.isPageTreeNode}: Pages type or {@code /Kids}) and pdfium
     * ({@code CPDF_Document::TraversePDFPages}: a node without {@code /Kids} is a page) all render a leaf of
     * the page tree whose dictionary has no {@code /Type} as a page. The filter counts only {@code /Type /Page}:
     * 40 such pages charged 1,000 (counted 1), should be 10,320.
     */
    @Test
    void pageTreeLeavesWithoutATypeStillCount() {
        String s = subject("no-type");
        assertFortyPages(s, "whose leaf page dictionaries have no /Type", sendPdf(s, pdf(PAGES, "", "", "")));
    }

    /** Control: the 40 page dictionaries in a Flate object stream are counted (passes today). */
    @Test
    void control_pagesInAnObjectStreamCount() {
        String s = subject("objstm");
        assertFortyPages(s, "(pages in an object stream)",
                sendPdf(s, objectStreamPdf("/Type /ObjStm /Filter /FlateDecode", "")));
    }

    /**
     * Readers find an object stream through the cross-reference stream's type-2 entries and read its
     * {@code /N} and {@code /First}; pdf.js ({@code XRef.fetchCompressed}) and PDFBox
     * ({@code PDFObjectStreamParser}) never look at its {@code /Type}. The filter decodes only streams that say
     * {@code /Type /ObjStm}: without it, 40 pages charged 1,000 (counted 1), should be 10,320.
     */
    @Test
    void anObjectStreamWithoutItsTypeStillCounts() {
        String s = subject("objstm-no-type");
        assertFortyPages(s, "whose page object stream has no /Type", sendPdf(s, objectStreamPdf("/Filter /FlateDecode", "")));
    }

    /**
     * Any value in a stream dictionary may be an indirect reference (ISO 32000-1 section 7.3.10; readers resolve
     * {@code /Filter} as they resolve {@code /Length}): {@code /Filter 600 0 R} with {@code 600 0 obj [/FlateDecode]}.
     * The filter reads the chain only when it is written inline, takes the compressed bytes as undecoded and finds
     * no page in them: 40 pages charged 1,000 (counted 1), should be 10,320.
     */
    @Test
    void anObjectStreamWhoseFilterIsAReferenceStillCounts() {
        String s = subject("objstm-filter-ref");
        assertFortyPages(s, "whose page object stream says /Filter 600 0 R", sendPdf(s,
                objectStreamPdf("/Type /ObjStm /Filter 600 0 R", "600 0 obj [/FlateDecode] endobj\n")));
    }

    /**
     * A 2-page letter with a 40-page PDF attached (an embedded file, ISO 32000-1 section 7.11.4). Readers and
     * models render the letter's 2 pages; the attachment is data. When the attachment is stored deflated, the
     * filter jumps over it (the control). When it is stored uncompressed ({@code qpdf --qdf} or
     * {@code --stream-data=uncompress}, as people do to inspect or edit a PDF), the attachment's own
     * {@code endstream} ends the jump early, and its 40 page objects (numbered 3, 5, ... like the letter's)
     * are read as the letter's (the attachment's last versions of 3 and 5 replace the letter's): the honest
     * letter is held 40 pages (10,320) and charged 10,506, where the same letter with the attachment deflated is
     * charged 1,000 (the fallback, above its 2 pages).
     */
    @Test
    void anUncompressedPdfAttachmentIsNotCountedAsPages() {
        byte[] attachment = pdf(PAGES, "", "/Type /Page", "");
        long deflated = sendPdf(subject("attached-deflated"), letterWith(attachment, true));
        String s = subject("attached-plain");
        long used = sendPdf(s, letterWith(attachment, false));
        assertTrue(deflated < 4 * PAGE_TOKENS + 1_000, kind() + ": control: the letter with its attachment deflated "
                + "was charged " + deflated);
        assertTrue(used <= deflated + 500, kind() + ": a 2-page letter with a 40-page PDF attached uncompressed was "
                + "charged " + used + "; the same letter with the attachment deflated was charged " + deflated + ": "
                + ledger(s));
    }

    static byte[] letterWith(byte[] attachment, boolean deflated) {
        byte[] data = deflated ? deflate(attachment) : attachment;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii("%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\n1 0 obj << /Type /Catalog /Pages 2 0 R "
                + "/Names << /EmbeddedFiles << /Names [(appendix.pdf) 7 0 R] >> >> >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >> endobj\n"));
        PdfFiles.pages(out, 2, "/Type /Page", PdfFiles::pageContent);
        out.writeBytes(ascii("7 0 obj << /Type /Filespec /F (appendix.pdf) /UF (appendix.pdf) /EF << /F 8 0 R >> >> endobj\n"
                + "8 0 obj << /Type /EmbeddedFile /Subtype /application#2Fpdf /Length " + data.length
                + (deflated ? " /Filter /FlateDecode" : "") + " >> stream\n"));
        out.writeBytes(data);
        out.writeBytes(ascii("\nendstream endobj\ntrailer << /Root 1 0 R /Size 9 >>\n%%EOF\n"));
        return out.toByteArray();
    }
}
