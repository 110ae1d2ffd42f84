package io.tokenquota.servlet.breakit564;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntBinaryOperator;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 564 of issue 11: what PdfPages still reads differently from PDFBox 3.0.8 in object streams' headers and
 * dictionaries ({@code objectStream}, {@code readObjectStream}) and in the objects the cross-reference data places
 * ({@code placed}, {@code header}), after rounds 558-563 made its sections and rows PDFBox's. A PDF sent as the body
 * ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its
 * estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Also looked at, no difference found: the trailer's {@code /Root} (PDFBox merges the chain's trailers, the newest
 * key winning, as PdfPages takes the newest {@code /Root}; a {@code /Root} that is no dictionary fails PDFBox too), a
 * hybrid {@code /XRefStm}'s dictionary (no trailer to either), {@code /Extends} (read by neither), and the tree walk
 * ({@code PDPageTree.PageIterator}: a node with {@code /Kids} remembered, the root not, a page named twice counted
 * twice, a {@code /Type /Page} root wrapped as PDFBOX-3154; PdfPages follows each).
 *
 * <p>Every figure was measured in a scratch program outside the repository ({@code /tmp/adv564}):
 * {@code Loader.loadPDF(bytes).getNumberOfPages()}, iterating {@code getPages()}, and {@code PdfPages.pageObjects} by
 * reflection. Each finding: PDFBox 40 and 40, PdfPages 0, so the file is charged as no page (the 1,000-token floor, or
 * the estimate of its bytes as text) where at least 10,320 (40 x 258) is due. Line numbers are PdfPages.java's at
 * round 563's commit (e188012c).
 *
 * <ul>
 * <li>Finding 1 ({@code aHeaderWhoseOffsetsLagIsCharged}). The report packed in object stream 300 whose header
 * gives each object's offset short by its index (a writer that left each object's line end out of its sums; or each
 * offset written as the object's index, 0, 1, 2, ...): PDFBox's {@code PDFObjectStreamParser.parseAllObjects} reads the
 * objects in offset order and skips ahead only to an offset past where it is ({@code currentPosition < finalPosition}),
 * so each object is read from where the one before it ended: 40/40. PdfPages lexes each object from {@code /First} plus
 * its offset to the next offset (line 1263, {@code new PdfPages(content, first + offset, end, budget)}), starting in the
 * object before it: the tree's pages are an integer or a stray {@code >}, 0. Charged 1,000.</li>
 * <li>Finding 2 ({@code countsNamedThroughAnotherStreamOrNoRowAreCharged}). Object stream 300's {@code /N} (or
 * {@code /First}) a reference to an integer packed in another object stream (305), or to a direct integer object that
 * no row places: PDFBox's {@code getInt} dereferences it (decoding stream 305, or finding the object by its brute-force
 * search), 40/40. PdfPages' {@code resolve} (line 1495) looks only at the objects read so far, which hold neither, so
 * {@code integer} gives -1 and {@code readObjectStream} (line 1134, {@code n < 0 || first < 0}) returns without
 * reading the stream or counting its /N: 0. Charged 1,000.</li>
 * <li>Finding 3 ({@code aRowNamingAnotherObjectIsCharged}). A classic table whose rows place objects under another
 * number than the header at their offset (its subsection written {@code 1 83} instead of {@code 0 83}, every row a
 * number off; or rows 3 and 5 swapped), over round 562's left-overs no row names: PDFBox's {@code validateXrefOffsets}
 * ({@code findObjectKey}, lenient) takes the number the header gives and keeps the table, 40/40. PdfPages'
 * {@code placed} (line 765, {@code header} line 779 wants the row's own number) refuses the data and
 * {@code readThroughXref} (line 261) reads the file in order, where the left-overs replace the tree and the pages: 0. Charged 3,755.</li>
 * </ul>
 * The charges are Jetty's and Tomcat's alike, for the first file of each test (an assertion stops there); the other
 * files' figures are the scratch program's.
 * Controls that pass: the packed report; the classic file; a header whose offsets lag by one byte after the first
 * (still inside each object's line end); {@code /N} and {@code /First} as references to direct integers the rows place;
 * {@code /N} and {@code /First} direct beside a stream packing integers.
 *
 * <p>After the round: an entry whose offset holds another object's header names that object, as PDFBox renames it
 * ({@code PdfPages.placed}), and an object stream's objects are read on from where the one before ended when their
 * offsets lag, as PDFBox reads them: {@code aRowNamingAnotherObjectIsCharged} and {@code aHeaderWhoseOffsetsLagIsCharged}
 * pass; the /N or /First named elsewhere is an open case in docs/decisions.md, its test switched off with that reason.
 */
abstract class AbstractRound564 extends PdfRound {
    static final String OPEN_COUNT_ELSEWHERE = "issue 11, open: round 564, an object stream's /N or /First naming an"
            + " integer in another object stream, or one no row places, is not followed (docs/decisions.md)";
    static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";

    AbstractRound564() {
        super(564, PDFBOX_40_PAGES);
    }

    // ---- files ----

    /** A packed object stream's content: its header, where its objects start, each object's index. */
    record Stream(String content, int first, int n, TreeMap<Integer, Integer> index) {
    }

    /**
     * Objects packed in number order, one line each; each pair's offset written {@code offset.applyAsInt(i, true)},
     * {@code true} being the object's real offset from {@code /First}.
     */
    static Stream pack(TreeMap<Integer, String> objects, IntBinaryOperator offset) {
        StringBuilder header = new StringBuilder();
        StringBuilder body = new StringBuilder();
        TreeMap<Integer, Integer> index = new TreeMap<>();
        for (int k : objects.keySet()) {
            header.append(k).append(' ').append(offset.applyAsInt(index.size(), body.length())).append(' ');
            body.append(objects.get(k)).append('\n');
            index.put(k, index.size());
        }
        header.append('\n');
        return new Stream(header.toString() + body, header.length(), objects.size(), index);
    }

    /** The report's objects: catalog 1, tree 2, pages 3, 5, ... 81. */
    static TreeMap<Integer, String> reportObjects() {
        TreeMap<Integer, String> objects = ObjectStreamPdfs.treeAndPages(PAGES);
        objects.put(1, CATALOG);
        return objects;
    }

    /**
     * A file of object streams ({@code streams}: number to packed stream, each Flate; {@code dicts}: what stands in its
     * dictionary for /N and /First, {@code %d} the real /N then /First, by default {@code /N %d /First %d}) and direct
     * objects ({@code direct}: number to its text between {@code obj} and {@code endobj}), named by cross-reference
     * stream 399 ({@code /W [1 4 2]}, {@code /Size 400}, {@code /Root 1 0 R}); {@code unlisted}: direct objects written in
     * the file that no row places (their rows free).
     */
    static byte[] file(Map<Integer, Stream> streams, Map<Integer, String> dicts, Map<Integer, String> direct, List<Integer> unlisted) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii(PdfFiles.HEADER));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        TreeMap<Integer, long[]> packed = new TreeMap<>();
        for (Map.Entry<Integer, Stream> e : streams.entrySet()) {
            Stream s = e.getValue();
            byte[] data = PdfFiles.deflate(PdfFiles.ascii(s.content()));
            offsets.put(e.getKey(), out.size());
            String nFirst = String.format(dicts.getOrDefault(e.getKey(), "/N %d /First %d"), s.n(), s.first());
            out.writeBytes(PdfFiles.ascii(e.getKey() + " 0 obj\n<< /Type /ObjStm " + nFirst + " /Length " + data.length
                    + " /Filter /FlateDecode >>\nstream\n"));
            out.writeBytes(data);
            out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
            s.index().forEach((k, i) -> packed.put(k, new long[] {e.getKey(), i}));
        }
        for (Map.Entry<Integer, String> e : direct.entrySet()) {
            if (!unlisted.contains(e.getKey())) {
                offsets.put(e.getKey(), out.size());
            }
            out.writeBytes(PdfFiles.ascii(e.getKey() + " 0 obj\n" + e.getValue() + "\nendobj\n"));
        }
        int xref = out.size();
        offsets.put(399, xref);
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int k = 0; k < 400; k++) {
            long[] p = packed.get(k);
            int type = offsets.containsKey(k) ? 1 : p != null ? 2 : 0;
            row(rows, type, type == 1 ? offsets.get(k) : type == 2 ? p[0] : 0, type == 2 ? (int) p[1] : k == 0 ? 65535 : 0);
        }
        byte[] data = PdfFiles.deflate(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii("399 0 obj\n<< /Type /XRef /Size 400 /W [1 4 2] /Root 1 0 R /Length " + data.length
                + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(data);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + xref + "\n%%EOF\n"));
        return out.toByteArray();
    }

    private static void row(ByteArrayOutputStream rows, int type, long second, int third) {
        rows.write(type);
        for (int s = 24; s >= 0; s -= 8) {
            rows.write((int) (second >> s) & 0xFF);
        }
        rows.write(third >> 8 & 0xFF);
        rows.write(third & 0xFF);
    }

    /** The report packed in stream 300, its pairs' offsets written {@code offset.applyAsInt(i, real)}. */
    static byte[] report(IntBinaryOperator offset) {
        return file(Map.of(300, pack(reportObjects(), offset)), Map.of(), Map.of(), List.of());
    }

    /**
     * The report packed in stream 300 whose dictionary gives {@code nFirst} ({@code %d}: /N then /First), beside stream
     * 305 packing object 310 (the integer 42, /N) and 311 (the integer {@code /First}).
     */
    static byte[] countsPacked(String nFirst) {
        Stream report = pack(reportObjects(), (i, real) -> real);
        TreeMap<Integer, String> counts = new TreeMap<>();
        counts.put(310, Integer.toString(report.n()));
        counts.put(311, Integer.toString(report.first()));
        return file(new TreeMap<>(Map.of(300, report, 305, pack(counts, (i, real) -> real))), Map.of(300, nFirst), Map.of(), List.of());
    }

    /** The report packed in stream 300 whose dictionary gives {@code nFirst}, direct integers 310 (/N) and 311 (/First), {@code unlisted} of them left out of the rows. */
    static byte[] countsDirect(String nFirst, List<Integer> unlisted) {
        Stream report = pack(reportObjects(), (i, real) -> real);
        TreeMap<Integer, String> direct = new TreeMap<>();
        direct.put(310, Integer.toString(report.n()));
        direct.put(311, Integer.toString(report.first()));
        return file(Map.of(300, report), Map.of(300, nFirst), direct, unlisted);
    }

    /** The classic file's objects: 1 to 82 (83 rows). */
    static final int SIZE = 3 + 2 * PAGES;

    /**
     * The classic 40-page file (catalog 1, tree 2, pages 3, 5, ... 81, one table) followed by left-overs no row names
     * (an empty {@code /Pages} 2 and fonts 3, 5, ... 81, round 562's): {@code xref}, {@code header} (the subsection's
     * first number), the rows 0 to 82 with row {@code k} placing the object {@code placed.applyAsInt(k)} says, the trailer.
     */
    static byte[] classic(String header, java.util.function.IntUnaryOperator placed) {
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
        out.writeBytes(PdfFiles.ascii("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"));
        }
        int xref = out.size();
        StringBuilder t = new StringBuilder("xref\n" + header + " " + SIZE + "\n");
        for (int k = 0; k < SIZE; k++) {
            int o = placed.applyAsInt(k);
            t.append(offsets.containsKey(o) ? String.format("%010d 00000 n \n", offsets.get(o)) : k == 0 ? "0000000000 65535 f \n"
                    : "0000000000 00000 f \n");
        }
        out.writeBytes(PdfFiles.ascii(t + "trailer\n<< /Size " + SIZE + " /Root 1 0 R >>\nstartxref\n" + xref + "\n%%EOF\n"));
        return out.toByteArray();
    }

    // ---- controls (pass today) ----

    /** Control: the report packed in object stream 300, cross-reference stream 399: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_thePackedReportIsCharged() {
        assertCharged("report", "packed in object stream 300", report((i, real) -> real));
    }

    /** Control: the classic file over left-overs no row names: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theClassicFileIsCharged() {
        assertCharged("classic", "a classic table over left-over objects", classic("0", k -> k));
    }

    /** Control: each offset after the first one byte short (it lands on the line end before its object): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_offsetsOneByteShortAreCharged() {
        assertCharged("lag-1", "its header's offsets after the first one byte short", report((i, real) -> i == 0 ? 0 : real - 1));
    }

    /**
     * Control: {@code /N 310 0 R /First 311 0 R} naming direct integers the rows place, PDFBox 40/40, PdfPages 40; and
     * {@code /N} and {@code /First} direct beside stream 305 packing two integers, PDFBox 40/40, PdfPages 40.
     */
    @Test
    void control_countsThePlacedDataNamesAreCharged() {
        assertCharged("counts-direct", "/N 310 0 R /First 311 0 R, both placed", countsDirect("/N 310 0 R /First 311 0 R", List.of()));
        assertCharged("counts-beside", "/N and /First direct beside stream 305", countsPacked("/N %d /First %d"));
    }

    // ---- findings ----

    /**
     * The header's offsets lag: each short by the object's index (a writer that left the line ends out), PDFBox 40/40,
     * PdfPages 0; each written as the index itself ({@code 1 0 2 1 3 2 ...}), PDFBox 40/40, PdfPages 0. PDFBox reads an
     * object whose offset lies behind where the last one ended from there ({@code parseAllObjects}); PdfPages lexes it
     * from its offset (line 1263). Charged 1,000 (first file).
     */
    @Test
    void aHeaderWhoseOffsetsLagIsCharged() {
        assertCharged("lag-index", "its header's offsets each short by the object's index", report((i, real) -> real - i));
        assertCharged("lag-all", "its header's offsets written 0, 1, 2, ...", report((i, real) -> i));
    }

    /**
     * Object stream 300's {@code /N 310 0 R} (or {@code /First 311 0 R}), 310 and 311 packed in stream 305: PDFBox 40/40
     * each, PdfPages 0 each; the same naming direct integers that no row places (their rows free, found by PDFBox's
     * brute-force search): PDFBox 40/40 each, PdfPages 0 each. {@code resolve} (line 1495) sees neither, {@code
     * readObjectStream} (line 1134) returns and counts nothing. Charged 1,000 (first file).
     */
    @Test
    @Disabled(OPEN_COUNT_ELSEWHERE)
    void countsNamedThroughAnotherStreamOrNoRowAreCharged() {
        assertCharged("n-packed", "/N 310 0 R, 310 packed in stream 305", countsPacked("/N 310 0 R /First %2$d"));
        assertCharged("first-packed", "/First 311 0 R, 311 packed in stream 305", countsPacked("/N %d /First 311 0 R"));
        assertCharged("n-unlisted", "/N 310 0 R, 310 in the file but in no row", countsDirect("/N 310 0 R /First 311 0 R", List.of(310)));
        assertCharged("first-unlisted", "/First 311 0 R, 311 in the file but in no row",
                countsDirect("/N 310 0 R /First 311 0 R", List.of(311)));
    }

    /**
     * A table whose subsection is written {@code 1 83} over rows 0 to 82 (each row a number off the header at its
     * offset): PDFBox 40/40, PdfPages 0; rows 3 and 5 swapped: PDFBox 40/40, PdfPages 0. PDFBox renames each entry to the
     * number its header gives ({@code findObjectKey}); PdfPages' {@code placed} (line 765) gives the data up and the
     * left-overs read in order replace the tree. Charged 3,755 (first file), the estimate of its bytes as text.
     */
    @Test
    void aRowNamingAnotherObjectIsCharged() {
        assertCharged("subsection-1", "its table's subsection written 1 83 (rows a number off)", classic("1", k -> k));
        assertCharged("swapped", "its table's rows 3 and 5 swapped", classic("0", k -> k == 3 ? 5 : k == 5 ? 3 : k));
    }
}
