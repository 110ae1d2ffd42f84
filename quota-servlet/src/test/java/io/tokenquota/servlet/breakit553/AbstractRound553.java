package io.tokenquota.servlet.breakit553;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import java.io.ByteArrayOutputStream;
import java.util.HexFormat;
import io.tokenquota.servlet.testing.PdfRound;
import org.junit.jupiter.api.Test;

/**
 * Round 553 of issue 11: numbers in a clear PDF object stream's dictionaries as PDFBox 3.0.8 reads them, after round
 * 552's fix. A PDF sent as the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text
 * without usage is charged its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>PDFBox 3.0.8's {@code BaseParser.parseCOSNumber} reads a number as the run of characters that may make one
 * (digits, {@code + - . e E}) and stops at the first other character, whatever it is; the parser then goes on from
 * there (in a dictionary, a character that starts no key is skipped up to the next {@code /}). So {@code /N 43x} is
 * {@code /N 43}. PdfPages' lexer ({@code Lexer.word}) takes the whole run of regular characters ({@code 43x}) as one
 * token and, as it is no number, a keyword: the value is no integer and the stream is skipped, or its predictor
 * missed. Each file was run through PDFBox 3.0.8 in a scratch program (not a dependency of this project):
 * {@code Loader.loadPDF(bytes)}, {@code getNumberOfPages()} 40, iterating {@code getPages()} 40, and
 * {@code PDFTextStripper.getText} held the text of all 40 pages. In each the object stream holds the report's
 * catalog, tree, 40 page dictionaries and font (/N 43). Both findings below were fixed after the round: the lexer
 * reads a number as that run (the next character starts the next token), and every layer of a filter chain is
 * charged to the shared decode budget ({@code PdfPages.decode}); the findings' tests now pass beside their controls.
 */
abstract class AbstractRound553 extends PdfRound {

    AbstractRound553() {
        super(553);
    }

    // ---- a number followed by a character that is not part of it ----

