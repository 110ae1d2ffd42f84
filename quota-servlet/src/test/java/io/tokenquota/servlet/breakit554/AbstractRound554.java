package io.tokenquota.servlet.breakit554;


import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfRound;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 554 of issue 11: a number followed by the letter {@code e} or {@code E} in a clear PDF object stream's
 * dictionaries, after round 553's fix. A PDF sent as the body ({@code Content-Type: application/pdf}) to a
 * summariser that answers plain text without usage is charged its estimate: the pages counted times 258 (at least
 * one page), plus the answer.
 *
 * <p>PDFBox 3.0.8's {@code BaseParser.parseCOSNumber} (read from its bytecode, {@code javap -c}) takes the run of
 * characters that may make a number (digits, {@code + - . e E}) and then, when the run's last character is an
 * {@code e} or {@code E}, drops it and rewinds one byte, so that letter starts the next token; only then does it call
 * {@code COSNumber.get}. So {@code /N 43e} is {@code /N 43} (the {@code e} a stray character the dictionary parser
 * skips up to the next {@code /}, with the warning "Invalid dictionary, found: 'e' but expected: '/'"), and
 * {@code /N 43.e} is the real {@code 43.}, which {@code getInt} reads as 43. Round 553's lexer
 * ({@code PdfPages.Lexer.next}) takes the same run but keeps the trailing {@code e}, and {@code Lexer.word} reads
 * {@code 43e} (an exponent with no digits) as a keyword: the value is no number, {@code integer} is -1, and
 * {@code readObjectStreams} skips the stream before any rule (neither read nor counted as its /N).
 *
 * <p>Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, the object stream's dictionary {@code getInt(COSName.N)} 43,
 * {@code getNumberOfPages()} 40, iterating {@code getPages()} 40, and {@code PDFTextStripper.getText} held the first
 * line of each of the 40 pages. In each the object stream holds the report's catalog, tree, 40 page dictionaries and
 * font (/N 43). Fixed after the round: the lexer gives a run's last {@code e} back as PDFBox does; the findings' tests
 * now pass beside their controls.
 */
abstract class AbstractRound554 extends PdfRound {

    AbstractRound554() {
        super(554);
    }

    // ---- a count followed by e ----

