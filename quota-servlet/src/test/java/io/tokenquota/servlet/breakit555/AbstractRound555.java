package io.tokenquota.servlet.breakit555;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.TreeMap;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Round 555 of issue 11: the numbers of a trailer that PDFBox reads as any number and PdfPages only as an integer.
 * A PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without
 * usage is charged its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>PDFBox 3.0.8 reads a trailer's {@code /Prev} and {@code /XRefStm} with {@code COSDictionary.getLong} /
 * {@code getInt}, which take any {@code COSNumber}'s value: a real such as {@code 12776.0}, {@code 12776.} or
 * {@code 127760e-1} is the offset 12776 (its whole part). PdfPages.sections reads the chain on only when
 * {@code trailer.get("Prev") instanceof Long}, and PdfPages.table reads a hybrid section's stream only when
 * {@code trailer.get("XRefStm") instanceof Long}; a {@code Real} ends the chain quietly. The newest section then
 * places nothing but object 0 (free), the data counts as read ({@code readThroughXref} true, nothing misplaced),
 * and {@code readObjectStreams} skips object stream 300 as no entry names it: count 0, charged the fallback.
 * Round 554 fixed {@code /Prev 12776e}; a real offset takes the same path.
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, {@code getNumberOfPages()} 40 and iterating {@code getPages()} 40. Each is the
 * clear report ({@link ObjectStreamPdfs#report}: its catalog, tree, 40 page dictionaries and font in one Flate
 * object stream placed by a cross-reference stream) followed by an incremental update (ISO 32000-1 7.5.6) that
 * changes nothing: a classic section with object 0's free row only, whose trailer reaches the report's
 * cross-reference stream through {@code /Prev} or, as a hybrid section, {@code /XRefStm} (7.5.8.4).
 *
 * <p>The same reading of reals as integers loses pages in three more places: an object stream's {@code /Length}
 * (direct, or an object holding it) that is a real is not used, so the data is cut at the first {@code endstream} in
 * it, which stored (uncompressed) Flate data shows as text (PdfPages.readObjects, lengthThroughXref); an object
 * stream's {@code /N} through a reference to a real is lost ({@code Obj.small} keeps only integers and names, so
 * PdfPages.integer reads -1); and a cross-reference stream's {@code /Size} that is a real gives no rows
 * (PdfPages.xrefStream). Every file here was checked with PDFBox 3.0.8 as above: 40 and 40. Fixed after the round:
 * each of these is read as a number by its whole part (a {@code /Prev} or {@code /XRefStm} that is no number breaks
 * the chain, so the file is read in order); the findings' tests now pass beside their controls.
 */
abstract class AbstractRound555 extends PdfRound {

    AbstractRound555() {
        super(555, PDFBOX_40_PAGES);
    }


