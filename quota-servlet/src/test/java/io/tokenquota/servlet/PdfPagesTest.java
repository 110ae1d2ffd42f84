package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * The page count reads a PDF as a reader's lexer does (round 498): nothing in a comment or a string is
 * structure, {@code stream} is a keyword only after a dictionary, a page is a {@code /Type /Page} object
 * or a leaf of the page tree, and an object stream is known by {@code /N} and {@code /First}.
 */
class PdfPagesTest {
    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static long pages(String pdf) {
        return PdfPages.pageObjects(ascii(pdf));
    }

    private static final String HEAD = "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            + "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n";
    private static final String TWO_PAGES = HEAD + "3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n"
            + "4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n";

    @Test
    void readsNoStructureInCommentsOrStrings() {
        assertEquals(2, pages(TWO_PAGES + "% 3 0 obj\n% 4 0 obj\n"), "object headers in comments");
        assertEquals(2, pages(TWO_PAGES + "5 0 obj << /Keywords (3 0 obj (4 0 obj) \\) endobj) >> endobj\n"),
                "object headers in a nested string with an escaped parenthesis");
        assertEquals(2, pages(TWO_PAGES + "5 0 obj << /Title <332030206f626a> /Subject (/Type /Page) >> endobj\n"),
                "a hex string, and a page type in a string");
        assertEquals(2, pages("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R /URI << /Base (live stream) >> >> endobj\n"
                + TWO_PAGES.substring(TWO_PAGES.indexOf("2 0 obj"))), "the word stream in a string");
        assertEquals(1, pages("%PDF-1.7\n3 0 obj << /Type %x\n/Page >> endobj\n"), "a comment is white space");
        assertEquals(1, pages("%PDF-1.7\n3 0 obj << /Typ#65 /Pag#65 >> endobj\n"), "names read decoded");
    }

    @Test
    void countsTheLeavesOfThePageTreeWhateverTheirType() {
        assertEquals(2, pages(HEAD + "3 0 obj << /Parent 2 0 R >> endobj\n4 0 obj << /Parent 2 0 R >> endobj\n"));
        // an intermediate node, an indirect /Kids array, and a page that is also typed: each once
        assertEquals(3, pages("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                + "2 0 obj << /Kids [5 0 R 3 0 R] >> endobj\n5 0 obj << /Kids 6 0 R >> endobj\n6 0 obj [7 0 R 8 0 R] endobj\n"
                + "7 0 obj << /Type /Page >> endobj\n8 0 obj << >> endobj\n3 0 obj << /MediaBox [0 0 1 1] >> endobj\n"));
        // a form field's /Kids (its widgets) are no page tree
        assertEquals(2, pages(TWO_PAGES + "9 0 obj << /FT /Btn /Kids [10 0 R 11 0 R] >> endobj\n"
                + "10 0 obj << /Subtype /Widget >> endobj\n11 0 obj << /Subtype /Widget >> endobj\n"));
    }

    @Test
    void skipsAStreamByItsLengthSoAnAttachedPdfIsData() {
        String attached = TWO_PAGES.replace("3 0 R 4 0 R", "3 0 R 4 0 R 5 0 R") + "5 0 obj << /Type /Page >> endobj\n"
                + "6 0 obj << /Length 3 >> stream\nabc\nendstream endobj\n";
        String letter = "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Kids [3 0 R] >> endobj\n"
                + "3 0 obj << /Type /Page >> endobj\n";
        assertEquals(1, pages(letter + "8 0 obj << /Length " + attached.length() + " >> stream\n" + attached
                + "\nendstream\nendobj\n"), "a direct /Length");
        assertEquals(1, pages(letter + "8 0 obj << /Length 9 0 R >> stream\n" + attached
                + "\nendstream\nendobj\n9 0 obj\n" + attached.length() + "\nendobj\n"), "a /Length written after the stream");
        // a wrong /Length: the data ends at the next endstream, and reading goes on from there
        assertEquals(3, pages(TWO_PAGES + "5 0 obj << /Length 999 >> stream\nxyz\nendstream endobj\n"
                + "6 0 obj << /Length 2 >> stream\n(((\nendstream endobj\n" + "7 0 obj << /Type /Page >> endobj\n"),
                "a broken /Length, and data that is no string");
    }

    private static byte[] deflate(String s) {
        Deflater deflater = new Deflater();
        deflater.setInput(ascii(s));
        deflater.finish();
        byte[] out = new byte[s.length() + 64];
        int n = deflater.deflate(out);
        deflater.end();
        return java.util.Arrays.copyOf(out, n);
    }

    private static byte[] withObjectStream(String dict, String extra) {
        String objects = "3 0 4 18 << /Type /Page >> << /Type /Page >>";
        byte[] data = deflate(objects);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii(HEAD + extra + "8 0 obj << " + dict + " /N 2 /First 9 /Length " + data.length + " >> stream\n"));
        out.writeBytes(data);
        out.writeBytes(ascii("\nendstream endobj\n"));
        return out.toByteArray();
    }

    @Test
    void readsAnObjectStreamByNAndFirstWithItsFilterResolved() {
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Type /ObjStm /Filter /FlateDecode", "")));
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Filter /FlateDecode", "")), "no /Type");
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Filter 9 0 R", "9 0 obj [/FlateDecode] endobj\n")),
                "an indirect /Filter");
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Filter [10 0 R]", "10 0 obj /FlateDecode endobj\n")),
                "an indirect filter name");
        assertEquals(0, PdfPages.pageObjects(withObjectStream("/Filter /FlateDecode /DecodeParms << /Predictor 12 >>", "")),
                "a predictor is not undone (open)");
    }

    @Test
    void findsTheObjectAPieceLeavesUnfinished() {
        String whole = TWO_PAGES + "5 0 obj << /Length 4 >> stream\nab";
        assertEquals(TWO_PAGES.length(), PdfPages.unfinishedObject(ascii(whole)), "cut in a stream's data");
        assertEquals(TWO_PAGES.length(), PdfPages.unfinishedObject(ascii(TWO_PAGES + "5 0 obj << /Type")), "cut in a dictionary");
        assertEquals(TWO_PAGES.length() + 10, PdfPages.unfinishedObject(ascii(TWO_PAGES + "% 9 0 obj\n")),
                "a header in a comment begins no object");
        // the piece after a cut inside a stream's data is read from after its endstream
        assertEquals(1, pages("(((( endstream endobj 6 0 obj << /Type /Page >> endobj\n"));
    }
}