    /**
     * Control: the letter apart from the count ({@code /N 43 e}): PdfPages reads /N 43, skips the word {@code e} as
     * PDFBox does and counts 40 (passes today).
     */
    @Test
    void control_anEApartFromTheCountIsCharged() {
        assertCharged("count-space-e", "its page dictionaries in an object stream with /N 43 e",
                rewritten("300 0 obj<</Type/ObjStm/N %s e/First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * The same letter right after the count ({@code /N 43e}): PDFBox drops the run's trailing {@code e} and reads 43,
     * and the 40 pages. PdfPages lexes {@code 43e} as a keyword and skips the stream: count 0, charged the 1,000
     * fallback, should be at least 10,320. Round 553's {@code /N 43x} is fixed; {@code x} ends the number, {@code e}
     * does not.
     */
    @Test
    void aCountFollowedByEIsCharged() {
        assertCharged("count-e", "its page dictionaries in an object stream with /N 43e",
                rewritten("300 0 obj<</Type/ObjStm/N %se /First %s/Length %s/Filter/Fl>>"));
    }

    /** The same with a capital ({@code /N 43E}): PDFBox 43 and 40 pages; PdfPages count 0, charged 1,000, should be at least 10,320. */
    @Test
    void aCountFollowedByACapitalEIsCharged() {
        assertCharged("count-capital-e", "its page dictionaries in an object stream with /N 43E",
                rewritten("300 0 obj<</Type/ObjStm/N %sE /First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * A point and then {@code e} ({@code /N 43.e}): PDFBox drops the {@code e}, reads the real {@code 43.} and
     * {@code getInt} 43, 40 pages; PdfPages lexes {@code 43.e} as a keyword, count 0, charged 1,000, should be at
     * least 10,320.
     */
    @Test
    void aRealCountFollowedByEIsCharged() {
        assertCharged("count-point-e", "its page dictionaries in an object stream with /N 43.e",
                rewritten("300 0 obj<</Type/ObjStm/N %s.e /First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * The offset of the first object glued to the next key ({@code /First 329e/Length}): PDFBox reads /First 329 (the
     * {@code e} skipped up to {@code /Length}, whose value it then also skips, reading the stream to its
     * {@code endstream}), 40 pages; PdfPages skips the stream, count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aFirstFollowedByEIsCharged() {
        assertCharged("first-e", "its page dictionaries in an object stream with /First 329e",
                rewritten("300 0 obj<</Type/ObjStm/N %s/First %se/Length %s/Filter/Fl>>"));
    }

    // ---- a predictor followed by e ----

    /**
     * Control: the object stream's Flate data under a PNG predictor (rows of filter type 2, Up) written
     * {@code /Predictor 12 e}: PdfPages reads the predictor and counts the stream as its /N, 43 (passes today).
     */
    @Test
    void control_aPredictorApartFromAnECountsAsTheStreamsObjects() {
        assertCharged("predictor-space-e", "its page dictionaries in an object stream under /Predictor 12 e",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 12 e /Columns 16 >>", 2));
    }

    /**
     * The same written {@code /Predictor 12e}: PDFBox reads 12, undoes the predictor and reads the 40 pages.
     * PdfPages.filters reads a keyword, no predictor, inflates the predicted rows and reads them as objects: none
     * parses, count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aPredictorFollowedByEIsCharged() {
        assertCharged("predictor-e", "its page dictionaries in an object stream under /Predictor 12e",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 12e /Columns 16 >>", 2));
    }

    // ---- an incremental update's /Prev followed by e ----

    /**
     * The clear report followed by an incremental update (ISO 32000-1 7.5.6) that changes nothing: a classic
     * cross-reference section with object 0's free row only, and a trailer whose {@code /Prev} names the report's
     * cross-reference stream, written {@code /Prev <offset>} then {@code suffix}. The report's objects are reached only
     * through that older section.
     */
    static byte[] updated(String suffix) {
        byte[] report = ObjectStreamPdfs.report(PAGES, false);
        String text = new String(report, StandardCharsets.ISO_8859_1);
        int at = text.lastIndexOf("startxref\n") + "startxref\n".length();
        String prev = text.substring(at, text.indexOf('\n', at));
        byte[] update = ("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 303 /Root 1 0 R /Prev " + prev + suffix
                + " >>\nstartxref\n" + report.length + "\n%%EOF\n").getBytes(StandardCharsets.ISO_8859_1);
        byte[] pdf = java.util.Arrays.copyOf(report, report.length + update.length);
        System.arraycopy(update, 0, pdf, report.length, update.length);
        return pdf;
    }

    /** Control: the update's {@code /Prev} written plainly: PdfPages reads both sections and counts 40 (passes today). */
    @Test
    void control_anUpdateWhosePrevIsPlainIsCharged() {
        String s = subject("prev-plain");
        assertAtLeast(s, PAGES, "its objects reached through an update's /Prev", sendPdf(s, updated("")));
    }

    /**
     * The update's {@code /Prev} followed by {@code e} ({@code /Prev 12776e}): PDFBox reads the offset without the
     * {@code e}, the older cross-reference stream and the 40 pages. PdfPages.sections reads a keyword, ends the chain
     * at the update (object 0 free, nothing placed), and readObjectStreams skips object stream 300 as no entry names
     * it: count 0, charged the 1,000 fallback, should be at least 10,320.
     */
    @Test
    void anUpdateWhosePrevIsFollowedByEIsCharged() {
        assertCharged("prev-e", "its objects reached through an update's /Prev written with a trailing e",
                updated("e"));
    }
}