    /**
     * The report followed by the update; {@code entry} is the update trailer's entry naming the report's
     * cross-reference stream, its {@code %s} that stream's offset as the report's {@code startxref} gives it.
     */
    static byte[] updated(String entry) {
        byte[] report = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(report, StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("startxref\n") + "startxref\n".length();
        String offset = text.substring(at, text.indexOf('\n', at));
        byte[] update = ("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 303 /Root 1 0 R " + String.format(entry, offset)
                + " >>\nstartxref\n" + report.length + "\n%%EOF\n").getBytes(StandardCharsets.ISO_8859_1);
        byte[] pdf = java.util.Arrays.copyOf(report, report.length + update.length);
        System.arraycopy(update, 0, pdf, report.length, update.length);
        return pdf;
    }

    // ---- /Prev ----

    /** Control: the update's {@code /Prev 12776} an integer: PdfPages reads both sections and counts 40 (passes today). */
    @Test
    void control_anUpdateWhosePrevIsAnIntegerIsCharged() {
        String s = subject("prev-integer");
        assertAtLeast(s, PAGES, "its objects reached through an update's /Prev", sendPdf(s, updated("/Prev %s")));
    }

    /**
     * {@code /Prev 12776.0}: PDFBox's {@code getLong} reads 12776, the older cross-reference stream and the 40 pages.
     * PdfPages ends the chain at the update: count 0, charged the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void anUpdateWhosePrevIsARealIsCharged() {
        assertCharged("prev-real", "its objects reached through an update's /Prev written 12776.0",
                updated("/Prev %s.0"));
    }

    /** The same with the point alone ({@code /Prev 12776.}): PDFBox 40; PdfPages 0, charged 1,000, should be at least 10,320. */
    @Test
    void anUpdateWhosePrevEndsInAPointIsCharged() {
        assertCharged("prev-point", "its objects reached through an update's /Prev written 12776.",
                updated("/Prev %s."));
    }

    /** The same with an exponent ({@code /Prev 127760e-1}): PDFBox 40; PdfPages 0, charged 1,000, should be at least 10,320. */
    @Test
    void anUpdateWhosePrevHasAnExponentIsCharged() {
        assertCharged("prev-exponent", "its objects reached through an update's /Prev written 127760e-1",
                updated("/Prev %s0e-1"));
    }

    // ---- /XRefStm of a hybrid section ----

    /** Control: the hybrid trailer's {@code /XRefStm 12776} an integer: PdfPages reads the stream and counts 40 (passes today). */
    @Test
    void control_aHybridSectionWhoseXRefStmIsAnIntegerIsCharged() {
        String s = subject("xrefstm-integer");
        assertAtLeast(s, PAGES, "its objects placed by a hybrid section's /XRefStm", sendPdf(s, updated("/XRefStm %s")));
    }

    /**
     * {@code /XRefStm 12776.0}: PDFBox reads the stream at 12776 and the 40 pages. PdfPages.table ignores a real
     * there: count 0, charged the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void aHybridSectionWhoseXRefStmIsARealIsCharged() {
        assertCharged("xrefstm-real", "its objects placed by a hybrid section's /XRefStm written 12776.0",
                updated("/XRefStm %s.0"));
    }

    // ---- /Prev as a reference ----

    /**
     * {@code /Prev 12 0 R}, a reference to an object the file does not hold: PDFBox 3.0.8 still opens the file with
     * its 40 pages (how it recovers was not traced; with {@code /Prev 1 0 R} or {@code /Prev (x)} it refuses the
     * file). PdfPages.sections takes the update's section as the whole data (a {@code /Prev} that is no integer ends
     * the chain), so object stream 300 is named by no entry and skipped: count 0, charged 1,000, should be at least
     * 10,320. Its own fallback, reading the file in order, would count the 40.
     */
    @Test
    void anUpdateWhosePrevIsAReferenceIsCharged() {
        String s = subject("prev-reference");
        assertAtLeast(s, PAGES, "its objects behind an update whose /Prev is 12 0 R", sendPdf(s, updated("/Prev 12 0 R")));
    }

    // ---- an object stream's /N and /Length given as reals, directly or through an object ----

    /**
     * A report of {@code pages} pages whose catalog, tree and page dictionaries are all in object stream 300, placed by
     * a cross-reference stream (ISO 32000-1 7.5.7, 7.5.8; W [1 4 2]). The catalog comes first and ends with
     * {@code catalogExtra}; the stream's {@code /N} is written {@code n} and its {@code /Length} {@code length} (each
     * {@code %1$d} the count of objects, {@code %2$d} the data's length); when {@code object250} is not null, object
     * 250 outside the stream holds it written the same way (an indirect value, as writers that learn a length after
     * the data do). With {@code stored} the Flate data is deflate's stored blocks (RFC 1951 3.2.4, what a writer at
     * compression level 0 emits): the objects' text appears in the file as it is.
     */
    static byte[] streamReport(int pages, String catalogExtra, String n, String length, String object250, boolean stored) {
        TreeMap<Integer, String> objects = ObjectStreamPdfs.treeAndPages(pages);
        objects.put(1, "<< /Type /Catalog /Pages 2 0 R" + catalogExtra + " >>");
        ObjectStreamPdfs.Packed pack = ObjectStreamPdfs.Packed.of(objects);
        TreeMap<Integer, Integer> packed = pack.index();
        String head = pack.head();
        byte[] plain = pack.plain();
        byte[] data = PdfFiles.deflate(plain, stored ? Deflater.NO_COMPRESSION : Deflater.BEST_COMPRESSION);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        if (object250 != null) {
            offsets.put(250, out.size());
            out.writeBytes(PdfFiles.ascii("250 0 obj\n" + String.format(object250, objects.size(), data.length) + "\nendobj\n"));
        }
        offsets.put(300, out.size());
        out.writeBytes(PdfFiles.ascii("300 0 obj\n<< /Type /ObjStm /N " + String.format(n, objects.size(), data.length) + " /First "
                + head.length() + " /Length " + String.format(length, objects.size(), data.length) + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(data);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        ObjectStreamPdfs.crossReferenceStream(out, offsets, packed, " /Root 1 0 R");
        return out.toByteArray();
    }

    /** A document title that names the keyword, as a manual about PDF would. */
    private static final String TITLE = " /Lang (en) /PieceInfo << /Note (stream data ends at endstream) >>";

    /**
     * Control: the stored object stream whose catalog's text holds {@code endstream}, its {@code /Length} an integer:
     * PdfPages skips the data by its length and counts 40 (passes today).
     */
    @Test
    void control_aStoredStreamWhoseLengthIsAnIntegerIsCharged() {
        assertCharged("length-integer", "its page dictionaries in a stored object stream with /Length 2981",
                streamReport(PAGES, TITLE, "%1$d", "%2$d", null, true));
    }

    /**
     * The same with {@code /Length 2981.0}: PDFBox reads the length with {@code getLong} (2981) and the 40 pages.
     * PdfPages.readObjects takes a length only {@code instanceof Long}, ends the stream at the first
     * {@code endstream} in its data (inside the catalog's string), and inflates only the header and part of the
     * catalog: count 0, charged 2,132 (no page counted; what the filter charges such a body without one), should be at
     * least 10,320.
     */
    @Test
    void aStoredStreamWhoseLengthIsARealIsCharged() {
        assertCharged("length-real", "its page dictionaries in a stored object stream with /Length 2981.0",
                streamReport(PAGES, TITLE, "%1$d", "%2$d.0", null, true));
    }

    /** Control: the stream's {@code /Length 250 0 R}, object 250 an integer: PdfPages reads it there and counts 40 (passes today). */
    @Test
    void control_anIndirectIntegerLengthIsCharged() {
        assertCharged("length-indirect-integer", "its page dictionaries in a stored object stream whose /Length is object 250 (2981)",
                streamReport(PAGES, TITLE, "%1$d", "250 0 R", "%2$d", true));
    }

    /**
     * {@code /Length 250 0 R}, object 250 the real {@code 2981.0}: PDFBox 40. PdfPages.lengthThroughXref reads only an
     * integer token there and scans to the first {@code endstream}, in the data: count 0, charged 2,161, should be at
     * least 10,320.
     */
    @Test
    void anIndirectRealLengthIsCharged() {
        assertCharged("length-indirect-real", "its page dictionaries in a stored object stream whose /Length is object 250 (2981.0)",
                streamReport(PAGES, TITLE, "%1$d", "250 0 R", "%2$d.0", true));
    }

    /** Control: the stream's {@code /N 250 0 R}, object 250 the integer 42: PdfPages counts 40 (passes today). */
    @Test
    void control_anIndirectIntegerCountIsCharged() {
        assertCharged("count-indirect-integer", "its page dictionaries in an object stream whose /N is object 250 (42)",
                streamReport(PAGES, "", "250 0 R", "%2$d", "%1$d", false));
    }

    /**
     * {@code /N 250 0 R}, object 250 the real {@code 42.0}: PDFBox's {@code getInt} dereferences it (42) and reads the
     * 40 pages. PdfPages keeps of object 250 only an integer or a name ({@code Obj.small}), so {@code integer} is -1
     * and readObjectStreams skips the stream: count 0, charged 1,000, should be at least 10,320. Round 551 read a
     * direct {@code /N 43.0}; through a reference it is lost.
     */
    @Test
    void anIndirectRealCountIsCharged() {
        assertCharged("count-indirect-real", "its page dictionaries in an object stream whose /N is object 250 (42.0)",
                streamReport(PAGES, "", "250 0 R", "%2$d", "%1$d.0", false));
    }

    // ---- a cross-reference stream's /Size given as a real ----

    /**
     * The clear report with its cross-reference stream's {@code /Size 303} replaced by {@code size} (the same length,
     * so every offset stays right).
     */
    static byte[] sized(String size) {
        byte[] pdf = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        String from = "/Type /XRef /Size 303 ";
        int at = text.lastIndexOf(from);
        assertTrue(at >= 0 && size.length() == from.length(), "the cross-reference stream's /Size");
        System.arraycopy(size.getBytes(StandardCharsets.ISO_8859_1), 0, pdf, at, from.length());
        return pdf;
    }

    /** Control: {@code /Type/XRef /Size 303 } (a space moved): PdfPages counts 40 (passes today). */
    @Test
    void control_anXrefStreamWhoseSizeIsAnIntegerIsCharged() {
        String s = subject("size-integer");
        assertAtLeast(s, PAGES, "its objects placed by a cross-reference stream of /Size 303", sendPdf(s, sized("/Type/XRef /Size 303  ")));
    }

    /**
     * {@code /Size 303.0} and no {@code /Index}: PDFBox reads the rows of objects 0 to 302 and the 40 pages, the file
     * as it is, no update. PdfPages.xrefStream takes a size only {@code instanceof Long}, reads no row, and the
     * section, placing nothing, is taken as the whole data (nothing misplaced); readObjectStreams skips object stream
     * 300 as no entry names it: count 0, charged the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void anXrefStreamWhoseSizeIsARealIsCharged() {
        String s = subject("size-real");
        assertAtLeast(s, PAGES, "its objects placed by a cross-reference stream of /Size 303.0", sendPdf(s, sized("/Type/XRef /Size 303.0")));
    }
}
