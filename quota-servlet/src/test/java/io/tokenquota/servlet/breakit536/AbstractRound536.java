package io.tokenquota.servlet.breakit536;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import org.junit.jupiter.api.Test;

/**
 * Round 536 of issue 11: the page tree walk of round 526 against what PDFBox 3.0.8 reads. A PDF sent as the body
 * ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its
 * estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Each file below was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF}, {@code getNumberOfPages()}, iterating {@code getPages()}, {@code PDFTextStripper.getText}
 * (the pages whose text came out) and {@code PDFRenderer.renderImage} on each index; the figures are in each test.
 * PDFBox's {@code PDPageTree}: a kid is any {@code COSDictionary} the {@code /Kids} array holds, direct or
 * referenced ({@code getKids} dereferences each entry and skips what is not a dictionary); a node is a dictionary
 * with {@code /Type /Pages} or a {@code /Kids} key ({@code isPageTreeNode}); its iterator remembers the nodes it
 * entered below the root, not the root itself.
 */
abstract class AbstractRound536 extends PdfRound {
    AbstractRound536() {
        super(536);
    }

    /** The font every page uses. */
    private static final String FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

    /** A page dictionary over content stream {@code content}. */
    static String page(int content) {
        return "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 200 0 R >> >>"
                + " /Contents " + content + " 0 R >>";
    }