    /**
     * Control: a stray word after the count, separated from it by a space ({@code /N 43 x}): PdfPages reads /N 43,
     * skips the word as PDFBox does and counts 40 (passes today).
     */
    @Test
    void control_aStrayWordAfterTheCountIsCharged() {
        assertCharged("count-space-word", "its page dictionaries in an object stream with /N 43 x",
                rewritten("300 0 obj<</Type/ObjStm/N %s x/First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * The same word right after the count ({@code /N 43x}): PDFBox reads 43 (its number ends at the {@code x}) and
     * the 40 pages. PdfPages lexes {@code 43x} as one keyword, {@code integer} is -1 and readObjectStreams skips the
     * stream before any rule (neither read nor counted as its /N): count 0, charged the 1,000 fallback, should be at
     * least 10,320.
     */
    @Test
    void aCountFollowedByALetterIsCharged() {
        assertCharged("count-letter", "its page dictionaries in an object stream with /N 43x",
                rewritten("300 0 obj<</Type/ObjStm/N %sx/First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * The same with a punctuation character that is no PDF delimiter ({@code /N 43!}): PDFBox 43 and 40 pages;
     * PdfPages a keyword, count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aCountFollowedByPunctuationIsCharged() {
        assertCharged("count-punctuation", "its page dictionaries in an object stream with /N 43!",
                rewritten("300 0 obj<</Type/ObjStm/N %s!/First %s/Length %s/Filter/Fl>>"));
    }

    /**
     * The same on the offset of the first object ({@code /First 329x}): PDFBox 329 and 40 pages; PdfPages skips the
     * stream, count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aFirstFollowedByALetterIsCharged() {
        assertCharged("first-letter", "its page dictionaries in an object stream with /First 329x",
                rewritten("300 0 obj<</Type/ObjStm/N %s/First %sx/Length %s/Filter/Fl>>"));
    }

    // ---- a predictor followed by a character that is not part of it ----

    /**
     * Control: the object stream's Flate data under a PNG predictor (rows of filter type 2, Up) with a stray word
     * after the predictor ({@code /Predictor 12 x}): the stream counts as its /N, 43 (passes today).
     */
    @Test
    void control_aPredictorBeforeAStrayWordCountsAsTheStreamsObjects() {
        assertCharged("predictor-space-word", "its page dictionaries in an object stream under /Predictor 12 x",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 12 x /Columns 16 >>", 2));
    }

    /**
     * The same written {@code /Predictor 12x}: PDFBox reads 12, undoes the predictor and reads the 40 pages.
     * PdfPages.filters reads a keyword, no predictor, inflates the predicted rows and reads them as objects: none
     * parses, count 0, charged 1,000, should be at least 10,320.
     */
    @Test
    void aPredictorFollowedByALetterIsCharged() {
        assertCharged("predictor-letter", "its page dictionaries in an object stream under /Predictor 12x",
                ObjectStreamPdfs.predicted(PAGES, " /DecodeParms << /Predictor 12x /Columns 16 >>", 2));
    }
    // ---- the shared budget and a filter chain's intermediate layers ----

    /** The bytes each decoy object stream inflates to before its last filter: its own bound, 8 MB, nearly. */
    static final int DECOY_DECODED = 8_000_000;

    /**
     * A one-page letter (catalog 1, tree 2, page 3 and its content 4, no cross-reference data, so read in order) and
     * {@code streams} object streams 100.. each holding 40 font dictionaries ({@code /N 40}), none a page. With
     * {@code hexLayer} false each stream is one Flate layer whose text is the 40 fonts followed by spaces up to
     * {@link #DECOY_DECODED} bytes; with it true the stream is {@code [/FlateDecode /ASCIIHexDecode]} (ISO 32000-1
     * 7.4.2: white space in ASCIIHex data is ignored), the Flate layer inflating to the fonts' hexadecimal digits
     * followed by the same spaces, the hex layer decoding to the 40 fonts alone. Both ask the count to inflate
     * {@code streams} times 8 MB, from about 8 KB each.
     */
    static byte[] decoys(int streams, boolean hexLayer) {
        StringBuilder header = new StringBuilder();
        StringBuilder objects = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            header.append(1000 + i).append(' ').append(objects.length()).append(' ');
            objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\n");
        }
        String head = header.append('\n').toString();
        byte[] plain = PdfFiles.ascii(head + objects);
        byte[] text = hexLayer ? PdfFiles.ascii(HexFormat.of().formatHex(plain)) : plain;
        byte[] inflated = new byte[DECOY_DECODED];
        java.util.Arrays.fill(inflated, (byte) ' ');
        System.arraycopy(text, 0, inflated, 0, text.length);
        byte[] data = PdfFiles.deflate(inflated);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] content = PdfFiles.pageContent(0);
        out.writeBytes(PdfFiles.ascii(PdfFiles.HEADER + "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
                + "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n"
                + "4 0 obj << /Length " + content.length + " /Filter /FlateDecode >> stream\n"));
        out.writeBytes(content);
        out.writeBytes(PdfFiles.ascii("\nendstream endobj\n"));
        for (int s = 0; s < streams; s++) {
            out.writeBytes(PdfFiles.ascii((100 + s) + " 0 obj << /Type /ObjStm /N 40 /First " + head.length() + " /Length "
                    + data.length + " /Filter " + (hexLayer ? "[/FlateDecode /ASCIIHexDecode]" : "/FlateDecode")
                    + " >> stream\n"));
            out.writeBytes(data);
            out.writeBytes(PdfFiles.ascii("\nendstream endobj\n"));
        }
        out.writeBytes(PdfFiles.ascii("trailer << /Root 1 0 R >>\n%%EOF\n"));
        return out.toByteArray();
    }

    /**
     * Control: two object streams, each one Flate layer inflating to 8 MB (the 40 fonts, then spaces). The first
     * spends the count's shared 8 MB budget and the second counts as its /N, as docs/decisions.md says ("a
     * stream the shared budget leaves unread counts as the objects it may hold ... only a file asking for more work
     * than an honest one is charged more"): 1 + 40 = 41 pages, at least 10,578 (passes today).
     */
    @Test
    void control_decoyStreamsThatSpendTheBudgetAreCharged() {
        String s = subject("decoys-one-layer");
        assertCharged(s, 41, "one page and two 8 MB object streams of one Flate layer", sendPdf(s, decoys(2, false)));
    }

    /**
     * The same two streams with an ASCIIHex layer after the Flate one: the Flate layer still inflates 8 MB each, 16
     * MB in all, but PdfPages.readObjectStreams charges the shared budget only what the last filter returned
     * ({@code budget.decoded -= content.length}, 2.3 KB of fonts each), and decode() bounds each layer by the same
     * {@code most} without charging it: the budget is never spent, every stream is read, count 1, charged the 1,000
     * fallback, should be at least 10,578 as the one-layer file is (and a file of any number of such streams is
     * charged the same 1,000). Work per byte is not bounded either: in a
     * scratch program 80 such streams (Flate then 1.6 million empty stored deflate blocks as the second layer, a
     * 0.97 MB body) took PdfPages.pageObjects 2.4 to 3.1 s of CPU and were counted as one page; 120 streams of this
     * test's shape (a 0.99 MB body, 960 MB inflated) took 3.0 to 3.9 s and counted one page, where the one-layer file
     * of the same size took 0.14 s and counted 4,761.
     */
    @Test
    void decoyStreamsWhoseLastLayerIsSmallAreCharged() {
        String s = subject("decoys-two-layers");
        assertCharged(s, 41, "one page and two object streams whose Flate layer inflates 8 MB before an ASCIIHex layer",
                sendPdf(s, decoys(2, true)));
    }

    void assertCharged(String s, int pages, String what, long used) {
        assertTrue(used >= pages * PAGE_TOKENS, kind() + ": a PDF of " + what + " (the budget rule: " + pages
                + " pages) was charged " + used + ", should be at least " + pages * PAGE_TOKENS + " (" + pages + " x "
                + PAGE_TOKENS + "): " + ledger(s));
    }
}
