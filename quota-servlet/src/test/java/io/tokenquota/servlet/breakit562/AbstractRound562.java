package io.tokenquota.servlet.breakit562;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 562 of issue 11: where PdfPages still reads a cross-reference table, {@code startxref} or a cross-reference
 * stream differently from PDFBox 3.0.8 ({@code COSParser.parseXrefTable}, {@code parseStartXref},
 * {@code PDFXrefStreamParser}, {@code XrefTrailerResolver}), so that it gives the data up and reads the file in order.
 * A PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage
 * is charged its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>The files are round 560's: a classic 40-page file (catalog 1, tree 2, typed pages 3, 5, ... 81, a table naming
 * them) and the packed report (catalog 1, tree 2 and the 40 pages in Flate object stream 300, cross-reference stream
 * 301), each followed by left-overs no section names (an empty {@code /Pages} 2 and fonts 3, 5, ... 81). Read through
 * the cross-reference data the left-overs are nothing; read in order they replace the tree and the pages: 0.
 * Every figure below was measured in a scratch program outside the repository: {@code Loader.loadPDF(bytes)},
 * {@code getNumberOfPages()} and iterating {@code getPages()}, and {@code PdfPages.pageObjects} by reflection.
 * Every finding: PDFBox 40 and 40, PdfPages 0, so the file is charged as no page (the estimate of its bytes as text,
 * or the 1,000-token floor for the packed report) where at least 10,320 (40 x 258) is due; the charges below are
 * Jetty's and Tomcat's alike. Line numbers are PdfPages.java's at round 560's commit (0eb2b21a).
 *
 * <p>Table ({@code PdfPages.table}, which lexes each row as exactly three tokens and refuses negative headers;
 * PDFBox reads a row as a line split on white space):
 * <ul>
 * <li>Finding 1. An in-use row of four tokens, {@code 0000000123 00000 00 n} (PDFBOX-474): PDFBox takes the first
 * field as the offset, the second as the generation, whatever stands between them and the final {@code n}. PdfPages
 * reads {@code 00} as the row's type and gives the table up (line 471). Charged 3,757.</li>
 * <li>Finding 2. A free row with a token after its {@code f} ({@code 0000000000 65535 f 0}, or {@code ... f f}):
 * PDFBox checks only the third field of a row whose last is not {@code n}. PdfPages reads the extra token as the next
 * row's offset, the rows shift, and the table fails (line 470-471). Charged 3,757.</li>
 * <li>Finding 3. A subsection header with a negative count ({@code 90 -1}) before {@code 0 83}: PDFBox reads no row
 * for it and goes on to the next header. PdfPages refuses a count below 0 (line 458). Charged 3,759.</li>
 * <li>Finding 4. A subsection header with a negative first object ({@code -5 1}, one free row) before {@code 0 83}:
 * PDFBox parses it as a long and reads on. PdfPages refuses a first below 0 (line 458). Charged 3,769.</li>
 * </ul>
 * {@code startxref} ({@code PdfPages.readThroughXref}, which lexes its number within 64 bytes and wants an integer;
 * PDFBox's {@code parseStartXref} skips white space and comments, then reads the run of digits):
 * <ul>
 * <li>Finding 5. 80 spaces (or an 80-character comment line) between {@code startxref} and its number: PdfPages'
 * 64-byte window (line 236) ends before the number, line 237 gives the data up. Charged 3,755.</li>
 * <li>Finding 6. The number written {@code 7711.0}: PDFBox reads the digits {@code 7711}; PdfPages lexes a real and
 * refuses it (line 237). Charged 3,757.</li>
 * </ul>
 * Cross-reference stream ({@code PdfPages.xrefStream}):
 * <ul>
 * <li>Finding 7. Rows of type 3 (or 255) for the packed objects: PDFBox's {@code parse} skips only type 0 and reads
 * every other type as type 2 (an object in stream {@code second}). PdfPages places nothing for types above 2, and
 * object stream 300, named by no entry, is never read (line 575, {@code : null}). Charged 1,000.</li>
 * <li>Finding 8. {@code /Index [-1 1 0 302]} (one more row, for object -1): PDFBox's {@code ObjectNumbers} takes any
 * integers. PdfPages refuses a first below 0 (line 562). Charged 2,170.</li>
 * <li>Finding 9. {@code /Index [0 1 500 0 1 301]} with one row more after row 0: PDFBox's {@code ObjectNumbers.next()}
 * returns the first number of an empty range that follows another (500), so it consumes a row there. PdfPages reads no
 * row for it, every later row shifts by one, and {@code placed} fails. Charged 1,000.</li>
 * <li>Finding 10. {@code /W [1 4 null]} over 5-byte rows: PDFBox's {@code wArray.getInt(i, 0)} reads anything but a
 * number as 0. PdfPages refuses a width that is no number (line 518). Charged 2,034.</li>
 * <li>Finding 11. An update whose cross-reference stream has no {@code /Size} and no {@code /Index} (and {@code /Prev}
 * to the full stream): PDFBox reads it as {@code /Index [0 0]}, no rows, and follows {@code /Prev}. PdfPages (line
 * "a section with neither /Index nor a /Size is broken") gives the whole chain up (line 557). Charged 1,000.</li>
 * <li>Finding 12. The stream under {@code /RunLengthDecode} (alone, or after {@code /FlateDecode}): PDFBox decodes
 * every standard filter. PdfPages' {@code supported} knows Flate, ASCIIHex and ASCII85 only (line 536). Charged 1,000
 * each.</li>
 * <li>Finding 13. Its PNG predictor under the abbreviation {@code /DP} ({@code << /Predictor 12 /Columns 7 >>}):
 * PDFBox's {@code Filter.getDecodeParams} reads {@code /DP} first. PdfPages' {@code xrefStream} reads only
 * {@code /DecodeParms} (round 551 taught {@code /DP} to object streams only), so the predicted rows are read raw (line
 * 535) and {@code placed} fails. Charged 2,258.</li>
 * <li>Finding 14. A TIFF predictor ({@code /Predictor 2}): PDFBox undoes it; PdfPages' {@code unpredict} returns null
 * for any predictor from 2 to 9 (line 602). Charged 1,000.</li>
 * </ul>
 * Generations ({@code PdfPages.sections}, entries keyed by object number alone):
 * <ul>
 * <li>Finding 15. An update (over the classic file without left-overs) that places {@code 2 1 obj} (an empty tree) and
 * {@code 3 1 obj}, {@code 5 1 obj}, ... (fonts) under generation 1: PDFBox keys its table by number and generation, so
 * the catalog's {@code 2 0 R} and the tree's {@code 3 0 R} ... still name the generation-0 objects. PdfPages keeps
 * the newest entry per number (line 479, {@code putIfAbsent} by number) and reads the empty tree and the fonts. Charged
 * 4,332.</li>
 * </ul>
 * The controls (the classic file, the report, short free-form table rows, {@code startxref} followed by digits then
 * junk, a split {@code /Index} without an empty range, {@code /W [1 4 0]}, a predictor under {@code /DecodeParms}, an
 * update whose stream says {@code /Size 0}) pass in both containers.
 *
 * <p>After the round: tables are read by lines as PDFBox reads them, {@code startxref}'s number after any white
 * space and comments (a real by its digits), cross-reference streams with {@code /W} non-numbers as 0, {@code /DP},
 * {@code /Index} as PDFBox's ObjectNumbers, no {@code /Size} as no rows, types above 2 as 2, RunLengthDecode and TIFF
 * predictor 2: fourteen findings pass. Entries are kept by object number, not by number and generation, so an
 * update placing {@code 2 1 obj} replaces {@code 2 0 R}: an open case, its test switched off with that reason.
 */
abstract class AbstractRound562 extends PdfRound {
    static final String OPEN_GENERATIONS = "issue 11, open: round 562, cross-reference entries are kept by object number,"
            + " not by number and generation, so an update placing 2 1 obj replaces the 2 0 obj a reference names"
            + " (docs/decisions.md)";
    private static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";
    private static final int SIZE = 3 + 2 * PAGES;
    private static final int[] W142 = {1, 4, 2};

    AbstractRound562() {
        super(562, PDFBOX_40_PAGES);
    }


    // ---- files ----


    /** An empty tree 2 and fonts 3, 5, ... 81 under {@code generation}: objects no section names (or an update's). */
    static void objectsReplacingTheTree(ByteArrayOutputStream out, int generation, TreeMap<Integer, Integer> offsets) {
        offsets.put(2, out.size());
        out.writeBytes(PdfFiles.ascii("2 " + generation + " obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            offsets.put(3 + 2 * i, out.size());
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " " + generation
                    + " obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"));
        }
    }

    private static void leftOvers(ByteArrayOutputStream out) {
        objectsReplacingTheTree(out, 0, new TreeMap<>());
    }

    /**
     * The classic 40-page file (over left-overs when {@code leftOvers}): its table is {@code xref}, then
     * {@code table.apply(offsets)}, then the trailer; {@code startxref} is followed by {@code afterStartxref} with
     * {@code XREF} replaced by the table's offset (null: a line break and the offset).
     */
    static byte[] classic(Function<TreeMap<Integer, Integer>, String> table, String afterStartxref, boolean leftOvers) {
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
        if (leftOvers) {
            leftOvers(out);
        }
        int xref = out.size();
        out.writeBytes(PdfFiles.ascii("xref\n" + table.apply(offsets) + "trailer\n<< /Size " + SIZE + " /Root 1 0 R >>\nstartxref"
                + (afterStartxref == null ? "\n" + xref : afterStartxref.replace("XREF", Integer.toString(xref))) + "\n%%EOF\n"));
        return out.toByteArray();
    }

    /** The table's rows 0 to 82, row {@code k} written {@code row.apply(k)} where that is not null. */
    static String rows(TreeMap<Integer, Integer> offsets, IntFunction<String> row) {
        StringBuilder t = new StringBuilder();
        for (int k = 0; k < SIZE; k++) {
            String written = row == null ? null : row.apply(k);
            t.append(written != null ? written : offsets.containsKey(k) ? String.format("%010d 00000 n \n", offsets.get(k))
                    : k == 0 ? "0000000000 65535 f \n" : "0000000000 00000 f \n");
        }
        return t.toString();
    }

    /** The classic file over left-overs: {@code before} (subsections ahead of {@code 0 83}), then {@code 0 83} and its rows. */
    static byte[] classic(String before, IntFunction<String> row) {
        return classic(o -> before + "0 " + SIZE + "\n" + rows(o, row), null, true);
    }

    static byte[] classic() {
        return classic("", null);
    }

    /** The classic file over left-overs, {@code startxref} followed by {@code after} ({@code XREF}: the offset). */
    static byte[] startxref(String after) {
        return classic(o -> "0 " + SIZE + "\n" + rows(o, null), after, true);
    }

    private static void field(ByteArrayOutputStream rows, long value, int width) {
        for (int s = 8 * (width - 1); s >= 0; s -= 8) {
            rows.write(s >= 64 ? 0 : (int) (value >> s) & 0xFF);
        }
    }

    /**
     * The packed report over left-overs, its cross-reference stream 301 {@code << /Type /XRef dict /Root 1 0 R /Length
     * n filter >>}: rows 0 to 301 ({@code {type, second, third}}) as {@code edit} changes them, each field written in
     * {@code widths}, the rows encoded by {@code encode}.
     */
    static byte[] report(String dict, int[] widths, UnaryOperator<List<long[]>> edit, UnaryOperator<byte[]> encode, String filter) {
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
        List<long[]> list = new ArrayList<>();
        for (int k = 0; k < 302; k++) {
            int type = k == 300 || k == 301 ? 1 : packed.containsKey(k) ? 2 : 0;
            list.add(new long[] {type, type == 1 ? (k == 300 ? objectStream : xrefStream) : type == 2 ? 300 : 0,
                type == 2 ? packed.get(k) : k == 0 ? 65535 : 0});
        }
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (long[] r : edit.apply(list)) {
            field(rows, r[0], widths[0]);
            field(rows, r[1], widths[1]);
            field(rows, r[2], widths[2]);
        }
        byte[] xref = encode.apply(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii("301 0 obj\n<< /Type /XRef " + dict + " /Root 1 0 R /Length " + xref.length + " " + filter
                + " >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + xrefStream + "\n%%EOF\n"));
        return out.toByteArray();
    }

    /** The packed report, {@code /W [1 4 2]} under Flate, {@code dict} before {@code /Root}, its rows as {@code edit} changes them. */
    static byte[] report(String dict, UnaryOperator<List<long[]>> edit) {
        return report(dict, W142, edit, PdfFiles::deflate, "/Filter /FlateDecode");
    }

    /** {@link #report(String, UnaryOperator)} with its rows as written, {@code filter} (and parameters) over {@code encode}. */
    static byte[] report(UnaryOperator<byte[]> encode, String filter) {
        return report("/Size 302 /W [1 4 2]", W142, l -> l, encode, filter);
    }

    /** RunLengthDecode's encoding (ISO 32000-1 7.4.5): literal runs of at most 128 bytes, then 128. */
    static byte[] runLength(byte[] in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < in.length; i += 128) {
            int n = Math.min(128, in.length - i);
            out.write(n - 1);
            out.write(in, i, n);
        }
        out.write(128);
        return out.toByteArray();
    }

    /** Rows of {@code width} bytes under the PNG Up predictor (each row after its type byte 2). */
    static byte[] png(byte[] in, int width) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int r = 0; r * width < in.length; r++) {
            out.write(2);
            for (int i = 0; i < width; i++) {
                out.write((in[r * width + i] - (r > 0 ? in[(r - 1) * width + i] : 0)) & 0xFF);
            }
        }
        return out.toByteArray();
    }

    /** Rows of {@code width} bytes under TIFF predictor 2 (each byte less the one before it in its row). */
    static byte[] tiff(byte[] in, int width) {
        byte[] out = new byte[in.length];
        for (int r = 0; r * width < in.length; r++) {
            for (int i = 0; i < width; i++) {
                out[r * width + i] = (byte) (in[r * width + i] - (i > 0 ? in[r * width + i - 1] : 0));
            }
        }
        return out;
    }

    static long startxrefOf(byte[] pdf) {
        String t = text(pdf);
        int at = t.lastIndexOf("startxref\n") + 10;
        return Long.parseLong(t.substring(at, t.indexOf('\n', at)));
    }

    /**
     * The packed report with an update: cross-reference stream 302, {@code /W [1 4 2] /Prev} (the report's stream)
     * {@code /Root 1 0 R} and {@code sizeEntry}, no rows.
     */
    static byte[] reportWithAnEmptyUpdate(String sizeEntry) {
        byte[] report = report("/Size 302 /W [1 4 2]", l -> l);
        byte[] empty = PdfFiles.deflate(new byte[0]);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(report);
        out.writeBytes(PdfFiles.ascii("302 0 obj\n<< /Type /XRef" + sizeEntry + " /W [1 4 2] /Prev " + startxrefOf(report)
                + " /Root 1 0 R /Length " + empty.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(empty);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + report.length + "\n%%EOF\n"));
        return out.toByteArray();
    }

    // ---- controls (pass today) ----

    /** Control: the classic file over left-overs: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theClassicFileIsCharged() {
        assertCharged("classic", "a classic table over left-over objects", classic());
    }

    /** Control: the table's rows written short and free-form ({@code 123 0 n}, {@code 0 0 f}): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_shortTableRowsAreCharged() {
        assertCharged("short-rows", "with rows written 123 0 n", classic(o -> "0 " + SIZE + "\n"
                + rows(o, k -> o.containsKey(k) ? o.get(k) + " 0 n\n" : "0 0 f\n"), null, true));
    }

    /** Control: {@code startxref} followed by its digits then junk ({@code 7711abc}): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aStartxrefFollowedByJunkIsCharged() {
        assertCharged("startxref-junk", "with startxref 7711abc", startxref("\nXREFabc"));
    }

    /** Control: the packed report, {@code /W [1 4 2]}: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theReportIsCharged() {
        assertCharged("report", "packed, /W [1 4 2]", report("/Size 302 /W [1 4 2]", l -> l));
    }

    /** Control: {@code /Index [0 1 1 301]} (split, no empty range): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aSplitIndexIsCharged() {
        assertCharged("index-split", "packed, /Index [0 1 1 301]", report("/Index [0 1 1 301] /Size 302 /W [1 4 2]", l -> l));
    }

    /** Control: {@code /W [1 4 0]} over 5-byte rows: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aZeroThirdWidthIsCharged() {
        assertCharged("w140", "packed, /W [1 4 0]", report("/Size 302 /W [1 4 0]", new int[] {1, 4, 0}, l -> l, PdfFiles::deflate,
                "/Filter /FlateDecode"));
    }

    /** Control: a PNG predictor under {@code /DecodeParms << /Predictor 12 /Columns 7 >>}: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aPredictorUnderDecodeParmsIsCharged() {
        assertCharged("png-decodeparms", "packed, rows under /DecodeParms predictor 12",
                report(b -> PdfFiles.deflate(png(b, 7)), "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >>"));
    }

    /** Control: an update whose cross-reference stream says {@code /Size 0}, no rows: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_anEmptyUpdateWithSizeZeroIsCharged() {
        assertCharged("update-size0", "behind an empty update with /Size 0", reportWithAnEmptyUpdate(" /Size 0"));
    }

    // ---- findings 1-4: table rows and subsection headers ----

    /**
     * Row 3 written {@code 0000000XXX 00000 00 n} (four fields, PDFBOX-474): PDFBox getNumberOfPages() 40, iterator 40;
     * PdfPages 0 ({@code table}: the row's third token {@code 00} is neither n nor f, null, read in order).
     */
    @Test
    void aFourFieldRowInUseIsCharged() {
        assertCharged("row-4-fields", "whose row 3 has four fields", classic(o -> "0 " + SIZE + "\n"
                + rows(o, k -> k == 3 ? String.format("%010d 00000 00 n\n", o.get(3)) : null), null, true));
    }

    /**
     * Row 0 written {@code 0000000000 65535 f 0} (a token after the f): PDFBox 40/40; PdfPages 0 ({@code table} reads
     * {@code 0} as the next row's offset, the rows shift, {@code trailer} is read as a generation). The same with row 4
     * written {@code 0000000000 00000 f f}: PDFBox 40/40, PdfPages 0.
     */
    @Test
    void aFreeRowWithATokenAfterItIsCharged() {
        assertCharged("free-row-extra", "whose free row 0 ends f 0", classic("", k -> k == 0 ? "0000000000 65535 f 0\n" : null));
        assertCharged("free-row-ff", "whose free row 4 ends f f", classic("", k -> k == 4 ? "0000000000 00000 f f\n" : null));
    }

    /** A subsection {@code 90 -1} (no rows) before {@code 0 83}: PDFBox 40/40; PdfPages 0 ({@code table}: count below 0). */
    @Test
    void aSubsectionWithANegativeCountIsCharged() {
        assertCharged("count-negative", "whose table opens with a subsection 90 -1", classic("90 -1\n", null));
    }

    /**
     * A subsection {@code -5 1} (one free row) before {@code 0 83}: PDFBox 40/40; PdfPages 0 ({@code table}: first
     * below 0).
     */
    @Test
    void aSubsectionWithANegativeFirstIsCharged() {
        assertCharged("first-negative", "whose table opens with a subsection -5 1", classic("-5 1\n0000000000 00000 f \n", null));
    }

    // ---- findings 5-6: the number after startxref ----

    /**
     * 80 spaces between {@code startxref} and its number (and, second file, an 80-character comment line): PDFBox
     * 40/40 each; PdfPages 0 each ({@code readThroughXref} lexes the number within 64 bytes of {@code startxref}).
     */
    @Test
    void aStartxrefWhoseNumberIsPastSixtyFourBytesIsCharged() {
        assertCharged("startxref-spaces", "with 80 spaces after startxref", startxref(" ".repeat(80) + "\nXREF"));
        assertCharged("startxref-comment", "with an 80-character comment after startxref", startxref("\n% " + "x".repeat(80) + "\nXREF"));
    }

    /** {@code startxref} followed by {@code 7711.0}: PDFBox reads the digits, 40/40; PdfPages 0 (a real, not an INT). */
    @Test
    void aStartxrefWrittenAsARealIsCharged() {
        assertCharged("startxref-real", "with startxref 7711.0", startxref("\nXREF.0"));
    }

    // ---- findings 7-14: cross-reference streams ----

    /**
     * The packed objects' rows typed 3 (second file: 255) instead of 2: PDFBox reads any type but 0 and 1 as type 2,
     * 40/40 each; PdfPages 0 each ({@code xrefStream} places nothing for a type above 2, stream 300 is never read).
     */
    @Test
    void rowsOfAnUnknownTypeAreCharged() {
        assertCharged("type-3", "packed, its rows typed 3", report("/Size 302 /W [1 4 2]", l -> {
            l.forEach(r -> r[0] = r[0] == 2 ? 3 : r[0]);
            return l;
        }));
        assertCharged("type-255", "packed, its rows typed 255", report("/Size 302 /W [1 4 2]", l -> {
            l.forEach(r -> r[0] = r[0] == 2 ? 255 : r[0]);
            return l;
        }));
    }

    /** {@code /Index [-1 1 0 302]} over one more (free) row: PDFBox 40/40; PdfPages 0 ({@code xrefStream}: first below 0). */
    @Test
    void anIndexWithANegativeFirstIsCharged() {
        assertCharged("index-negative", "packed, /Index [-1 1 0 302]", report("/Index [-1 1 0 302] /Size 302 /W [1 4 2]", l -> {
            l.add(0, new long[] {0, 0, 0});
            return l;
        }));
    }

    /**
     * {@code /Index [0 1 500 0 1 301]}, a free row after row 0: PDFBox's {@code ObjectNumbers} gives the empty range's
     * 500 a row, 40/40; PdfPages reads none for it, the rows after shift by one: 0.
     */
    @Test
    void anIndexWithAnEmptyRangeInTheMiddleIsCharged() {
        assertCharged("index-empty-range", "packed, /Index [0 1 500 0 1 301]", report("/Index [0 1 500 0 1 301] /Size 302 /W [1 4 2]",
                l -> {
                    l.add(1, new long[] {0, 0, 0});
                    return l;
                }));
    }

    /** {@code /W [1 4 null]} over 5-byte rows: PDFBox reads the null as 0, 40/40; PdfPages 0 (a width that is no number). */
    @Test
    void aWidthThatIsNoNumberIsCharged() {
        assertCharged("w-null", "packed, /W [1 4 null]", report("/Size 302 /W [1 4 null]", new int[] {1, 4, 0}, l -> l,
                PdfFiles::deflate, "/Filter /FlateDecode"));
    }

    /**
     * An update whose cross-reference stream 302 has neither {@code /Size} nor {@code /Index}, {@code /Prev} the report's:
     * PDFBox reads no rows from it and follows {@code /Prev}, 40/40; PdfPages 0 ({@code xrefStream} returns null, the
     * chain is given up).
     */
    @Test
    void anUpdateStreamWithoutSizeIsCharged() {
        assertCharged("update-no-size", "behind an empty update without /Size", reportWithAnEmptyUpdate(""));
    }

    /**
     * The rows under {@code /RunLengthDecode} (second file: {@code [/FlateDecode /RunLengthDecode]}): PDFBox 40/40 each;
     * PdfPages 0 each ({@code supported}: Flate, ASCIIHex, ASCII85 only).
     */
    @Test
    void aRunLengthCrossReferenceStreamIsCharged() {
        assertCharged("runlength", "packed, rows under RunLengthDecode", report(AbstractRound562::runLength, "/Filter /RunLengthDecode"));
        assertCharged("flate-runlength", "packed, rows under Flate and RunLength",
                report(b -> PdfFiles.deflate(runLength(b)), "/Filter [/FlateDecode /RunLengthDecode]"));
    }

    /**
     * The PNG predictor under {@code /DP << /Predictor 12 /Columns 7 >>}: PDFBox 40/40; PdfPages 0 ({@code xrefStream}
     * reads only {@code /DecodeParms}).
     */
    @Test
    void aPredictorUnderDpIsCharged() {
        assertCharged("png-dp", "packed, rows under /DP predictor 12",
                report(b -> PdfFiles.deflate(png(b, 7)), "/Filter /FlateDecode /DP << /Predictor 12 /Columns 7 >>"));
    }

    /** TIFF predictor 2, {@code /Columns 7}: PDFBox 40/40; PdfPages 0 ({@code unpredict}: null for predictors 2 to 9). */
    @Test
    void aTiffPredictorIsCharged() {
        assertCharged("tiff", "packed, rows under TIFF predictor 2",
                report(b -> PdfFiles.deflate(tiff(b, 7)), "/Filter /FlateDecode /DecodeParms << /Predictor 2 /Columns 7 >>"));
    }

    // ---- finding 15: generations ----

    /**
     * The classic file without left-overs, then an update placing {@code 2 1 obj} (an empty tree) and {@code 3 1 obj},
     * {@code 5 1 obj}, ... {@code 81 1 obj} (fonts), its table naming them under generation 1: PDFBox keys entries by
     * number and generation, {@code 2 0 R} still names the tree, 40/40; PdfPages 0 (the newest entry per number).
     */
    @Test
    @Disabled(OPEN_GENERATIONS)
    void anUpdatePlacingGenerationOneObjectsIsCharged() {
        byte[] pdf = classic(o -> "0 " + SIZE + "\n" + rows(o, null), null, false);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(pdf);
        TreeMap<Integer, Integer> update = new TreeMap<>();
        objectsReplacingTheTree(out, 1, update);
        int xref = out.size();
        StringBuilder table = new StringBuilder("xref\n0 1\n0000000000 65535 f \n");
        update.forEach((k, at) -> table.append(k).append(" 1\n").append(String.format("%010d 00001 n \n", at)));
        table.append("trailer\n<< /Size ").append(SIZE).append(" /Root 1 0 R /Prev ").append(startxrefOf(pdf))
                .append(" >>\nstartxref\n").append(xref).append("\n%%EOF\n");
        out.writeBytes(PdfFiles.ascii(table.toString()));
        assertCharged("update-gen1", "behind an update placing generation-1 objects", out.toByteArray());
    }
}