    /**
     * Catalog 1 over tree 2 whose {@code /Kids} hold the {@code pages} page dictionaries themselves (direct
     * objects, not references), each over its content stream {@code 4+2i}.
     */
    static byte[] inlineKids(int pages) {
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < pages; i++) {
            kids.append(page(4 + 2 * i)).append(' ');
        }
        PdfFiles.Writer w = new PdfFiles.Writer();
        w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
        w.obj(2, "<< /Type /Pages /Kids [" + kids + "] /Count " + pages + " >>");
        for (int i = 0; i < pages; i++) {
            byte[] content = PdfFiles.pageContent(i);
            w.stream(4 + 2 * i, "/Length " + content.length + " /Filter /FlateDecode", content);
        }
        return w.obj(200, FONT).finish();
    }

    /** The same pages as page objects {@code 3+2i} that tree 2's {@code /Kids} name by reference. */
    static byte[] referencedKids(int pages) {
        return new PdfFiles.Writer().obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
                .obj(2, "<< /Type /Pages /Kids [" + PdfFiles.kids(pages) + "] /Count " + pages + " >>")
                .pages(pages).finish();
    }

    /** Control: 40 pages named by reference are charged 40 pages (passes today). */
    @Test
    void control_fortyReferencedPagesAreCharged() {
        String s = subject("referenced");
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, iterator 40, text of 40, 40 rendered",
                "whose /Kids name 40 page objects", sendPdf(s, referencedKids(PAGES)));
    }

    /**
     * The tree's {@code /Kids} hold the 40 page dictionaries directly ({@code /Kids [<< /Type /Page ... >> ...]})
     * rather than references to them. ISO 32000-1 table 29 asks for indirect references, but PDFBox 3.0.8 reads the
     * array's entries as dictionaries whatever their form: getNumberOfPages() 40, iterator 40, text of 40 pages, 40
     * rendered. PdfPages keeps only the {@code Ref}s of a {@code /Kids} ({@code Obj.refs}), and an inline page is
     * neither an object of its own nor a page dictionary outside one ({@code loose}): counted 0, held and charged the
     * 1,000 fallback, should be at least 10,320 (40 x 258). The number of inline pages does not change the charge,
     * so a document of any length costs 1,000.
     */
    @Test
    void pagesWrittenInsideTheKidsArrayAreCounted() {
        String s = subject("inline");
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, iterator 40, text of 40, 40 rendered",
                "whose /Kids hold its 40 page dictionaries directly", sendPdf(s, inlineKids(PAGES)));
    }

    /** Control: 30 pages under the root and a child node holding 30 more are charged 60 pages (passes today). */
    @Test
    void control_aChildNodeWithItsOwnPagesIsCharged() {
        String s = subject("child");
        PdfFiles.Writer w = new PdfFiles.Writer().obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
                .obj(2, "<< /Type /Pages /Kids [" + PdfFiles.kids(30) + " 100 0 R] /Count 60 >>")
                .obj(100, "<< /Type /Pages /Parent 2 0 R /Kids [" + PdfFiles.kids(60).substring(PdfFiles.kids(30).length())
                        + "] /Count 30 >>");
        assertAtLeast(s, 60, "getNumberOfPages() 60, iterator 60, text of 60, 60 rendered",
                "with 30 pages in a child node", sendPdf(s, w.pages(60).finish()));
    }

    /**
     * The root names its 30 pages and then a child node whose only kid is the root again. PDFBox 3.0.8's
     * {@code PageIterator} marks the nodes it enters below the root as seen but not the root itself, so the child
     * enters the root once more ("This page tree node has already been visited" is logged only for the child on
     * the second pass) and every page of the root is yielded twice: getNumberOfPages() 60 (its /Count),
     * iterator 60, {@code PDFTextStripper} extracts the text of 60 pages (each twice); {@code renderImage}
     * renders the first 30 indexes and then throws "Possible recursion found". PdfPages walks each node once,
     * the root included (Tree.walk's {@code walked} set): counted 30, held 7,740, charged 7,926, should be at least
     * 15,480 (60 x 258), what a summariser reading the text through PDFBox is given. (At most twice the root's own
     * pages: PDFBox enters the root twice, no more.)
     */
    @Test
    void aChildNodeNamingTheRootAgainIsCountedAsPdfBoxIteratesIt() {
        String s = subject("root-again");
        PdfFiles.Writer w = new PdfFiles.Writer().obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
                .obj(2, "<< /Type /Pages /Kids [" + PdfFiles.kids(30) + " 100 0 R] /Count 60 >>")
                .obj(100, "<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 30 >>");
        assertAtLeast(s, 60, "getNumberOfPages() 60, iterator 60, text of 60, 30 rendered then a recursion error",
                "whose child node names the root again", sendPdf(s, w.pages(30).finish()));
    }

    /**
     * A one-page report whose root also names five nodes sharing {@code /Kids} array 15: ten namings of {@code junk}
     * (object 16). Numbered below the font (200), so the cross-reference table is as long as the one-page file's: the
     * estimate also reads the body as text, and objects 302 and 500 added about 300 free rows, 6.5 KB, 2,820 tokens.
     */
    static byte[] onePageWithSharedJunk(String junk) {
        PdfFiles.Writer w = new PdfFiles.Writer().obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
                .obj(2, "<< /Type /Pages /Kids [3 0 R 10 0 R 11 0 R 12 0 R 13 0 R 14 0 R] /Count 1 >>");
        for (int i = 10; i < 15; i++) {
            w.obj(i, "<< /Type /Pages /Parent 2 0 R /Kids 15 0 R /Count 0 >>");
        }
        w.obj(15, "[" + "16 0 R ".repeat(10) + "]");
        w.obj(16, junk);
        return w.pages(1).finish();
    }

    /** One page, no other nodes. */
    static byte[] onePage() {
        return new PdfFiles.Writer().obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
                .obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>").pages(1).finish();
    }

    /**
     * Control: five empty page-tree nodes ({@code /Kids []}) beside one page cost at most a page more than the
     * one-page file (passes today: 2,810 against 2,778, the estimate also weighs the body's bytes).
     */
    @Test
    void control_emptyNodesBesideOnePageCostNothing() {
        String base = subject("one");
        long one = sendPdf(base, onePage());
        String s = subject("empty-nodes");
        PdfFiles.Writer w = new PdfFiles.Writer().obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
                .obj(2, "<< /Type /Pages /Kids [3 0 R 10 0 R 11 0 R 12 0 R 13 0 R 14 0 R] /Count 1 >>");
        for (int i = 10; i < 15; i++) {
            w.obj(i, "<< /Type /Pages /Parent 2 0 R /Kids [] /Count 0 >>");
        }
        long used = sendPdf(s, w.pages(1).finish());
        assertTrue(used <= one + PAGE_TOKENS, kind() + ": one page beside empty nodes was charged " + used + ", the one-page file "
                + one + ": " + ledger(s));
    }

    /**
     * One page, and five nodes sharing one {@code /Kids} array object that names object 16 ten times, where 16
     * is the integer {@code 0}, no dictionary. PDFBox 3.0.8 skips a kid that is not a dictionary ("COSDictionary
     * expected"): getNumberOfPages() 1, iterator 1, text of 1 page, 1 rendered. PdfPages counts any object a
     * {@code /Kids} names without {@code /Kids} of its own as a leaf, and the shared array's ten namings for each of
     * the five nodes: 51 pages, held 18,312 and charged 18,498 (numbered 302 and 500 then) against the one-page file's 2,778, should be at most
     * 3,036 (that, plus a page). A small file that PDFBox reads as one page is charged as 51 and,
     * with more nodes sharing the array, up to the one-million-page cap. (The same 51 for {@code << /Type /Pages >>}
     * in 16, which PDFBox walks as an empty node, not a page: {@code isPageTreeNode} is true for a
     * {@code /Type /Pages} dictionary without {@code /Kids}.)
     */
    @Test
    void kidsThatAreNoDictionaryAreNoPages() {
        String base = subject("one-base");
        long one = sendPdf(base, onePage());
        String s = subject("int-kids");
        long used = sendPdf(s, onePageWithSharedJunk("0"));
        assertTrue(used <= one + PAGE_TOKENS, kind() + ": a one-page PDF (PDFBox 3.0.8: getNumberOfPages() 1, iterator"
                + " 1, text of 1, 1 rendered) whose shared /Kids array names the integer 0 fifty times was charged "
                + used + ", should be at most " + (one + PAGE_TOKENS) + " (the one-page file's " + one
                + ", plus a page at most): " + ledger(s));
    }

    /** Control: a catalog whose {@code /Pages} is a direct dictionary naming 40 distinct page objects: 40 (passes today). */
    @Test
    void control_aDirectPagesDictionaryOverFortyPagesIsCharged() {
        String s = subject("direct-distinct");
        byte[] pdf = new PdfFiles.Writer()
                .obj(1, "<< /Type /Catalog /Pages << /Type /Pages /Kids [" + PdfFiles.kids(PAGES) + "] /Count 40 >> >>")
                .pages(PAGES).finish();
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, iterator 40, text of 40, 40 rendered",
                "whose catalog holds its page tree directly", sendPdf(s, pdf));
    }

    /**
     * The catalog's {@code /Pages} is a direct dictionary (not a reference) whose {@code /Kids} name one page object
     * 40 times: round 526's repeated page under a root PdfPages does not follow. PDFBox 3.0.8
     * ({@code PDDocumentCatalog.getPages} takes the dictionary whatever its form): getNumberOfPages() 40,
     * iterator 40, text of 40 pages, 40 rendered. PdfPages follows only a {@code Ref} in {@code /Pages}
     * ({@code Obj.pagesRef}), so no document tree is walked and the page counts once as a {@code /Type /Page}
     * object: counted 1, charged 2,973, should be at least 10,320 (40 x 258).
     */
    @Test
    void aDirectPagesDictionaryCountsEachNamingOfAPage() {
        String s = subject("direct-x40");
        byte[] pdf = new PdfFiles.Writer()
                .obj(1, "<< /Type /Catalog /Pages << /Type /Pages /Kids [" + "3 0 R ".repeat(PAGES) + "] /Count 40 >> >>")
                .pages(1).finish();
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, iterator 40, text of 40, 40 rendered",
                "whose direct page tree names one page object 40 times", sendPdf(s, pdf));
    }
}
