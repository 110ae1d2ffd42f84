package io.tokenquota.servlet.breakit551;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfRound;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 551 of issue 11: the count of a clear PDF object stream under a filter chain against what PDFBox 3.0.8
 * reads, after the change that counts a clear stream the count does not decode (LZW, a predictor) as its
 * {@code /N}. A PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text
 * without usage is charged its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, {@code getNumberOfPages()}, iterating {@code getPages()} and
 * {@code PDFTextStripper.getText}; the figures are in each test. In each finding the object stream holds the
 * report's catalog, tree, 40 page dictionaries and font (/N 43), and PDFBox decodes it, while PdfPages decodes
 * something else and finds none of them: the file is held and charged the 1,000 fallback.
 */
abstract class AbstractRound551 extends PdfRound {

    AbstractRound551() {
        super(551);
    }

    /**
     * The clear report with the first two bytes of its object stream's Flate data (the zlib header, ISO 32000-1
     * 7.4.4 and RFC 1950) replaced; same length, so every offset stays right.
     */
    static byte[] zlibHeader(int first, int second) {
        byte[] pdf = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        int at = text.indexOf("stream\n", text.indexOf("/Type /ObjStm")) + "stream\n".length();
        pdf[at] = (byte) first;
        pdf[at + 1] = (byte) second;
        return pdf;
    }

