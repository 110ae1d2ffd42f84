package io.tokenquota.servlet.breakit552;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfRound;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 552 of issue 11: the count of a clear PDF object stream against what PDFBox 3.0.8 reads, after round 551's
 * change (parameters under {@code /DecodeParms}, else {@code /DP}; reals read by their whole part). A PDF sent as the
 * body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its
 * estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, {@code getNumberOfPages()}, iterating {@code getPages()} and
 * {@code PDFTextStripper.getText}; every file here gave getNumberOfPages() 40, iterator 40, text of 40 pages. In
 * each finding the object stream holds the report's catalog, tree, 40 page dictionaries and font (/N 43), PDFBox reads
 * all of them, and PdfPages reads something else.
 */
abstract class AbstractRound552 extends PdfRound {
    private static final String PDFBOX_40 = "getNumberOfPages() 40, iterator 40, text of 40";

    AbstractRound552() {
        super(552);
    }

    void assertAtLeast(String s, int pages, String what, long used) {
        assertTrue(used >= pages * PAGE_TOKENS, kind() + ": a PDF of " + pages + " pages (PDFBox 3.0.8: " + PDFBOX_40
                + ") " + what + " was charged " + used + ", should be at least " + pages * PAGE_TOKENS + " ("
                + pages + " x " + PAGE_TOKENS + "): " + ledger(s));
    }

    // ---- /DP and /DecodeParms together ----

