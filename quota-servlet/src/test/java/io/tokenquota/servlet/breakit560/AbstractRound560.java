package io.tokenquota.servlet.breakit560;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.TreeMap;
import java.util.function.IntFunction;

import org.junit.jupiter.api.Test;

/**
 * Round 560 of issue 11: where PdfPages still gives up a file's cross-reference data that PDFBox 3.0.8 reads. A PDF
 * sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is
 * charged its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>The files are rounds 558-559's: a classic 40-page file (catalog 1, tree 2, typed pages 3, 5, ... 81 as direct
 * objects, a table naming them) and the packed report (catalog 1, tree 2 and the 40 pages in Flate object stream 300,
 * cross-reference stream 301), each with left-overs after the real objects that no section names (an empty
 * {@code /Pages} 2 and fonts 3, 5, ... 81: an earlier draft's, or a hostile client's decoys). Read through the
 * cross-reference data the left-overs are nothing; whenever PdfPages gives the data up and reads the file in order,
 * they replace the tree and the pages and the file counts 0. Round 558-559's offset checks and repairs
 * ({@code isSection}, {@code nearestSection}) held against loops, repairs onto an already-read section (both readers
 * rebuild: PDFBox 0, PdfPages 0) and an update that frees or re-uses object 2 under generation 1 (both 40). What did
 * not hold is how a section itself is read, and where {@code startxref} is:
 * <ul>
 * <li>Finding 1. A table row {@code 0000000000 00000 n} (in use, at offset 0; writers emit it for an object they
 * dropped): PDFBox's {@code parseXrefTable} skips a row whose offset is 0 ("skip 0 offsets"), getNumberOfPages() 40,
 * iterator 40. PdfPages' {@code table} keeps it as {@code {1, 0}}, {@code placed} finds no object header at byte 0,
 * {@code readThroughXref} (line 250, {@code !placed(entries)}) reads the file in order: 0.</li>
 * <li>Finding 2. A subsection header whose count is more than the rows written ({@code 0 90} over 83 rows): PDFBox
 * stops the subsection at {@code trailer} and reads on, 40/40. PdfPages' {@code table} reads {@code trailer} as a
 * row's offset (line 459, {@code offset.kind != Kind.INT}), returns null, reads in order: 0.</li>
 * <li>Finding 3. Bytes after the last {@code %%EOF} holding the word {@code startxref} (a comment
 * {@code % startxref none}, or a bare {@code startxref}): PDFBox's {@code getStartxrefOffset} takes the last
 * {@code startxref} <em>before</em> the last {@code %%EOF}, 40/40. PdfPages (line 226) takes the last
 * {@code startxref} anywhere in the last 4,096 bytes, finds no number after it (line 231) and reads in order: 0.</li>
 * <li>Finding 4. A cross-reference stream whose {@code /W} has a field wider than 8 bytes ({@code [1 9 2]} or
 * {@code [1 4 12]}): PDFBox accepts any widths summing to 20 or less, 40/40. PdfPages' {@code xrefStream} (line 502,
 * {@code number(v) <= 8}) refuses it, reads in order: 0.</li>
 * </ul>
 *
 * <p>Figures: each file was run through PDFBox 3.0.8 in a scratch program outside the repository
 * ({@code Loader.loadPDF(bytes)}: {@code getNumberOfPages()} and iterating {@code getPages()}), and through
 * {@code PdfPages.pageObjects} by reflection; each test's comment gives both. Every finding: PDFBox 40 and 40,
 * PdfPages 0, so the 40-page file is charged as no page: 3,755 to 3,759 for the classic file (findings 1 to 3, the
 * estimate of its bytes as text), 1,000 for the packed report (finding 4), in Jetty and Tomcat, where at least 10,320
 * (40 x 258) is due. The five controls pass in both.
 *
 * <p>After the round: a table row in use at offset 0 is skipped, a subsection ends at {@code trailer} whatever
 * its count, {@code startxref} is the last before the last {@code %%EOF}, and a cross-reference stream takes any
 * widths PDFBox takes (none below 0, 20 bytes a row at most, a field summed as PDFBox sums it). Every finding passes.
 */
abstract class AbstractRound560 extends PdfRound {
    private static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";
    private static final int SIZE = 3 + 2 * PAGES;

    AbstractRound560() {
        super(560, PDFBOX_40_PAGES);
    }


    // ---- files ----


