package io.tokenquota.servlet.breakit558;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

/**
 * Round 558 of issue 11: round 556's "a catalog the sections do not name has the file read in order", and a
 * {@code /Prev} or {@code startxref} a few bytes off its section. A PDF sent as the body
 * ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its
 * estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>The file (ISO 32000-1 7.5.7, 7.5.8) is round 556's 40-page report: tree 2 and the 40 page dictionaries in Flate
 * object stream 300, placed by cross-reference stream 301 (W [1 4 2]), and after the object stream direct objects
 * 2, 3, 5, ... that the cross-reference stream does not name (an empty {@code /Pages} node and fonts: an earlier
 * draft's left-overs, or a hostile client's decoys). Read through the cross-reference data they are nothing; read
 * in order they replace the tree and every page, and the file counts none.
 *
 * <p>Catalog findings: the catalog is a direct object before the object stream that the cross-reference stream
 * does not place (its row free, or {@code /Root 400 0 R} beyond {@code /Size}). PDFBox 3.0.8 keeps the
 * cross-reference data and looks only the missing object up by its brute-force search for {@code N G obj}
 * ({@code COSParser.getObjectOffset}), so the catalog's {@code /Pages 2 0 R} is still the object stream's tree: 40.
 * docs/decisions.md says the same ("A free or missing entry does not hide an object the page tree still names ...
 * the page-tree nodes and pages named by the trailer's /Root ... that the data frees ... or does not place are each
 * the last N G obj of that number in the file ... only when such an object is missing"), and before round 556's fix
 * (adf9ab6e) PdfPages counted 40 for both files. Since 207ade5e, PdfPages.readThroughXref gives up the whole
 * cross-reference data when the root's entry is free or absent and reads the file in order: 0 pages.
 *
 * <p>Offset findings: an update's {@code /Prev}, or the file's {@code startxref}, five bytes off its cross-reference
 * stream (a writer that counted a line ending twice, or a hostile client). PDFBox 3.0.8 repairs it
 * ({@code COSParser.checkXRefOffset} / {@code calculateXRefFixedOffset}: the nearest section found by
 * {@code bfSearchForXRef}) and counts 40; PdfPages takes the section as broken and reads in order: 0.
 *
 * <p>The same misplaced offset over-charges an honest file: a 40-page file whose update deleted 39 pages, its
 * {@code startxref} 5 bytes off, is read in order and its deleted pages count again (PDFBox 1 page). And a trailer whose
 * {@code /Root} is a catalog dictionary written in place (PDFBox and pdf.js accept it) leaves PdfPages with no
 * document's tree, so its untyped leaves, charged under a referenced catalog, count nothing.
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, {@code getNumberOfPages()} 40 and iterating {@code getPages()} 40; PdfPages.pageObjects
 * gave the figures in each test's comment.
 *
 * <p>After the round: the catalog findings are fixed (only a chain that ended on a {@code /Prev} it did not follow
 * has the file read in order when its sections leave the catalog unnamed) and pass; so do the offset findings since
 * a {@code startxref} or {@code /Prev} that lands on no section is repaired to the nearest one, as PDFBox does
 * ({@code PdfPages.nearestSection}), and the dictionary {@code /Root} since a catalog written in the trailer names
 * the document's tree as a referenced one does.
 */
abstract class AbstractRound558 extends PdfRound {


    AbstractRound558() {
        super(558, PDFBOX_40_PAGES);
    }


    private static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";