    /**
     * Control: the object stream's Flate data under a PNG predictor written {@code /DecodeParms << /Predictor 12
     * /Columns 16 >>}, rows of filter type 2 (Up). PDFBox 3.0.8: getNumberOfPages() 40, iterator 40, text of 40.
     * Since the change under test the stream counts as its /N, 43 pages, charged at least 10,320 (passes today).
     */
    @Test
    void control_aPredictorUnderDecodeParmsCountsAsTheStreamsObjects() {
        assertCharged("decodeparms", "its page dictionaries in an object stream under /DecodeParms << /Predictor 12 >>",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 12 /Columns 16 >>", 2));
    }

    /**
     * The same stream with its parameters under the abbreviated key {@code /DP} (ISO 32000-1 table 93, the inline
     * image abbreviation): PDFBox 3.0.8's {@code Filter.getDecodeParams} reads {@code /DP} before
     * {@code /DecodeParms} for every stream, undoes the predictor and reads the 40 pages (getNumberOfPages() 40,
     * iterator 40, text of 40). PdfPages.filters looks only at {@code /DecodeParms}, finds no predictor, inflates
     * and reads the predicted rows as the objects: none parses, the count is 0 and the file is charged as one
     * page, should be at least 10,320.
     */
    @Test
    void aPredictorUnderTheAbbreviatedKeyDpIsCharged() {
        assertCharged("dp", "its page dictionaries in an object stream under /DP << /Predictor 12 >>",
                ObjectStreamPdfs.predicted(PAGES, " /DP << /Predictor 12 /Columns 16 >>", 2));
    }

    /**
     * The control's stream with its predictor written as a real, {@code /Predictor 12.0}: PDFBox 3.0.8 reads it with
     * {@code COSDictionary.getInt} (a {@code COSFloat}'s int value, 12), undoes it and reads the 40 pages
     * (getNumberOfPages() 40, iterator 40, text of 40). PdfPages.filters takes only an integer as a predictor
     * ({@code integer} is -1 for a real), so the stream is inflated and read as if unpredicted: count 0, charged the 1,000
     * fallback, should be at least 10,320.
     */
    @Test
    void aPredictorWrittenAsARealIsCharged() {
        assertCharged("real-predictor", "its page dictionaries in an object stream under /DecodeParms << /Predictor 12.0 >>",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 12.0 /Columns 16 >>", 2));
    }

    /** Control: the clear report, its object stream's Flate data under a valid zlib header (78 9C): 40 (passes today). */
    @Test
    void control_anObjectStreamUnderAValidZlibHeaderIsCharged() {
        assertCharged("zlib-valid", "its page dictionaries in an object stream under Flate (zlib header 78 9C)",
                zlibHeader(0x78, 0x9C));
    }

    /**
     * The same file with the zlib header's second byte 00 (its check bits wrong, RFC 1950 FCHECK): PDFBox 3.0.8's
     * {@code FlateFilterDecoderStream} skips the two header bytes unread and inflates the rest as raw deflate
     * ({@code new Inflater(true)}): getNumberOfPages() 40, iterator 40, text of 40. PdfPages.inflate uses a zlib
     * {@code Inflater}, which fails at once ("incorrect header check") and keeps the nothing it inflated: the stream
     * is read as empty, count 0, charged the 1,000 fallback, should be at least 10,320. (Any two bytes do the same, 00 00
     * or "HH", and so does a valid header
     * that sets FDICT, 78 BB, on which the zlib Inflater waits for a dictionary: PDFBox reads 40 pages under each.)
     */
    @Test
    void anObjectStreamUnderABrokenZlibHeaderIsCharged() {
        assertCharged("zlib-broken", "its page dictionaries in an object stream whose zlib header reads 78 00",
                zlibHeader(0x78, 0x00));
    }

    /**
     * Control: the clear report, its object stream's decoded data ending in 10,000 spaces after the font (13.3 KB
     * file, the stream within 100 times its encoded size): 40 (passes today; PDFBox 3.0.8: getNumberOfPages() 40,
     * iterator 40, text of 40).
     */
    @Test
    void control_anObjectStreamEndingInSomeWhiteSpaceIsCharged() {
        assertCharged("space-10k", "its page dictionaries in an object stream ending in 10,000 spaces",
                ObjectStreamPdfs.trailingSpace(PAGES, 10_000));
    }

    /**
     * The same file with 100,000 spaces at the end of the object stream (a 13.4 KB body; the stream's Flate data
     * grows by under 200 bytes): it now decodes to more than 100 times its encoded size, PdfPages' own bound for one
     * stream, and PdfPages.readObjectStreams skips it (decode returns null with {@code most == own}, so it is neither
     * read nor counted as its /N the way a stream the shared budget leaves unread is). PDFBox 3.0.8 has no such
     * bound and reads the 40 pages: getNumberOfPages() 40, iterator 40, text of 40. Charged the 1,000 fallback,
     * should be at least 10,320. 70,000 spaces already do it; the decoding work asked for is 0.1 MB, well within the
     * 8 MB budget, so this is a file that asks for more work than an honest one and is charged less.
     */
    @Test
    void anObjectStreamPastItsOwnRatioBoundIsCharged() {
        assertCharged("space-100k", "its page dictionaries in an object stream ending in 100,000 spaces",
                ObjectStreamPdfs.trailingSpace(PAGES, 100_000));
    }

    /**
     * The clear report with its object stream's {@code /N} or {@code /First} written as a real ({@code 43.0}); two
     * spaces of the stream's dictionary dropped so its length, and every offset, stays the same.
     */
    static byte[] realCount(boolean first) {
        byte[] pdf = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        int at = text.indexOf("/Type /ObjStm /N ");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("/Type /ObjStm /N (\\d+) /First (\\d+)").matcher(text);
        assertTrue(m.find(at) && m.start() == at, "the object stream's dictionary");
        String written = "/Type/ObjStm/N " + m.group(1) + (first ? "" : ".0") + " /First " + m.group(2) + (first ? ".0" : "");
        byte[] bytes = written.getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(bytes.length == m.end() - m.start(), "same length");
        System.arraycopy(bytes, 0, pdf, at, bytes.length);
        return pdf;
    }

    /**
     * The clear report with its object stream's {@code /N 43.0}, a real. PDFBox 3.0.8's {@code PDFObjectStreamParser}
     * reads {@code /N} and {@code /First} with {@code COSDictionary.getInt} (a {@code COSFloat}'s int value) and reads
     * the stream: getNumberOfPages() 40, iterator 40, text of 40. PdfPages.readObjectStreams reads them with
     * {@code integer}, -1 for a real, and skips the stream before any rule (not read, not counted as its /N): count 0,
     * charged the 1,000 fallback, should be at least 10,320. The control is the first report (an integer /N), 40.
     */
    @Test
    void anObjectStreamWhoseCountIsARealIsCharged() {
        String s = subject("real-n");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream with /N 43.0", sendPdf(s, realCount(false)));
    }

    /** The same with {@code /First} a real ({@code 329.0}): PDFBox 3.0.8 reads 40 pages, PdfPages 0, charged 1,000. */
    @Test
    void anObjectStreamWhoseFirstIsARealIsCharged() {
        String s = subject("real-first");
        assertAtLeast(s, PAGES, "its page dictionaries in an object stream with /First a real", sendPdf(s, realCount(true)));
    }
}
