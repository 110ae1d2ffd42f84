package io.tokenquota.servlet.breakit543;


import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfRound;
import org.junit.jupiter.api.Test;

/**
 * Round 543 of issue 11: the page count of round 536 against what PDFBox 3.0.8 reads. A PDF sent as the body
 * ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its
 * estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)} (no password given: the empty user password), {@code isEncrypted()},
 * {@code getNumberOfPages()}, iterating {@code getPages()} and {@code PDFTextStripper.getText} (the pages whose
 * text came out); the figures are in each test.
 */
abstract class AbstractRound543 extends PdfRound {
    AbstractRound543() {
        super(543);
    }

    /**
     * Control: the 40-page report as PDF 1.5 writers save it, its dictionaries in a Flate object stream placed by a
     * cross-reference stream, not encrypted: counted 40 (passes today).
     */
    @Test
    void control_fortyPagesInAnObjectStreamAreCharged() {
        String s = subject("objstm");
        assertAtLeast(s, PAGES, "isEncrypted() false, getNumberOfPages() 40, iterator 40, text of 40",
                "whose page dictionaries are in an object stream", sendPdf(s, ObjectStreamPdfs.report(PAGES, false)));
    }

    /**
     * The same report protected with an owner password and an empty user password (standard security handler,
     * revision 3, 128-bit RC4), as "secured" PDFs that forbid printing, copying or changes are: every reader opens
     * one without asking for a password, PDFBox included ({@code Loader.loadPDF} tries the empty user password):
     * isEncrypted() true, getNumberOfPages() 40, iterator 40, text of 40 pages. Encryption covers the object
     * stream's data (only the cross-reference stream is left in the clear, ISO 32000-1 section 7.6.1), so what
     * PdfPages inflates is RC4 ciphertext: no object of the stream is read, the catalog, the tree and the 40 pages
     * among them, and the count is 0: charged the 1,000-token fallback, should be at least 10,320 (40 x 258). The
     * number of pages does not change the charge, so an encrypted document of any length written with object
     * streams (PDFBox's compressed save, qpdf, Acrobat since PDF 1.5) costs 1,000. (With PDFBox 3.0.8's own
     * {@code protect} and compressed {@code save}: 40 pages counted 0 under 40-bit RC4, 128-bit AES and 256-bit AES
     * alike; the same files saved without object streams count 40, their dictionaries being in the clear.)
     */
    @Test
    void anEncryptedFileWithItsPagesInAnObjectStreamIsCharged() {
        String s = subject("encrypted-objstm");
        assertAtLeast(s, PAGES, "isEncrypted() true, getNumberOfPages() 40, iterator 40, text of 40",
                "protected by an owner password, its page dictionaries in an object stream",
                sendPdf(s, ObjectStreamPdfs.report(PAGES, true)));
    }
    /** Control: the 40 pages written in the tree's {@code /Kids}, the tree in an object stream in header order: 40 (passes today). */
    @Test
    void control_anInlineTreeInAnObjectStreamIsCharged() {
        String s = subject("inline-ascending");
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, iterator 40, text of 40",
                "whose tree, in an object stream, holds its 40 page dictionaries", sendPdf(s, ObjectStreamPdfs.inlineTree(PAGES, false)));
    }

    /**
     * The same file with the object stream's three objects laid out font, tree, catalog while its header lists them
     * by number (catalog, tree, font), so the header's offsets decrease (the standard asks writers for increasing
     * offsets; a hostile client need not follow it). PDFBox 3.0.8 ({@code PDFObjectStreamParser}) reads each object
     * at the offset its pair gives: getNumberOfPages() 40, iterator 40, text of 40 pages, so a summariser reading the
     * body with PDFBox sends the model 40 pages (pdf.js refuses the stream, "Invalid offset in the ObjStm stream",
     * and shows nothing: a reader that takes it reads 40, none reads fewer). PdfPages.objectStream takes offsets that do not increase
     * as a header that "misplaces" an object, records none of the stream's objects and reads the stream loosely,
     * counting only top-level page dictionaries: the catalog and the tree are lost, the 40 pages inside the tree's
     * {@code /Kids} are no top-level dictionary, the count is 0: charged the 1,000-token fallback, should be at least
     * 10,320 (40 x 258), whatever the number of pages. (Also with the pages as objects of the stream and a tree
     * naming each of 20 twice, a duplex layout: PDFBox iterates 40 and extracts 40, PdfPages counts each page
     * dictionary once, 20; in header order 40.)
     */
    @Test
    void anObjectStreamWhoseOffsetsDecreaseStillCounts() {
        String s = subject("inline-descending");
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, iterator 40, text of 40",
                "whose tree, in an object stream laid out against its header's order, holds its 40 page dictionaries",
                sendPdf(s, ObjectStreamPdfs.descendingInlineTree(PAGES)));
    }
}
