package io.tokenquota.servlet.breakit552;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.TreeMap;
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

    AbstractRound552() {
        super(552);
    }

    // ---- /DP and /DecodeParms together ----

    /**
     * Control: the object stream's Flate data under a PNG predictor (rows of filter type 2, Up) whose parameters are
     * only under {@code /DP}: since round 551 the stream counts as its /N, 43 (passes today).
     */
    @Test
    void control_aPredictorUnderDpAloneCountsAsTheStreamsObjects() {
        assertCharged("dp-alone", "its page dictionaries in an object stream under /DP << /Predictor 12 >>",
                ObjectStreamPdfs.predicted(PAGES, " /DP << /Predictor 12 /Columns 16 >>", 2));
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
     * Control: the object stream's header and dictionary written without optional white space and with
     * {@code /Fl} for {@code /FlateDecode} ({@code 300 0 obj<</Type/ObjStm/N 43/First 329/Length 543/Filter/Fl>>}),
     * the shape the findings below use: 40 (passes today).
     */
    @Test
    void control_aCompactObjectStreamDictionaryIsCharged() {
        assertCharged("compact", "its page dictionaries in an object stream with a compact dictionary",
                rewritten("300 0 obj<</Type/ObjStm/N %s/First %s/Length %s/Filter/Fl>>"));
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
        assertCharged("object-number-zeros", "its page dictionaries in object stream 0000000000000000300",
                rewritten("0000000000000000300 0 obj<</Type/ObjStm/N %s/First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * The same with the generation written as 19 zeros ({@code 300 0000000000000000000 obj}): PDFBox reads 0 and the
     * 40 pages; PdfPages takes it as a real: count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aGenerationWithLeadingZerosIsCharged() {
        assertCharged("generation-zeros", "its page dictionaries in object stream 300 of generation 0000000000000000000",
                rewritten("300 0000000000000000000 obj<</Type/ObjStm/N %s/First %s/Length %s/Filter/Fl>>"));
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
        assertCharged("count-zeros", "its page dictionaries in an object stream with /N 0000000000000000043",
                rewritten("300 0 obj<</Type/ObjStm/N 00000000000000000%s/First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * Control: a predictor written with leading zeros in 18 digits ({@code /Predictor 000000000000000012}), an integer
     * to PdfPages: the stream counts as its /N, 43 (passes today).
     */
    @Test
    void control_aPredictorOfEighteenDigitsCountsAsTheStreamsObjects() {
        assertCharged("predictor-18", "its page dictionaries in an object stream under /Predictor 000000000000000012",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 000000000000000012 /Columns 16 >>", 2));
    }

    /**
     * The same in 19 digits ({@code /Predictor 0000000000000000012}): PDFBox reads 12, undoes the predictor and reads
     * the 40 pages; PdfPages reads a real whose first 18 digits are 1, no predictor, inflates the predicted rows as
     * objects: count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aPredictorOfNineteenDigitsIsCharged() {
        assertCharged("predictor-19", "its page dictionaries in an object stream under /Predictor 0000000000000000012",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 0000000000000000012 /Columns 16 >>", 2));
    }

    // ---- reals in exponent notation ----

    /**
     * The object stream's {@code /N 43e0}: PDFBox 3.0.8's {@code BaseParser} reads a number's characters with
     * {@code e}/{@code E} among them and {@code COSNumber.get} makes a {@code COSFloat} of it (43.0), which
     * {@code getInt} reads as 43, and the 40 pages are read. PdfPages' lexer (Lexer.word) takes {@code 43e0} for a
     * keyword, {@code integer} is -1 and the stream is skipped before any rule (not read, not counted as its /N):
     * count 0, charged the 1,000 fallback, should be at least 10,320. The control is the compact dictionary above.
     */
    @Test
    void aCountInExponentNotationIsCharged() {
        assertCharged("count-exponent", "its page dictionaries in an object stream with /N 43e0",
                rewritten("300 0 obj<</Type/ObjStm/N %se0/First %s/Length %s/Filter/Fl>>"));
    }

    /** The same with {@code /N 4.3E1}: PDFBox 43 and 40 pages; PdfPages a keyword, count 0, charged 1,000. */
    @Test
    void aCountWithAnUpperCaseExponentIsCharged() {
        assertCharged("count-exponent-upper", "its page dictionaries in an object stream with /N 4.3E1",
                rewritten("300 0 obj<</Type/ObjStm/N 4.3E1/First %2$s/Length %3$s/Filter/Fl>>"));
    }

    /** The same with {@code /First 329e0}: PDFBox 329 and 40 pages; PdfPages skips the stream, count 0, charged 1,000. */
    @Test
    void aFirstInExponentNotationIsCharged() {
        assertCharged("first-exponent", "its page dictionaries in an object stream with /First 329e0",
                rewritten("300 0 obj<</Type/ObjStm/N %s/First %se0/Length %s/Filter/Fl>>"));
    }

    // ---- an honest one-page file whose object stream decodes past 100 times its size ----

    /**
     * A one-page form: the page (its text in content stream 4) with {@code annotations} link annotations, and a
     * Type0 font over a CIDFontType0 descendant (ISO 32000-1 9.7.4) whose {@code /W} lists the width of each of
     * {@code glyphs} glyphs one by one ({@code /W [1 [1000 1000 ...]]}, as a writer that embeds a whole CJK font
     * without subsetting writes it: its ideographs are all 1000 wide), all in one object stream 300 that a
     * cross-reference stream 301 places (W [1 4 2]).
     */
    static byte[] cjkForm(int glyphs, int annotations) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii(PdfFiles.HEADER));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        TreeMap<Integer, Integer> packed = new TreeMap<>();
        byte[] content = PdfFiles.pageContent(0);
        offsets.put(4, out.size());
        out.writeBytes(PdfFiles.ascii("4 0 obj\n<< /Length " + content.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(content);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        TreeMap<Integer, String> objects = new TreeMap<>();
        objects.put(1, "<< /Type /Catalog /Pages 2 0 R >>");
        objects.put(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        StringBuilder annots = new StringBuilder();
        for (int i = 0; i < annotations; i++) {
            annots.append(10 + i).append(" 0 R ");
            objects.put(10 + i, "<< /Type /Annot /Subtype /Link /Rect [72 " + (700 - 12 * i) + " 300 " + (710 - 12 * i)
                    + "] /Border [0 0 0] /A << /S /URI /URI (https://example.com/terms#" + i + ") >> >>");
        }
        objects.put(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 200 0 R >> >>"
                + " /Contents 4 0 R /Annots [" + annots + "] >>");
        objects.put(200, "<< /Type /Font /Subtype /Type0 /BaseFont /NotoSansCJKjp-Regular /Encoding /Identity-H"
                + " /DescendantFonts [201 0 R] >>");
        objects.put(201, "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /NotoSansCJKjp-Regular /CIDSystemInfo"
                + " << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 202 0 R /DW 1000 /W [1 ["
                + "1000 ".repeat(glyphs) + "]] >>");
        objects.put(202, "<< /Type /FontDescriptor /FontName /NotoSansCJKjp-Regular /Flags 4 /FontBBox [-1000 -1000 3000 1000]"
                + " /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 733 /StemV 80 >>");
        StringBuilder header = new StringBuilder();
        StringBuilder body = new StringBuilder();
        int index = 0;
        for (int n : objects.keySet()) {
            header.append(n).append(' ').append(body.length()).append(' ');
            body.append(objects.get(n)).append('\n');
            packed.put(n, index++);
        }
        String head = header.append('\n').toString();
        byte[] stream = PdfFiles.deflate(PdfFiles.ascii(head + body));
        offsets.put(300, out.size());
        out.writeBytes(PdfFiles.ascii("300 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + head.length()
                + " /Length " + stream.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(stream);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        int size = 302;
        offsets.put(301, out.size());
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int n = 0; n < size; n++) {
            int type = offsets.containsKey(n) ? 1 : packed.containsKey(n) ? 2 : 0;
            int second = type == 1 ? offsets.get(n) : type == 2 ? 300 : 0;
            int third = type == 2 ? packed.get(n) : n == 0 ? 65535 : 0;
            rows.write(type);
            for (int k = 24; k >= 0; k -= 8) {
                rows.write(second >> k & 0xFF);
            }
            rows.write(third >> 8 & 0xFF);
            rows.write(third & 0xFF);
        }
        byte[] xref = PdfFiles.deflate(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii("301 0 obj\n<< /Type /XRef /Size " + size + " /W [1 4 2] /Root 1 0 R /Length " + xref.length
                + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + offsets.get(301) + "\n%%EOF\n"));
        return out.toByteArray();
    }

    /**
     * Control: the one-page form with no widths listed (2 KB) and with 20,000 (2.1 KB; the object stream decodes to
     * 73 times its size, within PdfPages' bound): PdfPages counts 1 page each (PDFBox 3.0.8: getNumberOfPages() 1),
     * and the two are charged alike (passes today).
     */
    @Test
    void control_aOnePageFormWithTwentyThousandWidthsIsChargedAsOnePage() {
        long one = sendPdf(subject("cjk-0"), cjkForm(0, 40));
        String s = subject("cjk-20000");
        long used = sendPdf(s, cjkForm(20_000, 40));
        assertTrue(used <= one + PAGE_TOKENS, kind() + ": a one-page form with 20,000 widths was charged " + used
                + ", the same form without them " + one + ": " + ledger(s));
    }

    /**
     * The same one-page form with 65,000 widths (a whole CJK font's glyphs; 2.5 KB, the object stream decodes to 185
     * times its size). PDFBox 3.0.8: getNumberOfPages() 1. Since round 551 PdfPages.readObjectStreams counts a stream
     * past its own bound (100 times its encoded size) as its /N, here 46 (catalog, tree, page, 40 annotations, three
     * font objects): 46 pages, held 11,868 and charged 12,054 against the 1,000 the form costs with 20,000 widths, should be
     * at most that plus a page. An honest small file pays for 45 pages it does not have; 30,000 widths (ratio 101) do
     * it already.
     */
    @Test
    void aOnePageFormWithAWholeCjkFontsWidthsIsChargedAsOnePage() {
        long one = sendPdf(subject("cjk-base"), cjkForm(20_000, 40));
        String s = subject("cjk-65000");
        long used = sendPdf(s, cjkForm(65_000, 40));
        assertTrue(used <= one + PAGE_TOKENS, kind() + ": a one-page form (PDFBox 3.0.8: getNumberOfPages() 1) whose CID font"
                + " lists 65,000 widths was charged " + used + ", should be at most " + (one + PAGE_TOKENS) + " (the same form"
                + " with 20,000 widths, " + one + ", plus a page): " + ledger(s));
    }
}
