package io.tokenquota.servlet.breakit514;

import static io.tokenquota.servlet.testing.PdfFiles.ascii;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.PdfRound;
import io.tokenquota.servlet.testing.PdfFiles;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Round 514 of issue 11: the PDF page count read through the cross-reference data (round 505). A PDF sent as
 * the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is
 * charged its estimate: the pages counted times 258, at least the fallback 1,000. PdfPages trusts the table:
 * an object the table marks free, or leaves out, is never read. PDFBox 3.0.8 does not: it ignores free rows
 * (only {@code n} rows enter its table) and, lenient as {@code Loader.loadPDF} is, looks an object the table
 * does not place up by scanning the file for its {@code N G obj}. Each 40-page PDF below was checked with
 * PDFBox 3.0.8 ({@code Loader.loadPDF}, iterating {@code getPages()}, {@code PDFRenderer.renderImage} of
 * every page): all 40 pages render.
 */
abstract class AbstractRound514 extends PdfRound {
    AbstractRound514() {
        super(514);
    }

    /** Page object {@code 3+2i}, its content {@code 4+2i}. */
    static int page(int i) {
        return 3 + 2 * i;
    }

    /**
     * A 40-page report: catalog 1, page tree 2 naming every page, pages and contents, font 200, written object
     * by object; the cross-reference data is left to each scenario.
     */
    static final class Report extends PdfFiles.Writer {
        Report() {
            obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
            obj(2, "<< /Type /Pages /Kids [" + PdfFiles.kids(PAGES) + "] /Count " + PAGES + " >>");
            pages(PAGES);
        }

        String row(int n) {
            return String.format("%010d 00000 n \n", offsets.get(n));
        }

        /**
         * Ends the file with one cross-reference table (ISO 32000-1 section 7.5.4) of objects 0 to 200, every
         * object at its offset, except those in {@code free}, written as free rows ({@code 0000000000 00001 f}).
         */
        byte[] withTable(Set<Integer> free) {
            int xref = out.size();
            StringBuilder x = new StringBuilder("xref\n0 201\n0000000000 65535 f \n");
            for (int i = 1; i <= 200; i++) {
                x.append(offsets.get(i) == null || free.contains(i) ? "0000000000 00001 f \n" : row(i));
            }
            out.writeBytes(ascii(x + "trailer\n<< /Size 201 /Root 1 0 R >>\nstartxref\n" + xref + "\n%%EOF\n"));
            return out.toByteArray();
        }

        /**
         * Ends the file with a table whose subsections (section 7.5.4: "a cross-reference section may contain
         * any number of subsections") list objects 0 to 2, every content stream and the font, not the pages.
         */
        byte[] withPagesLeftOut() {
            int xref = out.size();
            StringBuilder x = new StringBuilder("xref\n0 3\n0000000000 65535 f \n").append(row(1)).append(row(2));
            for (int i = 0; i < PAGES; i++) {
                x.append(page(i) + 1).append(" 1\n").append(row(page(i) + 1));
            }
            x.append("200 1\n").append(row(200));
            out.writeBytes(ascii(x + "trailer\n<< /Size 201 /Root 1 0 R >>\nstartxref\n" + xref + "\n%%EOF\n"));
            return out.toByteArray();
        }

        /**
         * The complete file, then an incremental update (section 7.5.6) that adds only a cross-reference
         * section marking every page object free, its trailer's {@code /Prev} naming the first table; the
         * page tree still names the 40 pages.
         */
        byte[] withUpdateFreeingThePages() {
            byte[] first = withTable(Set.of());
            int prev = indexOf(first, "xref\n0 201");
            StringBuilder x = new StringBuilder("xref\n0 1\n0000000000 65535 f \n");
            for (int i = 0; i < PAGES; i++) {
                x.append(page(i)).append(" 1\n0000000000 00001 f \n");
            }
            int xref = out.size();
            out.writeBytes(ascii(x + "trailer\n<< /Size 201 /Root 1 0 R /Prev " + prev + " >>\nstartxref\n" + xref + "\n%%EOF\n"));
            return out.toByteArray();
        }

        private static int indexOf(byte[] b, String s) {
            return new String(b, StandardCharsets.ISO_8859_1).lastIndexOf(s);
        }
    }

    static Set<Integer> allPages() {
        java.util.HashSet<Integer> pages = new java.util.HashSet<>();
        for (int i = 0; i < PAGES; i++) {
            pages.add(page(i));
        }
        return pages;
    }

    void assertFortyPages(String s, String what, long used) {
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": a " + PAGES + "-page PDF (PDFBox 3.0.8 renders all "
                + PAGES + ") " + what + " was charged " + used + ", should be at least " + PAGES * PAGE_TOKENS
                + " (" + PAGES + " x " + PAGE_TOKENS + "): " + ledger(s));
    }

    /** Control: the 40-page report with every object in its table is charged its 40 pages (passes today). */
    @Test
    void control_everyPageInTheTableIsCounted() {
        String s = subject("table");
        assertFortyPages(s, "with every object in its cross-reference table", sendPdf(s, new Report().withTable(Set.of())));
    }

    /**
     * The same report, its table writing the 40 page objects as free rows. PDFBox 3.0.8 keeps only {@code n}
     * rows and finds each page by its {@code N 0 obj} (all 40 render); PdfPages deletes the page objects, its
     * page tree names nothing it has read: counted 0 pages, charged the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void pagesTheTableMarksFreeAreStillCounted() {
        String s = subject("free");
        assertFortyPages(s, "whose table marks its page objects free", sendPdf(s, new Report().withTable(allPages())));
    }

    /**
     * The report with an incremental update that only marks the 40 page objects free (the page tree still names
     * them). PDFBox 3.0.8 ignores the free rows, resolves each page through the first table: 40 pages render.
     * PdfPages lets the newest (free) entry delete them: counted 0, charged the fallback, should be at least 10,320.
     */
    @Test
    void pagesAnUpdateMarksFreeAreStillCounted() {
        String s = subject("update-free");
        assertFortyPages(s, "with an update marking its page objects free", sendPdf(s, new Report().withUpdateFreeingThePages()));
    }

    /**
     * The report whose table's subsections leave the 40 page objects out (every other object at its offset).
     * PDFBox 3.0.8 looks each page up by scanning for its {@code N 0 obj}: 40 pages render. PdfPages reads only
     * the objects the table places: counted 0, charged the fallback, should be at least 10,320.
     */
    @Test
    void pagesTheTableLeavesOutAreStillCounted() {
        String s = subject("left-out");
        assertFortyPages(s, "whose table leaves its page objects out", sendPdf(s, new Report().withPagesLeftOut()));
    }
}