    /** An empty tree 2 and fonts 3, 5, ... 81: objects no section names. */
    private static void leftOvers(ByteArrayOutputStream out) {
        out.writeBytes(PdfFiles.ascii("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"));
        }
    }

    /**
     * The classic 40-page file over left-overs (round 559's): its table's subsection header {@code header} (null:
     * {@code 0 83}), row {@code k} written {@code row.apply(k)} where that is not null.
     */
    static byte[] classic(String header, IntFunction<String> row) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        offsets.put(1, out.size());
        out.writeBytes(PdfFiles.ascii("1 0 obj\n" + CATALOG + "\nendobj\n"));
        offsets.put(2, out.size());
        out.writeBytes(PdfFiles.ascii("2 0 obj\n<< /Type /Pages /Kids [" + PdfFiles.kids(PAGES) + "] /Count " + PAGES + " >>\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            offsets.put(3 + 2 * i, out.size());
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n"));
        }
        leftOvers(out);
        int xref = out.size();
        StringBuilder table = new StringBuilder("xref\n" + (header == null ? "0 " + SIZE : header) + "\n");
        for (int k = 0; k < SIZE; k++) {
            String written = row == null ? null : row.apply(k);
            table.append(written != null ? written : offsets.containsKey(k) ? String.format("%010d 00000 n \n", offsets.get(k))
                    : k == 0 ? "0000000000 65535 f \n" : "0000000000 00000 f \n");
        }
        table.append("trailer\n<< /Size ").append(SIZE).append(" /Root 1 0 R >>\nstartxref\n").append(xref).append("\n%%EOF\n");
        out.writeBytes(PdfFiles.ascii(table.toString()));
        return out.toByteArray();
    }

    static byte[] classic() {
        return classic(null, null);
    }

    private static void field(ByteArrayOutputStream rows, long value, int width) {
        for (int s = 8 * (width - 1); s >= 0; s -= 8) {
            rows.write(s >= 64 ? 0 : (int) (value >> s) & 0xFF);
        }
    }

    /**
     * The packed report over left-overs (round 559's), its cross-reference stream 301 written with fields
     * {@code /W [w0 w1 w2]} (each value big-endian in its width, leading zero bytes where it is wider than 8).
     */
    static byte[] report(int w0, int w1, int w2) {
        TreeMap<Integer, String> objects = ObjectStreamPdfs.treeAndPages(PAGES);
        objects.put(1, CATALOG);
        ObjectStreamPdfs.Packed pack = ObjectStreamPdfs.Packed.of(objects);
        byte[] data = PdfFiles.deflate(pack.plain());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
        int objectStream = out.size();
        out.writeBytes(PdfFiles.ascii("300 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + pack.head().length()
                + " /Length " + data.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(data);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        leftOvers(out);
        int xrefStream = out.size();
        TreeMap<Integer, Integer> packed = pack.index();
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int k = 0; k < 302; k++) {
            int type = k == 300 || k == 301 ? 1 : packed.containsKey(k) ? 2 : 0;
            field(rows, type, w0);
            field(rows, type == 1 ? (k == 300 ? objectStream : xrefStream) : type == 2 ? 300 : 0, w1);
            field(rows, type == 2 ? packed.get(k) : k == 0 ? 65535 : 0, w2);
        }
        byte[] xref = PdfFiles.deflate(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii("301 0 obj\n<< /Type /XRef /Size 302 /W [" + w0 + " " + w1 + " " + w2 + "] /Root 1 0 R /Length "
                + xref.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + xrefStream + "\n%%EOF\n"));
        return out.toByteArray();
    }

    static byte[] append(byte[] pdf, String tail) {
        return bytes(text(pdf) + tail);
    }

    // ---- controls (pass today) ----

    /** Control: the classic file over left-overs: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theClassicFileIsCharged() {
        assertCharged("classic", "a classic table over left-over objects", classic());
    }

    /** Control: the packed report, {@code /W [1 4 2]}: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theReportIsCharged() {
        assertCharged("w142", "packed, /W [1 4 2]", report(1, 4, 2));
    }

    /** Control: {@code /W [1 8 2]} and {@code /W [2 4 2]} (the widest PdfPages takes): PDFBox 40/40, PdfPages 40 each. */
    @Test
    void control_eightByteOffsetsAreCharged() {
        assertCharged("w182", "packed, /W [1 8 2]", report(1, 8, 2));
        assertCharged("w242", "packed, /W [2 4 2]", report(2, 4, 2));
    }

    /** Control: a comment after {@code %%EOF} that does not say startxref ({@code % signed}): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aCommentAfterTheEndIsCharged() {
        assertCharged("eof-comment", "with a comment after %%EOF", append(classic(), "% signed\n"));
    }

    /**
     * Control: an update whose table frees object 2 under generation 1 ({@code 0000000000 00001 f}), or places a new
     * {@code 2 1 obj} (an empty tree) the catalog's {@code 2 0 R} does not name: PDFBox keeps the older (2, 0) entry,
     * 40/40; PdfPages 40 each.
     */
    @Test
    void control_anUpdateTouchingObjectTwoUnderGenerationOneIsCharged() {
        byte[] pdf = classic();
        String t = text(pdf);
        long older = Long.parseLong(t.substring(t.lastIndexOf("startxref\n") + 10, t.lastIndexOf("\n%%EOF")));
        int at = pdf.length;
        assertCharged("free-gen1", "behind an update freeing object 2 generation 1", append(pdf, "xref\n0 1\n0000000000 65535 f \n2 1\n"
                + "0000000000 00001 f \ntrailer\n<< /Size 83 /Root 1 0 R /Prev " + older + " >>\nstartxref\n" + at + "\n%%EOF\n"));
        String object = "2 1 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n";
        assertCharged("new-gen1", "behind an update placing 2 1 obj", append(pdf, object + "xref\n0 1\n0000000000 65535 f \n2 1\n"
                + String.format("%010d 00001 n \n", at) + "trailer\n<< /Size 83 /Root 1 0 R /Prev " + older + " >>\nstartxref\n"
                + (at + object.length()) + "\n%%EOF\n"));
    }

    // ---- finding 1: a row in use at offset 0 ----

    /**
     * Row 4 written {@code 0000000000 00000 n} (in use at offset 0): PDFBox 3.0.8's {@code parseXrefTable} skips rows
     * whose offset is 0: getNumberOfPages() 40, iterator 40. PdfPages' {@code table} keeps {@code {1, 0}}, {@code placed}
     * finds no {@code 4 0 obj} at byte 0, the file is read in order: 0, charged 3,755 (should be at least 10,320).
     * The same with row 82 (the table's last): PDFBox 40/40, PdfPages 0.
     */
    @Test
    void aRowInUseAtOffsetZeroIsCharged() {
        assertCharged("row-zero", "whose table has a row in use at offset 0", classic(null, k -> k == 4 ? "0000000000 00000 n \n" : null));
    }

    // ---- finding 2: a subsection count larger than its rows ----

    /**
     * The table's subsection says {@code 0 90} over its 83 rows: PDFBox stops the subsection at {@code trailer}:
     * getNumberOfPages() 40, iterator 40. PdfPages' {@code table} reads {@code trailer} as an offset, returns null, the
     * file is read in order: 0.
     */
    @Test
    void aSubsectionCountingMoreRowsThanItHasIsCharged() {
        assertCharged("count-90", "whose table says 0 90 over 83 rows", classic("0 90", null));
    }

    // ---- finding 3: startxref after the last %%EOF ----

    /**
     * {@code % startxref none} after the last {@code %%EOF}: PDFBox's {@code getStartxrefOffset} takes the last
     * {@code startxref} before the last {@code %%EOF}: getNumberOfPages() 40, iterator 40. PdfPages takes the last
     * {@code startxref} in the last 4,096 bytes, no number follows it, the file is read in order: 0.
     */
    @Test
    void aCommentSayingStartxrefAfterTheEndIsCharged() {
        assertCharged("eof-startxref-comment", "with % startxref none after %%EOF", append(classic(), "% startxref none\n"));
    }

    /** A bare {@code startxref} line after the last {@code %%EOF} (a truncated update): PDFBox 40/40, PdfPages 0. */
    @Test
    void aBareStartxrefAfterTheEndIsCharged() {
        assertCharged("eof-startxref", "with a bare startxref after %%EOF", append(classic(), "startxref\n"));
    }

    // ---- finding 4: /W fields wider than 8 bytes ----

    /** Stream 301 with {@code /W [1 9 2]}: PDFBox (widths summing to at most 20) 40/40; PdfPages refuses widths over 8: 0. */
    @Test
    void aNineByteOffsetFieldIsCharged() {
        assertCharged("w192", "packed, /W [1 9 2]", report(1, 9, 2));
    }

    /** Stream 301 with {@code /W [1 4 12]}: PDFBox 40/40, PdfPages 0. */
    @Test
    void aTwelveByteThirdFieldIsCharged() {
        assertCharged("w1412", "packed, /W [1 4 12]", report(1, 4, 12));
    }
}
