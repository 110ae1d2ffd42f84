package io.tokenquota.servlet.breakit526;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import org.junit.jupiter.api.Test;

/**
 * Round 526 of issue 11: the PDF page count walks the page tree as a set of page objects. A PDF sent as the
 * body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is
 * charged its estimate: the pages counted times 258, at least the fallback 1,000.
 *
 * <p>A page is a position in the page tree, not an object: ISO 32000-1 section 7.7.3.2 defines the pages
 * as the leaves of the tree in the order a walk of {@code /Kids} meets them, and nothing keeps a writer from
 * naming one page object in several places (a blank separator, a repeated cover, a duplex file that repeats
 * each sheet). PDFBox 3.0.8 walks the tree that way: {@code PDPageTree}'s iterator enqueues a leaf each time
 * a {@code /Kids} names it (only a node it has seen is skipped, against cycles), {@code getNumberOfPages()}
 * reads {@code /Count}, and {@code PDFRenderer.renderImage(i)} renders each index. Each file below was run
 * through PDFBox 3.0.8 in a scratch program (not a dependency of this project): {@code Loader.loadPDF},
 * {@code getNumberOfPages()}, iterating {@code getPages()}, and rendering every index; the figures are in
 * each test. PdfPages.count() collects the leaves into a {@code Set<Long>} of object numbers, so a page
 * object named n times is one page.
 */
abstract class AbstractRound526 extends PdfRound {
    AbstractRound526() {
        super(526);
    }

    /**
     * A report whose page tree 2 has {@code /Kids} naming page objects {@code 3+2i} for each {@code i} of
     * {@code kids} (a page index may repeat), {@code /Count} the number of entries; each distinct page object
     * and its content are written once, with one cross-reference table (section 7.5.4).
     */
    static byte[] report(int[] kids, String catalogType, String treeType, String pageType) {
        StringBuilder k = new StringBuilder();
        int distinct = 0;
        for (int i : kids) {
            k.append(3 + 2 * i).append(" 0 R ");
            distinct = Math.max(distinct, i + 1);
        }
        PdfFiles.Writer w = new PdfFiles.Writer();
        w.obj(1, "<< " + catalogType + "/Pages 2 0 R >>");
        w.obj(2, "<< " + treeType + "/Kids [" + k + "] /Count " + kids.length + " >>");
        for (int i = 0; i < distinct; i++) {
            byte[] content = PdfFiles.pageContent(i);
            int page = 3 + 2 * i;
            w.obj(page, "<< " + pageType + "/Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 200 0 R >> >>"
                    + " /Contents " + (page + 1) + " 0 R >>");
            w.stream(page + 1, "/Length " + content.length + " /Filter /FlateDecode", content);
        }
        w.obj(200, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        return w.finish();
    }

    static byte[] typedReport(int[] kids) {
        return report(kids, "/Type /Catalog ", "/Type /Pages ", "/Type /Page ");
    }

    static int[] range(int n) {
        int[] kids = new int[n];
        for (int i = 0; i < n; i++) {
            kids[i] = i;
        }
        return kids;
    }

    /** PDFBox 3.0.8's figures for a file whose leaves all carry {@code /Type /Page}. */
    static final String PDFBOX_ALL = "getNumberOfPages() 40, its iterator 40, 40 rendered";
    /** PDFBox 3.0.8's figures for a file whose leaves carry no {@code /Type}. */
    static final String PDFBOX_UNTYPED = "getNumberOfPages() 40, its iterator 0, 40 rendered by index";

    void assertFortyPages(String s, String pdfbox, String what, long used) {
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a PDF of " + PAGES + " pages (PDFBox 3.0.8: "
                + pdfbox + ") " + what + " was charged " + used
                + ", should be at least " + PAGES * PAGE_TOKENS + " (" + PAGES + " x " + PAGE_TOKENS + "): " + ledger(s));
    }

    /** Control: 40 distinct page objects, each named once, are charged 40 pages (passes today). */
    @Test
    void control_fortyDistinctPagesAreCharged() {
        String s = subject("distinct");
        assertFortyPages(s, PDFBOX_ALL, "of 40 distinct page objects", sendPdf(s, typedReport(range(PAGES))));
    }

    /**
     * One page object (with its content) named 40 times in the page tree's {@code /Kids}: PDFBox 3.0.8 counts,
     * iterates and renders 40 pages, as a provider converting the file page by page does. PdfPages counts 1
     * (its page set holds object 3 once): held 2,656, charged 2,842, should be at least 10,320.
     */
    @Test
    void onePageObjectNamedFortyTimesIsFortyPages() {
        String s = subject("one-x40");
        int[] kids = new int[PAGES];
        assertFortyPages(s, PDFBOX_ALL, "whose /Kids name one page object 40 times", sendPdf(s, typedReport(kids)));
    }

    /**
     * A duplex-style file: 20 page objects, each named twice in a row ({@code /Kids [3 0 R 3 0 R 5 0 R 5 0 R
     * ...]}): PDFBox 3.0.8 counts, iterates and renders 40 pages. PdfPages counts 20: held 5,160, charged 5,346, should be at least 10,320. An under-charge past the fallback, so not a small-file corner.
     */
    @Test
    void twentyPagesEachNamedTwiceAreFortyPages() {
        String s = subject("20-x2");
        int[] kids = new int[PAGES];
        for (int i = 0; i < PAGES; i++) {
            kids[i] = i / 2;
        }
        assertFortyPages(s, PDFBOX_ALL, "whose /Kids name each of 20 page objects twice", sendPdf(s, typedReport(kids)));
    }

    /**
     * Control: the catalog without {@code /Type} while its page tree node keeps {@code /Type /Pages} and the
     * pages have none: counted 40 today (the {@code /Type /Pages} node is walked). PDFBox 3.0.8:
     * getNumberOfPages() 40, renders 40 (its iterator skips leaves without {@code /Type}, logging "Page skipped
     * due to an invalid or missing type").
     */
    @Test
    void control_anUntypedCatalogOverATypedTreeIsCharged() {
        String s = subject("untyped-catalog");
        assertFortyPages(s, PDFBOX_UNTYPED, "whose catalog has no /Type", sendPdf(s, report(range(PAGES), "", "/Type /Pages ", "")));
    }

    /**
     * The same, the tree node also without {@code /Type}: the trailer's {@code /Root} names the catalog, whose
     * {@code /Pages} names the tree, whose {@code /Kids} name the 40 leaves. docs/decisions.md says leaves count
     * "whatever their /Type" when named by "the trailer's /Root, a catalog's /Pages or a /Kids"; count() only
     * follows the root's {@code /Pages} when the root says {@code /Type /Catalog}, so nothing is walked: counted
     * 0, charged the 1,000 fallback, should be at least 10,320. PDFBox 3.0.8: getNumberOfPages() 40 and
     * {@code renderImage} renders all 40 indexes (its iterator yields 0: it skips leaves without {@code /Type},
     * a weaker reference than the repeated leaves above). The types are required by the standard; this file
     * breaks that rule on purpose, as a hostile client would.
     */
    @Test
    void anUntypedCatalogAndTreeStillCountTheirLeaves() {
        String s = subject("untyped");
        assertFortyPages(s, PDFBOX_UNTYPED, "whose catalog and page tree have no /Type", sendPdf(s, report(range(PAGES), "", "", "")));
    }
}
