package io.tokenquota.servlet.breakit556;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Round 556 of issue 11: a cross-reference stream whose {@code /Prev} is no offset of an older section. A PDF sent as
 * the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged
 * its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Round 555 made PdfPages.sections read {@code /Prev} as PDFBox's {@code getLong} does, a real by its whole part,
 * and give up the whole cross-reference data (the file then read in order) when {@code /Prev} is no number. PDFBox
 * 3.0.8 does neither: {@code COSParser.parseXref} follows {@code /Prev} only while it is greater than 0, and a
 * {@code /Prev} that is no number reads as -1, so for each of {@code -1}, {@code -0.5}, {@code 0}, {@code 0.5},
 * {@code null}, a name, a string and a reference it ends the chain and keeps the newest section's entries. Before
 * round 555 PdfPages ended the chain the same way for anything but a non-negative integer; now an offset below 1
 * sends it to offset 0 (the header, no section: broken) and anything else breaks the chain outright.
 *
 * <p>Read in order, the file's objects are each number's last {@code N G obj} in the file, an object stream's
 * objects at the stream's position. The file here (ISO 32000-1 7.5.7, 7.5.8: a cross-reference stream, W [1 4 2],
 * placing catalog 1, tree 2 and the 40 page dictionaries in Flate object stream 300) also holds, after that stream,
 * direct objects 2, 3, 5, ... that its cross-reference stream does not name (an empty {@code /Pages} node and fonts:
 * left-overs of an earlier draft, or a hostile client's decoys). Through the cross-reference data, as PDFBox reads
 * it, they are nothing (the control counts 40, as before); read in order they replace the tree and every page, and
 * the 40-page file counts none.
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, {@code getNumberOfPages()} 40 and iterating {@code getPages()} 40, for every
 * {@code /Prev} below; PdfPages.pageObjects counted 0 for each (40 without the {@code /Prev}, and 40 for the same
 * {@code /Prev -0.5} file without the left-over objects). The cause is in PdfPages.sections: a {@code /Prev} that is
 * not a number greater than 0 should end the chain there, as PDFBox's loop does, not break it.
 *
 * <p>The same in PdfPages.table for a hybrid section's {@code /XRefStm}: PDFBox reads the stream only at an offset
 * greater than 0 ({@code /XRefStm 0} and {@code 0.5} log "Skipped XRef stream due to a corrupt offset:0") and goes on
 * through {@code /Prev}, 40 pages; PdfPages takes the section as broken and reads the file in order, 0 (a real there
 * was ignored before round 555, {@code 0} was broken before too).
 *
 * <p>Fixed after the round: {@code /Prev} is followed only while it is above 0 (anything else ends the chain and
 * keeps the sections read), an {@code /XRefStm} not above 0 is skipped, {@code /W} may hold reals, and a catalog the
 * sections do not name has the file read in order; the findings' tests now pass beside their controls.
 */
abstract class AbstractRound556 extends PdfRound {

    AbstractRound556() {
        super(556, PDFBOX_40_PAGES);
    }


    /**
     * The 40-page file: catalog 1, tree 2 and pages 3, 5, ... 81 in object stream 300, placed by cross-reference
     * stream 301, whose dictionary ends with {@code xrefExtra}; with {@code leftOvers}, direct objects 2 (an empty
     * tree) and 3, 5, ... 81 (fonts) between the object stream and the cross-reference stream, which names none of them.
     */
    static byte[] report(String xrefExtra, boolean leftOvers) {
        TreeMap<Integer, String> objects = ObjectStreamPdfs.treeAndPages(PAGES);
        objects.put(1, "<< /Type /Catalog /Pages 2 0 R >>");
        ObjectStreamPdfs.Packed pack = ObjectStreamPdfs.Packed.of(objects);
        TreeMap<Integer, Integer> packed = pack.index();
        String head = pack.head();
        byte[] data = PdfFiles.deflate(pack.plain());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
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
        ObjectStreamPdfs.crossReferenceStream(out, offsets, packed, " /Root 1 0 R" + xrefExtra);
        return out.toByteArray();
    }

    // ---- controls ----

    /** Control: no {@code /Prev}: read through the cross-reference stream the left-overs are nothing, 40 counted (passes today). */
    @Test
    void control_leftOversTheCrossReferenceStreamDoesNotNameAreNotRead() {
        String s = subject("no-prev");
        assertAtLeast(s, PAGES, "with left-over objects its cross-reference stream does not name", sendPdf(s, report("", true)));
    }

    /** Control: {@code /Prev -0.5} without left-overs: read in order the file counts 40 (passes today). */
    @Test
    void control_aPrevBelowOneWithoutLeftOversIsCharged() {
        String s = subject("prev-half-clean");
        assertAtLeast(s, PAGES, "whose cross-reference stream says /Prev -0.5, with no left-over objects",
                sendPdf(s, report(" /Prev -0.5", false)));
    }

    // ---- findings: a /Prev that PDFBox takes as the end of the chain ----

    /**
     * {@code /Prev -1} (an integer; PdfPages ended the chain on it before round 555): PDFBox 40. PdfPages breaks the
     * chain and reads in order, where the left-overs replace the tree and pages: count 0, should be at least 10,320.
     */
    @Test
    void aPrevOfMinusOneIsCharged() {
        String s = subject("prev-minus-one");
        assertAtLeast(s, PAGES, "whose cross-reference stream says /Prev -1", sendPdf(s, report(" /Prev -1", true)));
    }

    /** {@code /Prev -0.5} (getLong 0): PDFBox 40. PdfPages reads offset 0, no section, then in order: 0, should be at least 10,320. */
    @Test
    void aPrevOfMinusAHalfIsCharged() {
        String s = subject("prev-minus-half");
        assertAtLeast(s, PAGES, "whose cross-reference stream says /Prev -0.5", sendPdf(s, report(" /Prev -0.5", true)));
    }

    /** {@code /Prev 0}: PDFBox 40 (its loop runs while prev > 0). PdfPages reads offset 0, then in order: 0, should be at least 10,320. */
    @Test
    void aPrevOfZeroIsCharged() {
        String s = subject("prev-zero");
        assertAtLeast(s, PAGES, "whose cross-reference stream says /Prev 0", sendPdf(s, report(" /Prev 0", true)));
    }

    /** {@code /Prev 12 0 R} (object 12 absent): PDFBox 40. PdfPages breaks the chain, reads in order: 0, should be at least 10,320. */
    @Test
    void aPrevThatIsAReferenceIsCharged() {
        String s = subject("prev-reference");
        assertAtLeast(s, PAGES, "whose cross-reference stream says /Prev 12 0 R", sendPdf(s, report(" /Prev 12 0 R", true)));
    }

    /** {@code /Prev null}: PDFBox 40. PdfPages breaks the chain, reads in order: 0, should be at least 10,320. */
    @Test
    void aPrevThatIsNullIsCharged() {
        String s = subject("prev-null");
        assertAtLeast(s, PAGES, "whose cross-reference stream says /Prev null", sendPdf(s, report(" /Prev null", true)));
    }

    // ---- an update's classic section whose /XRefStm PDFBox skips ----

    /**
     * The 40-page file with its left-overs, followed by an incremental update (ISO 32000-1 7.5.6) that changes
     * nothing: a classic section with object 0's free row only, whose trailer names the file's cross-reference stream
     * by {@code /Prev} and ends with {@code extra}.
     */
    static byte[] updated(String extra) {
        byte[] report = report("", true);
        String text = new String(report, java.nio.charset.StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("startxref\n") + "startxref\n".length();
        String offset = text.substring(at, text.indexOf('\n', at));
        byte[] update = PdfFiles.ascii("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 302 /Root 1 0 R /Prev " + offset + extra
                + " >>\nstartxref\n" + report.length + "\n%%EOF\n");
        byte[] pdf = java.util.Arrays.copyOf(report, report.length + update.length);
        System.arraycopy(update, 0, pdf, report.length, update.length);
        return pdf;
    }

    /** Control: the update without {@code /XRefStm}: both sections read, the left-overs nothing, 40 counted (passes today). */
    @Test
    void control_anUpdateOverLeftOversIsCharged() {
        String s = subject("update");
        assertAtLeast(s, PAGES, "behind an update, with left-over objects", sendPdf(s, updated("")));
    }

    /**
     * {@code /XRefStm 0}: PDFBox logs "Skipped XRef stream due to a corrupt offset:0", follows {@code /Prev} and counts 40.
     * PdfPages.table takes the section as broken and reads the file in order: count 0, charged 1,000, should be at
     * least 10,320.
     */
    @Test
    void anUpdateWhoseXRefStmIsZeroIsCharged() {
        String s = subject("xrefstm-zero");
        assertAtLeast(s, PAGES, "behind an update whose trailer says /XRefStm 0", sendPdf(s, updated(" /XRefStm 0")));
    }

    /**
     * {@code /XRefStm 0.5} (getInt 0; before round 555 PdfPages ignored a real there): PDFBox skips it as above, 40.
     * PdfPages reads offset 0, no stream, then in order: count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void anUpdateWhoseXRefStmIsAHalfIsCharged() {
        String s = subject("xrefstm-half");
        assertAtLeast(s, PAGES, "behind an update whose trailer says /XRefStm 0.5", sendPdf(s, updated(" /XRefStm 0.5")));
    }

    // ---- a cross-reference stream's /W written with a real ----

    /**
     * {@code /W [1 4 2.0]}: PDFBox 3.0.8 reads each width as a number's int value, the stream and 40 pages (also with
     * {@code 2.9}). PdfPages.xrefStream takes a width that is no integer as a broken section and reads the file in
     * order, where the left-overs replace the tree and pages: count 0, charged 1,000, should be at least 10,320 (the
     * same file with {@code /W [1 4 2]} is the first control). The widths are the one number of a cross-reference
     * stream round 555 did not read as {@code getInt} does.
     */
    @Test
    void aCrossReferenceStreamWhoseWidthIsARealIsCharged() {
        String s = subject("w-real");
        byte[] pdf = report("", true);
        String text = new String(pdf, java.nio.charset.StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("/W [1 4 2]");
        // the dictionary follows every object the stream places, and startxref names its header: no offset moves
        byte[] written = PdfFiles.ascii(text.substring(0, at) + "/W [1 4 2.0]" + text.substring(at + "/W [1 4 2]".length()));
        assertAtLeast(s, PAGES, "whose cross-reference stream says /W [1 4 2.0]", sendPdf(s, written));
    }
}
