package io.tokenquota.servlet.breakit563;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 563 of issue 11: what PdfPages still reads differently from PDFBox 3.0.8 in cross-reference tables and
 * streams after round 562's rules ({@code COSParser.parseXrefTable}, {@code PDFXrefStreamParser}, PDFBox's
 * {@code Predictor}). A PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers plain
 * text without usage is charged its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>The files are round 562's (copied here, its builders being package-private there): a classic 40-page file
 * (catalog 1, tree 2, pages 3, 5, ... 81, one table) and the packed report (catalog 1, tree 2 and the 40 pages in Flate
 * object stream 300, cross-reference stream 301), each followed by left-overs no section names (an empty {@code /Pages}
 * 2 and fonts 3, 5, ... 81): read through the cross-reference data they are nothing; read in order (what PdfPages does
 * when it gives the data up) they replace the tree and the pages, 0. Every figure was measured in a scratch program
 * outside the repository ({@code /tmp/pdfbox-scratch}): {@code Loader.loadPDF(bytes).getNumberOfPages()}, iterating
 * {@code getPages()}, and {@code PdfPages.pageObjects} by reflection. Each finding: PDFBox 40 and 40, PdfPages 0, so the
 * file is charged as no page (its bytes' estimate, or the 1,000-token floor) where at least 10,320 (40 x 258) is due.
 * The charges below are Jetty's and Tomcat's alike, for the first file of each test.
 * Line numbers are PdfPages.java's at round 562's commit (aa721767).
 *
 * <ul>
 * <li>Finding 1 (table). A free slot's row written {@code 0000000000 xxxxx n} (in use, offset 0, a generation that is
 * no number): PDFBox parses the generation only for an offset above 0 and skips the row; PdfPages parses it first
 * ({@code Integer.parseInt(row[1])}, line 525) and gives the table up. Charged 3,753.</li>
 * <li>Finding 2 (streams). The report's cross-reference stream with free rows up to {@code /Size 1100} (a 3.6 KB file;
 * zero rows compress to nothing): PDFBox reads every row; PdfPages' row allowance, {@code max(1024, bytes / 4)} (line
 * 168, spent at line 652), runs out and the data is given up. 1,000 rows pass (control). Charged 1,000.</li>
 * <li>Finding 3 (streams). The last row (object stream 300's, listed last by {@code /Index [0 300 301 1 300 1]}) cut
 * short by 2 bytes: PDFBox's {@code readNextValue} reads what is left into the row buffer, the rest being the previous
 * row's bytes, and places it; PdfPages reads only whole rows (line 641), stream 300 is never named. Charged 1,000.</li>
 * <li>Finding 4 (streams). PNG predictor rows whose filter-type byte is above 4 (5, or one row 7): PDFBox's
 * {@code Predictor} leaves such a row as it is; PdfPages' {@code unpredict} returns null (line 728). Charged 1,000.</li>
 * <li>Finding 5 (streams). TIFF predictor 2 at {@code /BitsPerComponent 16} ({@code /W [1 4 1]}, {@code /Columns 3}):
 * PDFBox undoes it on 16-bit samples; PdfPages' {@code unpredict} refuses any depth but 8 (line 699). Charged 2,188.</li>
 * </ul>
 * Controls that pass: the classic file, the report, a free row whose generation is no number, 1,000 rows in a 3.6 KB
 * stream, a table with CR-only line ends, with CRLF rows, with comment lines between rows, with tabs in its rows, a
 * count larger than its rows, {@code /W [1 4 1]} without a predictor.
 *
 * <p>After the round: a row's generation is read only when it places something, free rows past the row allowance
 * are left out instead of the data given up, a short last row is read over the previous row's bytes, PNG rows of an
 * unknown type are left as they are, and TIFF predictor 2 is read at 16 bits too. Every finding passes but the last
 * row cut to one byte (an open case, switched off with its reason).
 */
abstract class AbstractRound563 extends PdfRound {
    static final String OPEN_SHORT_ROW = "issue 11, open: round 563, a last cross-reference stream row of one byte, its"
            + " offset read over the previous row's as PDFBox reads it, places object stream 300 at object 301's offset;"
            + " PDFBox then counts 40 and PdfPages reads the file in order (docs/decisions.md)";
    private static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";
    private static final int SIZE = 3 + 2 * PAGES;
    private static final int[] W142 = {1, 4, 2};

    AbstractRound563() {
        super(563, PDFBOX_40_PAGES);
    }


    // ---- files (round 562's) ----

    private static void leftOvers(ByteArrayOutputStream out) {
        out.writeBytes(PdfFiles.ascii("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"));
        }
    }

    /** The classic 40-page file over left-overs: {@code xref}, {@code table.apply(offsets)}, the trailer. */
    static byte[] classic(java.util.function.Function<TreeMap<Integer, Integer>, String> table) {
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
        out.writeBytes(PdfFiles.ascii("xref\n" + table.apply(offsets) + "trailer\n<< /Size " + SIZE + " /Root 1 0 R >>\nstartxref\n"
                + xref + "\n%%EOF\n"));
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

    /** The classic file, one subsection {@code 0 83}, row {@code k} written {@code row.apply(k)} where not null. */
    static byte[] classicRows(IntFunction<String> row) {
        return classic(o -> "0 " + SIZE + "\n" + rows(o, row));
    }

    private static void field(ByteArrayOutputStream rows, long value, int width) {
        for (int s = 8 * (width - 1); s >= 0; s -= 8) {
            rows.write((int) (value >> s) & 0xFF);
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

    /** The packed report, {@code /Size} {@code size}: rows 302 and up free (type 0, all zero). */
    static byte[] reportOfSize(int size) {
        return report("/Size " + size + " /W [1 4 2]", l -> {
            for (int k = 302; k < size; k++) {
                l.add(new long[] {0, 0, 0});
            }
            return l;
        });
    }

    /** Rows of {@code width} bytes under PNG predictor rows, each row typed {@code type.apply(r)}: 2 (Up) encoded, else raw. */
    static byte[] png(byte[] in, int width, IntFunction<Integer> type) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int r = 0; r * width < in.length; r++) {
            int t = type.apply(r);
            out.write(t);
            for (int i = 0; i < width; i++) {
                out.write(t == 2 ? (in[r * width + i] - (r > 0 ? in[(r - 1) * width + i] : 0)) & 0xFF : in[r * width + i] & 0xFF);
            }
        }
        return out.toByteArray();
    }

    /** Rows of {@code width} bytes under TIFF predictor 2 at 16 bits a component: each big-endian sample less the one before. */
    static byte[] tiff16(byte[] in, int width) {
        byte[] out = new byte[in.length];
        for (int r = 0; r * width < in.length; r++) {
            int before = 0;
            for (int i = 0; i < width; i += 2) {
                int v = (in[r * width + i] & 0xFF) << 8 | in[r * width + i + 1] & 0xFF;
                int d = (v - before) & 0xFFFF;
                before = v;
                out[r * width + i] = (byte) (d >> 8);
                out[r * width + i + 1] = (byte) d;
            }
        }
        return out;
    }

    // ---- controls (pass today) ----

    /** Control: the classic file over left-overs: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theClassicFileIsCharged() {
        assertCharged("classic", "a classic table over left-over objects", classicRows(k -> null));
    }

    /** Control: the packed report, {@code /W [1 4 2]}: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theReportIsCharged() {
        assertCharged("report", "packed, /W [1 4 2]", report("/Size 302 /W [1 4 2]", l -> l));
    }

    /** Control: a free row whose generation is no number ({@code 0000000000 xxxxx f}): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aFreeRowWithAJunkGenerationIsCharged() {
        assertCharged("free-junk-gen", "whose free row 4 is 0000000000 xxxxx f", classicRows(k -> k == 4 ? "0000000000 xxxxx f\n" : null));
    }

    /** Control: the report's stream with free rows up to {@code /Size 1000} (3,644 bytes): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aThousandRowsAreCharged() {
        assertCharged("size-1000", "packed, /Size 1000", reportOfSize(1000));
    }

    /**
     * Control: tables with CR-only line ends; CRLF rows; a comment line after each free row; tabs inside the rows; a count of
     * 133 over 83 rows: PDFBox 40/40 each, PdfPages 40 each.
     */
    @Test
    void control_tableLineVariantsAreCharged() {
        assertCharged("table-cr", "a table with CR line ends", classic(o -> ("0 " + SIZE + "\n" + rows(o, null)).replace("\n", "\r")));
        assertCharged("table-crlf", "a table with CRLF rows", classic(o -> "0 " + SIZE + "\r\n" + rows(o, null).replace(" \n", "\r\n")));
        assertCharged("table-comments", "a table with comments between rows", classic(o -> "0 " + SIZE + "\n"
                + rows(o, null).replace("f \n", "f \n%c\n")));
        assertCharged("table-tabs", "a table with tabs in its rows", classic(o -> "0 " + SIZE + "\n" + rows(o, null).replace(" 00000 n", "\t00000\tn")));
        assertCharged("table-count", "a table whose count is 133", classic(o -> "0 " + (SIZE + 50) + "\n" + rows(o, null)));
    }

    /** Control: {@code /W [1 4 1]} without a predictor: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aOneByteThirdFieldIsCharged() {
        assertCharged("w141", "packed, /W [1 4 1]", report("/Size 302 /W [1 4 1]", new int[] {1, 4, 1}, l -> l, PdfFiles::deflate,
                "/Filter /FlateDecode"));
    }

    // ---- findings ----

    /**
     * Row 4 (a free slot) written {@code 0000000000 xxxxx n} (second file: {@code -1 x n}): PDFBox skips an in-use row at
     * offset 0 or below before it parses the generation, 40/40 each; PdfPages 0 each (it parses the generation first, line
     * 525, and gives the table up).
     */
    @Test
    void anInUseRowAtOffsetZeroWithAJunkGenerationIsCharged() {
        assertCharged("zero-junk-gen", "whose row 4 is 0000000000 xxxxx n", classicRows(k -> k == 4 ? "0000000000 xxxxx n\n" : null));
        assertCharged("neg-junk-gen", "whose row 4 is -1 x n", classicRows(k -> k == 4 ? "-1 x n\n" : null));
    }

    /**
     * The report's stream with free rows up to {@code /Size 1100} (3,646 bytes; second file {@code /Size 6000}, 3,687 bytes):
     * PDFBox 40/40 each; PdfPages 0 each (its row allowance {@code max(1024, bytes / 4)}, line 168, runs out at line 652).
     */
    @Test
    void aStreamWithMoreRowsThanAQuarterOfItsBytesIsCharged() {
        assertCharged("size-1100", "packed, /Size 1100", reportOfSize(1100));
        assertCharged("size-6000", "packed, /Size 6000", reportOfSize(6000));
    }

    /**
     * {@code /Index [0 300 301 1 300 1]}, object stream 300's row last and cut short by 2 bytes (second file: by 6, one byte
     * left): PDFBox reads the short row over the previous row's bytes and places stream 300, 40/40 each; PdfPages reads whole
     * rows only (line 641), 0 each.
     */
    @Test
    void aShortLastRowIsCharged() {
        assertCharged("short-row-2", "packed, its last row 2 bytes short", shortLastRow(2));
    }

    /** The same cut by 6 bytes: the row keeps its type byte only, its offset the previous row's (object 301's). */
    @Test
    @Disabled(OPEN_SHORT_ROW)
    void aLastRowOfOneByteIsCharged() {
        assertCharged("short-row-6", "packed, its last row 6 bytes short", shortLastRow(6));
    }

    private static byte[] shortLastRow(int cut) {
        return report("/Index [0 300 301 1 300 1] /Size 302 /W [1 4 2]", W142, l -> {
            l.add(l.remove(300));
            return l;
        }, b -> PdfFiles.deflate(Arrays.copyOf(b, b.length - cut)), "/Filter /FlateDecode");
    }

    /**
     * PNG predictor 12, {@code /Columns 7}, every row typed 5 over raw bytes (second file: Up rows but row 10 typed 7, raw):
     * PDFBox leaves a row of an unknown type as it is, 40/40 each; PdfPages' {@code unpredict} returns null (line 728), 0 each.
     */
    @Test
    void pngRowsOfAnUnknownTypeAreCharged() {
        String parms = "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >>";
        assertCharged("png-type5", "packed, PNG rows typed 5", report("/Size 302 /W [1 4 2]", W142, l -> l,
                b -> PdfFiles.deflate(png(b, 7, r -> 5)), parms));
        assertCharged("png-type7", "packed, PNG row 10 typed 7", report("/Size 302 /W [1 4 2]", W142, l -> l,
                b -> PdfFiles.deflate(png(b, 7, r -> r == 10 ? 7 : 2)), parms));
    }

    /**
     * {@code /W [1 4 1]} rows under TIFF predictor 2, {@code /Columns 3 /BitsPerComponent 16}: PDFBox 40/40; PdfPages 0
     * ({@code unpredict} refuses a TIFF depth other than 8, line 699).
     */
    @Test
    void aSixteenBitTiffPredictorIsCharged() {
        assertCharged("tiff16", "packed, TIFF predictor 2 at 16 bits", report("/Size 302 /W [1 4 1]", new int[] {1, 4, 1}, l -> l,
                b -> PdfFiles.deflate(tiff16(b, 6)), "/Filter /FlateDecode /DecodeParms << /Predictor 2 /Columns 3 /BitsPerComponent 16 >>"));
    }
}