    /**
     * Control: the object stream's Flate data under a PNG predictor (rows of filter type 2, Up) whose parameters are
     * only under {@code /DP}: since round 551 the stream counts as its /N, 43 (passes today).
     */
    @Test
    void control_aPredictorUnderDpAloneCountsAsTheStreamsObjects() {
        String s = subject("dp-alone");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream under /DP << /Predictor 12 >>",
                sendPdf(s, ObjectStreamPdfs.predicted(PAGES, " /DP << /Predictor 12 /Columns 16 >>", 2)));
    }

    /**
     * The same stream with a {@code /DecodeParms << /Predictor 1 >>} (no prediction) beside the {@code /DP}: PDFBox
     * 3.0.8's {@code Filter.getDecodeParams} reads {@code getDictionaryObject(COSName.DP, COSName.DECODE_PARMS)}, the
     * abbreviation first (javap of pdfbox-3.0.8.jar), undoes the predictor and reads the 40 pages. PdfPages.filters
     * reads {@code /DecodeParms} first (its comment says PDFBox does), finds no predictor, inflates and reads the
     * predicted rows as objects: none parses, count 0, charged the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void aPredictorUnderDpBesideDecodeParmsWithoutOneIsCharged() {
        String s = subject("dp-beside-decodeparms");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream under /DP << /Predictor 12 >> beside "
                + "/DecodeParms << /Predictor 1 >>", sendPdf(s, ObjectStreamPdfs.predicted(PAGES,
                        " /DecodeParms << /Predictor 1 >> /DP << /Predictor 12 /Columns 16 >>", 2)));
    }

    /**
     * The same with {@code /DecodeParms null} beside the {@code /DP}: PDFBox reads {@code /DP} (and a null value is
     * no value to {@code getDictionaryObject} either way) and reads 40 pages; PdfPages takes the null as the parameters
     * (not a dictionary, so no predictor): count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aPredictorUnderDpBesideANullDecodeParmsIsCharged() {
        String s = subject("dp-null-decodeparms");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream under /DP << /Predictor 12 >> beside "
                + "/DecodeParms null", sendPdf(s, ObjectStreamPdfs.predicted(PAGES,
                        " /DecodeParms null /DP << /Predictor 12 /Columns 16 >>", 2)));
    }

    // ---- integers written with leading zeros (19 digits or more) ----

    /**
     * The clear report ({@link ObjectStreamPdfs#report}) with the object stream's header and dictionary rewritten
     * from {@code format} (its three {@code %s} are /N, /First and /Length), padded with spaces before the closing
     * {@code >>} to the same length, so every offset in the cross-reference stream stays right.
     */
    static byte[] rewritten(String format) {
        byte[] pdf = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        Matcher m = Pattern.compile("300 0 obj\n<< /Type /ObjStm /N (\\d+) /First (\\d+) /Length (\\d+) /Filter /FlateDecode >>")
                .matcher(text);
        assertTrue(m.find(), "the object stream's dictionary");
        String written = String.format(format, m.group(1), m.group(2), m.group(3));
        int room = m.end() - m.start() - written.length();
        assertTrue(room >= 0, "fits: " + written);
        written = written.substring(0, written.length() - 2) + " ".repeat(room) + ">>";
        byte[] bytes = written.getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(m.end() - m.start(), bytes.length);
        System.arraycopy(bytes, 0, pdf, m.start(), bytes.length);
        return pdf;
    }

    /**
     * Control: the object stream's header and dictionary written without optional white space and with
     * {@code /Fl} for {@code /FlateDecode} ({@code 300 0 obj<</Type/ObjStm/N 43/First 329/Length 543/Filter/Fl>>}),
     * the shape the findings below use: 40 (passes today).
     */
    @Test
    void control_aCompactObjectStreamDictionaryIsCharged() {
        String s = subject("compact");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream with a compact dictionary",
                sendPdf(s, rewritten("300 0 obj<</Type/ObjStm/N %s/First %s/Length %s/Filter/Fl>>")));
    }

    /**
     * The object stream's number written with leading zeros, 19 digits ({@code 0000000000000000300 0 obj}). PDFBox
     * 3.0.8 reads the number with {@code Long.parseLong} (300), finds the object where the cross-reference stream
     * places it and reads the 40 pages. PdfPages' lexer (Lexer.word) takes any run of more than 18 digits as a
     * real, so the header is no "integer integer obj" and object 300 does not exist for the count: count 0, charged
     * the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void anObjectNumberWithLeadingZerosIsCharged() {
        String s = subject("object-number-zeros");
        assertAtLeast(s, PAGES, "its page dictionaries in object stream 0000000000000000300",
                sendPdf(s, rewritten("0000000000000000300 0 obj<</Type/ObjStm/N %s/First %s/Length %s/Filter/Fl>>")));
    }

    /**
     * The same with the generation written as 19 zeros ({@code 300 0000000000000000000 obj}): PDFBox reads 0 and the
     * 40 pages; PdfPages takes it as a real: count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aGenerationWithLeadingZerosIsCharged() {
        String s = subject("generation-zeros");
        assertAtLeast(s, PAGES, "its page dictionaries in object stream 300 of generation 0000000000000000000",
                sendPdf(s, rewritten("300 0000000000000000000 obj<</Type/ObjStm/N %s/First %s/Length %s/Filter/Fl>>")));
    }

    /**
     * The object stream's {@code /N 0000000000000000043} (19 digits): PDFBox 3.0.8's {@code PDFObjectStreamParser}
     * reads 43 ({@code getInt} of a {@code COSInteger} parsed by {@code Long.parseLong}) and the 40 pages. Since round
     * 551 PdfPages reads this "real" by its whole part, kept to its first 18 digits ({@code 000000000000000004}): /N 4,
     * so only the catalog, the tree and two page dictionaries are read: count 2, charged the 1,000 fallback, should be
     * at least 10,320.
     */
    @Test
    void aCountWithLeadingZerosIsCharged() {
        String s = subject("count-zeros");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream with /N 0000000000000000043",
                sendPdf(s, rewritten("300 0 obj<</Type/ObjStm/N 00000000000000000%s/First %s/Length %s/Filter/Fl>>")));
    }

    /**
     * Control: a predictor written with leading zeros in 18 digits ({@code /Predictor 000000000000000012}), an integer
     * to PdfPages: the stream counts as its /N, 43 (passes today).
     */
    @Test
    void control_aPredictorOfEighteenDigitsCountsAsTheStreamsObjects() {
        String s = subject("predictor-18");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream under /Predictor 000000000000000012",
                sendPdf(s, ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 000000000000000012 /Columns 16 >>", 2)));
    }

    /**
     * The same in 19 digits ({@code /Predictor 0000000000000000012}): PDFBox reads 12, undoes the predictor and reads
     * the 40 pages; PdfPages reads a real whose first 18 digits are 1, no predictor, inflates the predicted rows as
     * objects: count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aPredictorOfNineteenDigitsIsCharged() {
        String s = subject("predictor-19");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream under /Predictor 0000000000000000012",
                sendPdf(s, ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 0000000000000000012 /Columns 16 >>", 2)));
    }
}