    /**
     * The 40-page file. {@code catalog}: the catalog's number; 1 packs it in the object stream with the tree, any
     * other is written as a direct object before the object stream that the cross-reference stream leaves free (1
     * written direct: {@code direct}) or beyond its {@code /Size} (400). {@code leftOvers}: objects 2, 3, 5, ... 81
     * written again after the object stream, which no section names.
     */
    static byte[] report(int catalog, boolean direct, boolean leftOvers) {
        TreeMap<Integer, String> objects = ObjectStreamPdfs.treeAndPages(PAGES);
        if (!direct) {
            objects.put(catalog, CATALOG);
        }
        ObjectStreamPdfs.Packed pack = ObjectStreamPdfs.Packed.of(objects);
        TreeMap<Integer, Integer> packed = pack.index();
        String head = pack.head();
        byte[] data = PdfFiles.deflate(pack.plain());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
        if (direct) {
            // the catalog, which no row of the cross-reference stream places
            out.writeBytes(PdfFiles.ascii(catalog + " 0 obj\n" + CATALOG + "\nendobj\n"));
        }
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        offsets.put(300, out.size());
        out.writeBytes(PdfFiles.ascii("300 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + head.length() + " /Length "
                + data.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(data);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        if (leftOvers) {
            out.writeBytes(PdfFiles.ascii("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"));
            for (int i = 0; i < PAGES; i++) {
                out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"));
            }
        }
        ObjectStreamPdfs.crossReferenceStream(out, offsets, packed, " /Root " + catalog + " 0 R");
        return out.toByteArray();
    }

    /** The packed report with left-overs whose {@code startxref} is moved by {@code by} bytes. */
    static byte[] startxrefMoved(int by) {
        String text = new String(report(1, false, true), StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("startxref\n") + "startxref\n".length();
        int end = text.indexOf('\n', at);
        return PdfFiles.ascii(text.substring(0, at) + (Long.parseLong(text.substring(at, end)) + by) + text.substring(end));
    }

    /**
     * The packed report with left-overs followed by an incremental update (ISO 32000-1 7.5.6) that changes nothing:
     * a classic section with object 0's free row only, whose trailer's {@code /Prev} is the report's cross-reference
     * stream moved by {@code by} bytes.
     */
    static byte[] updated(int by) {
        byte[] report = report(1, false, true);
        String text = new String(report, StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("startxref\n") + "startxref\n".length();
        long offset = Long.parseLong(text.substring(at, text.indexOf('\n', at)));
        byte[] update = PdfFiles.ascii("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 302 /Root 1 0 R /Prev " + (offset + by)
                + " >>\nstartxref\n" + report.length + "\n%%EOF\n");
        byte[] pdf = Arrays.copyOf(report, report.length + update.length);
        System.arraycopy(update, 0, pdf, report.length, update.length);
        return pdf;
    }

    // ---- controls ----

    /** Control: the catalog packed and placed: the left-overs are nothing, 40 counted (passes today). */
    @Test
    void control_aPlacedCatalogOverLeftOversIsCharged() {
        assertCharged("placed", "with its catalog placed and left-over objects", report(1, false, true));
    }

    /** Control: the catalog direct and its row free, no left-overs: read in order, 40 counted (passes today). */
    @Test
    void control_aFreedCatalogWithoutLeftOversIsCharged() {
        assertCharged("freed-clean", "whose catalog's row is free, with no left-over objects", report(1, true, false));
    }

    /** Control: the update's {@code /Prev} exact: 40 counted (passes today). */
    @Test
    void control_anUpdateWhosePrevIsExactIsCharged() {
        assertCharged("prev-exact", "behind an update whose /Prev is exact, with left-over objects", updated(0));
    }

    // ---- findings: a catalog the cross-reference stream does not place (regression of 207ade5e) ----

    /**
     * Catalog 1 direct, its row free: PDFBox 40 (the catalog found by its search, the tree through the object
     * stream). PdfPages 40 before 207ade5e; now 0: charged 2,102 (reserved 1,916), should be at least 10,320.
     */
    @Test
    void aFreedCatalogOverLeftOversIsCharged() {
        assertCharged("freed", "whose catalog's row is free, with left-over objects", report(1, true, true));
    }

    /** {@code /Root 400 0 R}, beyond {@code /Size 302}, written direct: PDFBox 40; PdfPages 40 before 207ade5e, now 0: charged 2,102, should be at least 10,320. */
    @Test
    void aCatalogBeyondSizeOverLeftOversIsCharged() {
        assertCharged("beyond-size", "whose catalog 400 is beyond /Size 302, with left-over objects", report(400, true, true));
    }

    /**
     * The packed report with left-overs followed by an update (ISO 32000-1 7.5.6) whose classic section frees object
     * 1, the catalog the object stream holds (row {@code 0000000000 00001 f}), while its trailer still says
     * {@code /Root 1 0 R}: PDFBox 40 (the free row leaves the catalog to its search, which finds it in the object
     * stream). docs/decisions.md names this case ("also an update's free row", round 514); PdfPages 40 before
     * 207ade5e, now 0: charged 1,000, should be at least 10,320.
     */
    @Test
    void anUpdateFreeingThePackedCatalogOverLeftOversIsCharged() {
        byte[] report = report(1, false, true);
        String text = new String(report, StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("startxref\n") + "startxref\n".length();
        String offset = text.substring(at, text.indexOf('\n', at));
        byte[] update = PdfFiles.ascii("xref\n0 2\n0000000000 65535 f \n0000000000 00001 f \ntrailer\n<< /Size 302 /Root 1 0 R /Prev "
                + offset + " >>\nstartxref\n" + report.length + "\n%%EOF\n");
        byte[] pdf = Arrays.copyOf(report, report.length + update.length);
        System.arraycopy(update, 0, pdf, report.length, update.length);
        assertCharged("update-frees-catalog", "behind an update that frees its packed catalog, with left-over objects", pdf);
    }

    // ---- findings: an offset a few bytes off its section (PDFBox repairs it) ----

    /** The update's {@code /Prev} 5 bytes short of the stream: PDFBox 40; PdfPages 0: charged 1,000, should be at least 10,320. */
    @Test
    void anUpdateWhosePrevIsFiveBytesShortIsCharged() {
        assertCharged("prev-short", "behind an update whose /Prev is 5 bytes short, with left-over objects", updated(-5));
    }

    /** The update's {@code /Prev} 5 bytes past the stream's header: PDFBox 40; PdfPages 0: charged 1,000, should be at least 10,320. */
    @Test
    void anUpdateWhosePrevIsFiveBytesPastIsCharged() {
        assertCharged("prev-past", "behind an update whose /Prev is 5 bytes past, with left-over objects", updated(5));
    }

    /** {@code startxref} 5 bytes short of the stream: PDFBox 40; PdfPages 0: charged 1,000, should be at least 10,320. */
    @Test
    void aStartxrefFiveBytesShortIsCharged() {
        assertCharged("startxref-short", "whose startxref is 5 bytes short, with left-over objects", startxrefMoved(-5));
    }

    /** {@code startxref} 5 bytes past the stream's header: PDFBox 40; PdfPages 0: charged 1,000, should be at least 10,320. */
    @Test
    void aStartxrefFiveBytesPastIsCharged() {
        assertCharged("startxref-past", "whose startxref is 5 bytes past, with left-over objects", startxrefMoved(5));
    }

    // ---- finding: a trailer whose /Root is the catalog written in place ----

    /**
     * A classic file (ISO 32000-1 7.5.4, 7.5.5): an untyped tree 5 ({@code << /Kids [...] /Count 40 >>}) over 40
     * untyped leaves ({@code << /Parent 5 0 R /MediaBox [0 0 612 792] >>}), whose trailer's {@code /Root} is
     * {@code catalog}: a reference to catalog 1, or a catalog dictionary written in the trailer.
     */
    static byte[] untypedLeaves(String root) {
        List<String> objects = new ArrayList<>();
        if (root.endsWith("R")) {
            objects.add("1 0 obj\n<< /Type /Catalog /Pages 5 0 R >>\nendobj\n");
        }
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < PAGES; i++) {
            kids.append(10 + i).append(" 0 R ");
            objects.add((10 + i) + " 0 obj\n<< /Parent 5 0 R /MediaBox [0 0 612 792] >>\nendobj\n");
        }
        objects.add("5 0 obj\n<< /Kids [" + kids + "] /Count " + PAGES + " >>\nendobj\n");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.4\n"));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        for (String o : objects) {
            offsets.put(Integer.parseInt(o.substring(0, o.indexOf(' '))), out.size());
            out.writeBytes(PdfFiles.ascii(o));
        }
        int xrefAt = out.size();
        int size = offsets.lastKey() + 1;
        StringBuilder table = new StringBuilder("xref\n0 " + size + "\n");
        for (int k = 0; k < size; k++) {
            table.append(offsets.containsKey(k) ? String.format("%010d 00000 n \n", offsets.get(k))
                    : k == 0 ? "0000000000 65535 f \n" : "0000000000 00000 f \n");
        }
        table.append("trailer\n<< /Size ").append(size).append(" /Root ").append(root).append(" >>\nstartxref\n").append(xrefAt)
                .append("\n%%EOF\n");
        out.writeBytes(PdfFiles.ascii(table.toString()));
        return out.toByteArray();
    }

    /**
     * Control: {@code /Root 1 0 R}: the untyped leaves of the document's tree are charged (docs/decisions.md: "a kid
     * that is no node is a page whatever its /Type", round 526): 40 counted (passes today). PDFBox 3.0.8:
     * getNumberOfPages() 40, getPage(39) its MediaBox, the iterator 0 (it skips untyped kids).
     */
    @Test
    void control_untypedLeavesUnderAReferencedCatalogAreCharged() {
        String s = subject("root-ref");
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, getPage(39) read, iterator 0", "of untyped leaves, /Root 1 0 R",
                sendPdf(s, untypedLeaves("1 0 R")));
    }

    /**
     * The same pages, the trailer saying {@code /Root << /Type /Catalog /Pages 5 0 R >>} (the catalog written in the
     * trailer, where ISO 32000-1 Table 15 asks for a reference): PDFBox 3.0.8 takes it as the catalog
     * ({@code trailer.getCOSDictionary(ROOT)}), getNumberOfPages() 40, getPage(39) read; pdf.js also accepts a
     * /Root dictionary. PdfPages takes only a reference as /Root (PdfPages.sections, {@code instanceof Ref}, and the
     * trailer read in order), finds no catalog object and so no document's tree, and the untyped leaves count
     * nothing: charged 2,294 (reserved 2,108), should be at least 10,320.
     */
    @Test
    void untypedLeavesUnderACatalogWrittenInTheTrailerAreCharged() {
        String s = subject("root-direct");
        assertAtLeast(s, PAGES, "getNumberOfPages() 40, getPage(39) read, iterator 0",
                "of untyped leaves, /Root a catalog dictionary written in the trailer",
                sendPdf(s, untypedLeaves("<< /Type /Catalog /Pages 5 0 R >>")));
    }

    // ---- finding (over-charge): an honest one-page file whose offsets are a few bytes off ----

    /**
     * A classic 40-page file (catalog 1, tree 2, pages 10 to 49) and an incremental update (ISO 32000-1 7.5.6) that
     * deletes 39 pages: tree 2 rewritten with page 10 only, pages 11 to 49 freed. The update's {@code startxref} is
     * moved by {@code by} bytes (a writer that miscounted, which PDFBox repairs).
     */
    static byte[] onePageLeft(int by) {
        List<String> objects = new ArrayList<>();
        objects.add("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < PAGES; i++) {
            kids.append(10 + i).append(" 0 R ");
            objects.add((10 + i) + " 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n");
        }
        objects.add("2 0 obj\n<< /Type /Pages /Kids [" + kids + "] /Count " + PAGES + " >>\nendobj\n");
        StringBuilder text = new StringBuilder("%PDF-1.4\n");
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        for (String o : objects) {
            offsets.put(Integer.parseInt(o.substring(0, o.indexOf(' '))), text.length());
            text.append(o);
        }
        int prev = text.length();
        text.append("xref\n0 50\n");
        for (int k = 0; k < 50; k++) {
            text.append(offsets.containsKey(k) ? String.format("%010d 00000 n \n", offsets.get(k))
                    : k == 0 ? "0000000000 65535 f \n" : "0000000000 00000 f \n");
        }
        text.append("trailer\n<< /Size 50 /Root 1 0 R >>\nstartxref\n").append(prev).append("\n%%EOF\n");
        int tree = text.length();
        text.append("2 0 obj\n<< /Type /Pages /Kids [10 0 R] /Count 1 >>\nendobj\n");
        int xref = text.length();
        text.append("xref\n0 1\n0000000000 65535 f \n2 1\n").append(String.format("%010d 00000 n \n", tree)).append("11 39\n");
        for (int k = 11; k < 50; k++) {
            text.append("0000000000 00001 f \n");
        }
        text.append("trailer\n<< /Size 50 /Root 1 0 R /Prev ").append(prev).append(" >>\nstartxref\n").append(xref + by)
                .append("\n%%EOF\n");
        return PdfFiles.ascii(text.toString());
    }

    private void assertUnder40Pages(String s, String what, long used) {
        assertTrue(used < PAGES * PAGE_TOKENS, kind() + ": a PDF of 1 page (PDFBox 3.0.8: getNumberOfPages() 1, iterator 1) "
                + what + " was charged " + used + ", should be the estimate of 1 page, under " + PAGES * PAGE_TOKENS
                + " (the 40 pages of its first version): " + ledger(s));
    }

    /** Control: the update's {@code startxref} exact: 1 page counted, charged under 10,320 (passes today). */
    @Test
    void control_aOnePageUpdateIsChargedOnePage() {
        String s = subject("one-page-exact");
        assertUnder40Pages(s, "left by an update that deleted 39 pages", sendPdf(s, onePageLeft(0)));
    }

    /**
     * The update's {@code startxref} 5 bytes past its table: PDFBox repairs it (the nearest {@code xref}), 1 page.
     * PdfPages takes the data as broken and reads in order, where the 39 deleted {@code /Type /Page} objects count
     * again: 40 pages, charged 12,974 for a 1-page file (also with {@code /Prev} 5 bytes off, or 5 bytes short).
     */
    @Test
    void aOnePageUpdateWhoseStartxrefIsFiveBytesOffIsChargedOnePage() {
        String s = subject("one-page-off");
        assertUnder40Pages(s, "left by an update that deleted 39 pages, its startxref 5 bytes past", sendPdf(s, onePageLeft(5)));
    }
}
