package io.tokenquota.servlet.breakit559;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

/**
 * Round 559 of issue 11: round 558's repair of a {@code startxref} or {@code /Prev} that lands on no section
 * ({@code PdfPages.nearestSection}), and what counts as "a section" there. A PDF sent as the body
 * ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its
 * estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>The files are round 558's: the 40-page report (catalog 1, tree 2 and 40 page dictionaries in Flate object
 * stream 300, placed by cross-reference stream 301, {@code /W [1 4 2]}), with after the object stream direct objects
 * 2, 3, 5, ... 81 that no section names (an empty {@code /Pages} node and fonts: an earlier draft's left-overs, or a
 * hostile client's decoys); and a classic 40-page file (catalog 1, tree 2, typed pages 3, 5, ... as direct objects,
 * a table naming them) with the same left-overs after its pages. Read through the cross-reference data the
 * left-overs are nothing; read in order they replace the tree and the pages, and the file counts none.
 *
 * <p>PDFBox 3.0.8 ({@code COSParser.parseXref}, {@code checkXRefOffset}, {@code checkXRefStreamOffset},
 * {@code BruteForceParser.bfSearchForXRef} / {@code bfSearchForXRefStreams}) differs from PdfPages in what a
 * section is, at an offset and when it searches for the nearest one:
 * <ul>
 * <li>At an offset, PDFBox takes an object as a section only when the byte before it is white space and its
 * dictionary says {@code /Type /XRef}; any other object is repaired to the nearest section. PdfPages' {@code isSection}
 * takes any {@code N G obj}, fails to read it as a cross-reference stream and reads the file in order: a
 * {@code startxref} or an update's {@code /Prev} naming an ordinary object (object stream 300, a font) counts 0
 * (PDFBox 40). Findings 1 and 2.</li>
 * <li>Searching, PDFBox finds a stream by the bytes {@code /XRef} whatever follows (so {@code /Type /XRefStm} is
 * found), then looks back at most 390 bytes for {@code " obj"} after a one-digit generation and a space.
 * {@code nearestSection} wants {@code /XRef} ended by white space or a delimiter, and {@code objectBefore} looks back
 * 400 bytes for {@code obj} after any white space and any generation. So a real stream typed {@code /XRefStm} is no
 * section to PdfPages (0; PDFBox 40: finding 3), and a decoy cross-reference stream that PDFBox cannot see (header
 * {@code 900 00 obj}, {@code 900 0\nobj}, or {@code /XRef} 391 to 400 bytes after {@code obj}) is the nearest
 * section to PdfPages, which reads its empty tree (0; PDFBox 40: findings 4 and 5).</li>
 * <li>A hybrid file's {@code /XRefStm} that lands on no cross-reference stream (off by a few bytes, on an ordinary
 * object, past the end): PDFBox repairs it or logs the failure and keeps the table; PdfPages' {@code table} returns
 * null and the file is read in order (0; PDFBox 40: finding 6).</li>
 * </ul>
 *
 * <p>Figures: each file was run through PDFBox 3.0.8 in a scratch program outside the repository
 * ({@code Loader.loadPDF(bytes)}: {@code getNumberOfPages()} and iterating {@code getPages()}), and through
 * {@code PdfPages.pageObjects} by reflection; each test's comment gives both. Every finding: PDFBox 40 and 40,
 * PdfPages 0, so the 40-page file is charged as no page: 1,000 for the packed report (findings 1 to 5), 3,761 for
 * the classic file (finding 6), in Jetty and Tomcat, where at least 10,320 (40 x 258) is due.
 *
 * <p>After the round: PdfPages checks an offset and searches for sections as PDFBox does ({@code isSection}: a table,
 * or after white space an object whose dictionary says {@code /Type /XRef}; {@code findSections} /
 * {@code streamStart}: every {@code /XRef} in the bytes, the {@code " obj"} in PDFBox's ten-byte windows, a
 * one-digit generation after a space), and a hybrid's {@code /XRefStm} is repaired the same way and left out when
 * it still does not parse, the table kept. Every finding passes.
 */
abstract class AbstractRound559 extends PdfRound {
    private static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";

    AbstractRound559() {
        super(559, PDFBOX_40_PAGES);
    }


    // ---- files ----


    /**
     * Round 558's packed report with left-overs: catalog 1, tree 2 and the pages in object stream 300, objects 2, 3,
     * 5, ... 81 written again after it (no section names them), cross-reference stream 301; its {@code /Type /XRef}
     * written {@code /Type /<type>}.
     */
    static byte[] report(String type) {
        TreeMap<Integer, String> objects = ObjectStreamPdfs.treeAndPages(PAGES);
        objects.put(1, CATALOG);
        ObjectStreamPdfs.Packed pack = ObjectStreamPdfs.Packed.of(objects);
        byte[] data = PdfFiles.deflate(pack.plain());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        offsets.put(300, out.size());
        out.writeBytes(PdfFiles.ascii("300 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + pack.head().length()
                + " /Length " + data.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(data);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        leftOvers(out);
        ObjectStreamPdfs.crossReferenceStream(out, offsets, pack.index(), " /Root 1 0 R");
        return bytes(text(out.toByteArray()).replace("301 0 obj\n<< /Type /XRef ", "301 0 obj\n<< /Type /" + type + " "));
    }

    /** An empty tree 2 and fonts 3, 5, ... 81: objects no section names. */
    private static void leftOvers(ByteArrayOutputStream out) {
        out.writeBytes(PdfFiles.ascii("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"));
        }
    }

    static long startxref(byte[] pdf) {
        String t = text(pdf);
        int at = t.lastIndexOf("startxref\n") + "startxref\n".length();
        return Long.parseLong(t.substring(at, t.indexOf('\n', at)));
    }

    /** {@code pdf} with its last {@code startxref} saying {@code value}. */
    static byte[] withStartxref(byte[] pdf, long value) {
        String t = text(pdf);
        int at = t.lastIndexOf("startxref\n") + "startxref\n".length();
        return bytes(t.substring(0, at) + value + t.substring(t.indexOf('\n', at)));
    }

    /** Where {@code N 0 obj} starts, at the start of a line. */
    static int objectAt(byte[] pdf, int number) {
        return text(pdf).indexOf("\n" + number + " 0 obj") + 1;
    }

    /**
     * {@code report} followed by round 558's incremental update (ISO 32000-1 7.5.6) that changes nothing: a classic
     * section with object 0's free row only, whose trailer's {@code /Prev} is {@code prev}.
     */
    static byte[] updated(byte[] report, long prev) {
        byte[] update = PdfFiles.ascii("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 302 /Root 1 0 R /Prev " + prev
                + " >>\nstartxref\n" + report.length + "\n%%EOF\n");
        byte[] pdf = Arrays.copyOf(report, report.length + update.length);
        System.arraycopy(update, 0, pdf, report.length, update.length);
        return pdf;
    }

    private static void row(ByteArrayOutputStream rows, int type, long second, int third) {
        rows.write(type);
        for (int s = 24; s >= 0; s -= 8) {
            rows.write((int) (second >> s) & 0xFF);
        }
        rows.write(third >> 8 & 0xFF);
        rows.write(third & 0xFF);
    }

    /**
     * The packed report with left-overs and, after cross-reference stream 301, a decoy cross-reference stream (its
     * header {@code header}, {@code pad} first in its dictionary) that places catalog 1 in object stream 300 and
     * objects 2, 3, 5, ... 81 at the left-overs (the empty tree and fonts); {@code startxref} 3 bytes short of the
     * decoy, which is the section nearest to it.
     */
    static byte[] decoy(String header, String pad) {
        String t = text(report("XRef"));
        int cut = t.lastIndexOf("startxref\n");
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int k = 0; k < 302; k++) {
            if (k == 1) {
                row(rows, 2, 300, 0);
            } else if (k == 2 || k >= 3 && k < 3 + 2 * PAGES && k % 2 == 1) {
                row(rows, 1, t.indexOf("\n" + k + " 0 obj") + 1, 0);
            } else if (k == 300) {
                row(rows, 1, t.indexOf("300 0 obj"), 0);
            } else {
                row(rows, 0, 0, k == 0 ? 65535 : 0);
            }
        }
        byte[] xref = PdfFiles.deflate(rows.toByteArray());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(bytes(t.substring(0, cut)));
        int decoyAt = out.size();
        out.writeBytes(bytes(header + "\n<< " + pad + "/Type /XRef /Size 302 /W [1 4 2] /Root 1 0 R /Length " + xref.length
                + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(bytes("\nendstream\nendobj\n"));
        out.writeBytes(bytes(t.substring(cut)));
        return withStartxref(out.toByteArray(), decoyAt - 3);
    }

    /**
     * A classic 40-page file (ISO 32000-1 7.5.4): catalog 1, tree 2, typed pages 3, 5, ... 81 as direct objects, the
     * left-overs after them, a table naming the first ones; {@code trailerExtra} in the trailer.
     */
    static byte[] classic(String trailerExtra) {
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
        int size = 3 + 2 * PAGES;
        StringBuilder table = new StringBuilder("xref\n0 " + size + "\n");
        for (int k = 0; k < size; k++) {
            table.append(offsets.containsKey(k) ? String.format("%010d 00000 n \n", offsets.get(k))
                    : k == 0 ? "0000000000 65535 f \n" : "0000000000 00000 f \n");
        }
        table.append("trailer\n<< /Size ").append(size).append(" /Root 1 0 R").append(trailerExtra).append(" >>\nstartxref\n")
                .append(xref).append("\n%%EOF\n");
        out.writeBytes(PdfFiles.ascii(table.toString()));
        return out.toByteArray();
    }

    // ---- controls (pass today) ----

    /** Control: the packed report with left-overs, {@code startxref} exact: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theReportOverLeftOversIsCharged() {
        assertCharged("exact", "with left-over objects, its startxref exact", report("XRef"));
    }

    /** Control: {@code startxref} past the end of the file (99,999,999): both repair it to stream 301, PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aStartxrefPastTheEndIsCharged() {
        assertCharged("past-end", "whose startxref is past the end of the file", withStartxref(report("XRef"), 99_999_999));
    }

    /** Control: stream 301 typed {@code /XRefStm}, {@code startxref} exact: PDFBox 40/40 (repaired onto itself), PdfPages 40. */
    @Test
    void control_aStreamTypedXRefStmAtAnExactStartxrefIsCharged() {
        assertCharged("xrefstm-type-exact", "whose cross-reference stream says /Type /XRefStm, startxref exact", report("XRefStm"));
    }

    /** Control: the update's {@code /Prev} exact: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_anUpdateWhosePrevIsExactIsCharged() {
        byte[] report = report("XRef");
        assertCharged("prev-exact", "behind an update whose /Prev is exact", updated(report, startxref(report)));
    }

    /** Control: the decoy written {@code 900 0 obj}, which PDFBox sees too: both read it (PDFBox 0/0, PdfPages 0); {@code startxref} exact to 301 instead: 40. */
    @Test
    void control_theDecoyFileWithAnExactStartxrefIsCharged() {
        byte[] pdf = decoy("900 0 obj", "");
        assertCharged("decoy-exact", "with a decoy section after its own, startxref exact", withStartxref(pdf, text(pdf).indexOf("301 0 obj")));
    }

    /** Control: the classic file with left-overs, no {@code /XRefStm}: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_theClassicFileOverLeftOversIsCharged() {
        assertCharged("classic", "a classic table over left-over objects", classic(""));
    }

    // ---- finding 1 and 2: an offset on an object that is no cross-reference stream ----

    /**
     * {@code startxref} names object stream 300 (an object, not a cross-reference stream): PDFBox 3.0.8's
     * {@code checkXRefStreamOffset} sees no {@code /Type /XRef} and repairs it to the nearest section, stream 301:
     * getNumberOfPages() 40, iterator 40. PdfPages: {@code base()} finds {@code isSection} true (any {@code N G obj}),
     * {@code xrefStream} finds no {@code /W}, the file is read in order: 0 pages, charged 1,000 (should be at
     * least 10,320). Also with {@code startxref} on left-over font 81: PDFBox 40, PdfPages 0.
     */
    @Test
    void aStartxrefOnTheObjectStreamIsCharged() {
        byte[] pdf = report("XRef");
        assertCharged("startxref-objstm", "whose startxref names object stream 300", withStartxref(pdf, text(pdf).indexOf("300 0 obj")));
    }

    /** {@code startxref} on left-over font 81, written just before stream 301: PDFBox 40/40 (repaired to 301), PdfPages 0. */
    @Test
    void aStartxrefOnTheObjectBeforeTheStreamIsCharged() {
        byte[] pdf = report("XRef");
        assertCharged("startxref-font", "whose startxref names the font written before its stream", withStartxref(pdf, objectAt(pdf, 81)));
    }

    /**
     * An update whose {@code /Prev} names object stream 300: PDFBox repairs it ({@code checkXRefOffset}) to stream 301,
     * getNumberOfPages() 40, iterator 40. PdfPages' {@code sections} keeps it ({@code isSection} true), the section does
     * not parse, read in order: 0.
     */
    @Test
    void anUpdateWhosePrevNamesTheObjectStreamIsCharged() {
        byte[] pdf = report("XRef");
        assertCharged("prev-objstm", "behind an update whose /Prev names object stream 300", updated(pdf, text(pdf).indexOf("300 0 obj")));
    }

    // ---- finding 3: a cross-reference stream nearestSection cannot see ----

    /**
     * Stream 301 says {@code /Type /XRefStm}, {@code startxref} 5 bytes short: PDFBox's {@code bfSearchForXRefStreams}
     * finds the bytes {@code /XRef} whatever follows, repairs to 301: getNumberOfPages() 40, iterator 40 (also
     * {@code /Type /XRefs} with startxref 5 past). PdfPages' {@code nearestSection} wants {@code /XRef} ended by white
     * space or a delimiter, finds no section (-1), reads in order: 0.
     */
    @Test
    void aStreamTypedXRefStmFiveBytesOffIsCharged() {
        byte[] pdf = report("XRefStm");
        assertCharged("xrefstm-type-short", "whose stream says /Type /XRefStm, startxref 5 bytes short", withStartxref(pdf, startxref(pdf) - 5));
    }

    // ---- findings 4 and 5: a decoy section PDFBox's search cannot see ----

    /**
     * A decoy cross-reference stream after 301, its header {@code 900 00 obj} (a two-digit generation), naming the
     * left-overs; {@code startxref} 3 bytes short of it. PDFBox's {@code bfSearchForXRefStreams} wants one digit and a
     * space before {@code " obj"}: the decoy is no candidate, 301 is, getNumberOfPages() 40, iterator 40. PdfPages'
     * {@code objectBefore} takes any generation: the decoy is nearest, its empty tree read: 0. Also with the header
     * {@code 900 0\nobj} or {@code 900 0  obj}: PDFBox 40, PdfPages 0 ({@code objectBefore} takes any white space).
     */
    @Test
    void aDecoyWithATwoDigitGenerationIsCharged() {
        assertCharged("decoy-gen", "whose startxref is 3 bytes short of a decoy section written 900 00 obj", decoy("900 00 obj", ""));
    }

    /** The same decoy written {@code 900 0\nobj}: PDFBox 40/40, PdfPages 0. */
    @Test
    void aDecoyWithALineBreakBeforeObjIsCharged() {
        assertCharged("decoy-newline", "whose startxref is 3 bytes short of a decoy section written 900 0 (newline) obj",
                decoy("900 0\nobj", ""));
    }

    /**
     * The decoy written {@code 900 0 obj}, its {@code /Type /XRef} after a 374-character string, 395 bytes after
     * {@code obj}: PDFBox looks back 390 bytes from {@code /XRef} (39 steps of 10), finds no header, repairs to 301:
     * getNumberOfPages() 40, iterator 40; PdfPages' {@code objectBefore} looks back 400: the decoy, 0 (a string of 369
     * to 379 characters does it; at 368 PDFBox sees the decoy too and counts 0).
     */
    @Test
    void aDecoyWhoseXRefIs395BytesAfterObjIsCharged() {
        assertCharged("decoy-far", "whose startxref is 3 bytes short of a decoy section whose /XRef is 395 bytes after obj",
                decoy("900 0 obj", "/Pad (" + "x".repeat(374) + ") "));
    }

    // ---- finding 6: a hybrid file's /XRefStm that lands on no stream ----

    /**
     * The classic file whose trailer says {@code /XRefStm} 3 bytes past its own table's {@code xref} (a hybrid file's
     * stream offset gone wrong): PDFBox repairs the offset to the table, fails to read a stream there, logs it and keeps
     * the table: getNumberOfPages() 40, iterator 40 (also {@code /XRefStm 999999}, or on font 81). PdfPages'
     * {@code table} returns null when {@code xrefStream} fails or the offset is past the end, the file is read in order:
     * 0, charged 3,761 (should be at least 10,320).
     */
    @Test
    void aHybridWhoseXRefStmIsOffIsCharged() {
        byte[] plain = classic("");
        assertCharged("xrefstm-off", "a classic table whose /XRefStm is 3 bytes off", classic(" /XRefStm " + (startxref(plain) + 3)));
    }

    /** The classic file whose trailer says {@code /XRefStm 999999}, past its end: PDFBox 40/40, PdfPages 0. */
    @Test
    void aHybridWhoseXRefStmIsPastTheEndIsCharged() {
        assertCharged("xrefstm-past", "a classic table whose /XRefStm is past the end", classic(" /XRefStm 999999"));
    }
}
