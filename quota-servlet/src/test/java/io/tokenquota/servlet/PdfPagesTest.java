package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
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

    /**
     * Round 526: a page is a position in the page tree, not an object (ISO 32000-1 7.7.3.2). A leaf counts
     * each time a {@code /Kids} names it, as PDFBox 3 counts, iterates and renders it; a node named again is
     * walked once, as PDFBox skips a node it has seen.
     */
    @Test
    void countsALeafEachTimeTheDocumentsTreeNamesIt() {
        assertEquals(5, pages(HEAD.replace("[3 0 R 4 0 R]", "[3 0 R 3 0 R 4 0 R 3 0 R 4 0 R]")
                + "3 0 obj << /Type /Page >> endobj\n4 0 obj << >> endobj\n"), "typed and untyped leaves named again");
        assertEquals(2, pages(HEAD.replace("[3 0 R 4 0 R]", "[5 0 R 5 0 R]") + "5 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] >> endobj\n"
                + "3 0 obj << /Type /Page >> endobj\n4 0 obj << /Type /Page >> endobj\n"), "a node named twice is walked once");
        assertEquals(2, pages(HEAD.replace("[3 0 R 4 0 R]", "[5 0 R 6 0 R]") + "5 0 obj << /Kids 7 0 R >> endobj\n"
                + "6 0 obj << /Kids 7 0 R >> endobj\n7 0 obj [3 0 R] endobj\n3 0 obj << /Type /Page >> endobj\n"),
                "a /Kids array object under two nodes");
        // a tree beside the document's (an update's orphaned node) adds only the pages the document's does not name
        assertEquals(3, pages(TWO_PAGES + "9 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 3 0 R 5 0 R] >> endobj\n"
                + "5 0 obj << /Type /Page >> endobj\n"), "an orphaned tree");
        // the trailer's /Root is the catalog whatever its /Type, through the table and read in order
        String[] untyped = {"1 0 obj << /Pages 2 0 R >> endobj", "2 0 obj << /Kids [3 0 R 4 0 R 3 0 R] >> endobj",
                "3 0 obj << /MediaBox [0 0 1 1] >> endobj", "4 0 obj << /MediaBox [0 0 1 1] >> endobj"};
        byte[] table = withXref(untyped);
        assertEquals(3, PdfPages.pageObjects(table), "an untyped catalog and tree, through the table");
        String text = new String(table, StandardCharsets.ISO_8859_1);
        assertEquals(3, pages(text.substring(0, text.indexOf("xref\n")) + "trailer << /Root 1 0 R >>\n"),
                "an untyped catalog and tree, read in order");
    }

    /**
     * Round 536: the document's tree is walked as PDFBox 3's {@code PageIterator} walks it. A kid is a dictionary,
     * referenced or written in place; a node is one with {@code /Kids} or {@code /Type /Pages}; a node entered as a
     * kid is remembered, the root is not, so a node naming the root walks it once more; anything else in a
     * {@code /Kids} is no kid.
     */
    @Test
    void walksTheDocumentsTreeAsPdfBoxIteratesIt() {
        String catalog = "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n";
        String page = "3 0 obj << /Type /Page >> endobj\n";
        assertEquals(3, pages(catalog + "2 0 obj << /Type /Pages /Kids [<< /Type /Page >> << /MediaBox [0 0 1 1] >>"
                + " << /Kids [<< /Type /Page >>] >>] >> endobj\n"), "pages and a node written in the /Kids");
        assertEquals(2, pages("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages << /Kids [3 0 R 3 0 R] >> >> endobj\n" + page),
                "a /Pages dictionary written in the catalog");
        assertEquals(4, pages(catalog + "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] >> endobj\n" + page
                + "4 0 obj << /Type /Page >> endobj\n5 0 obj << /Type /Pages /Kids [2 0 R 5 0 R] >> endobj\n"),
                "a node naming the root: the root walked twice, the node once");
        assertEquals(1, pages(catalog + "2 0 obj << /Type /Pages /Kids [3 0 R 6 0 R 7 0 R 8 0 R 9 0 R 0 /Page null] >> endobj\n"
                + page + "6 0 obj 0 endobj\n7 0 obj << /Type /Pages >> endobj\n8 0 obj [3 0 R] endobj\n"),
                "an integer, an empty node, an array, a missing object, a name and null are no pages");
        assertEquals(1, pages("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 3 0 R >> endobj\n" + page),
                "a page given as the tree");
    }

    /**
     * Round 526: namings past a leaf's first add at most {@link PdfPages#NAMED_AGAIN} pages, and a {@code /Kids}
     * array object that many nodes share is read once: 2,000 nodes naming one array of 1,000 references are
     * 2 million namings from a 70 KB file, counted quickly and capped.
     */
    @Test
    void boundsTheLeavesNamedAgain() {
        StringBuilder pdf = new StringBuilder("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Kids [");
        for (int i = 0; i < 2000; i++) {
            pdf.append(10 + i).append(" 0 R ");
        }
        pdf.append("] >> endobj\n");
        for (int i = 0; i < 2000; i++) {
            pdf.append(10 + i).append(" 0 obj << /Kids 5 0 R >> endobj\n");
        }
        pdf.append("5 0 obj [").append("3 0 R ".repeat(1000)).append("] endobj\n3 0 obj << /Type /Page >> endobj\n");
        long started = System.nanoTime();
        assertEquals(1 + PdfPages.NAMED_AGAIN, pages(pdf.toString()));
        org.junit.jupiter.api.Assertions.assertTrue(System.nanoTime() - started < 2_000_000_000L, "counted within 2 s");
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
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Filter /FlateDecode /DecodeParms << /Predictor 12 >>", "")),
                "a predictor is not undone: the stream counts as its /N");
    }

    /**
     * An object stream of a catalog, a tree holding three page dictionaries in its {@code /Kids}, and a font,
     * its header listing them by number and its data laid out in {@code order} (indices into that list), then
     * {@code trailer}; its data {@code scrambled} as a stand-in for ciphertext.
     */
    private static byte[] inlineTreeStream(int[] order, String trailer) {
        return inlineTreeStream(order, trailer, false);
    }

    private static byte[] inlineTreeStream(int[] order, String trailer, boolean scrambled) {
        String[] bodies = {"<< /Type /Catalog /Pages 2 0 R >> ",
                "<< /Type /Pages /Kids [<< /Type /Page >> << /Type /Page >> << /Type /Page >>] /Count 3 >> ",
                "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> "};
        int[] numbers = {1, 2, 5};
        int[] offsets = new int[3];
        StringBuilder data = new StringBuilder();
        for (int i : order) {
            offsets[i] = data.length();
            data.append(bodies[i]);
        }
        String header = numbers[0] + " " + offsets[0] + " " + numbers[1] + " " + offsets[1] + " " + numbers[2] + " "
                + offsets[2] + " ";
        byte[] deflated = deflate(header + data);
        for (int i = 0; scrambled && i < deflated.length; i++) {
            deflated[i] ^= (byte) (0x5A + i);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii("%PDF-1.7\n8 0 obj << /Type /ObjStm /Filter /FlateDecode /N 3 /First " + header.length()
                + " /Length " + deflated.length + " >> stream\n"));
        out.writeBytes(deflated);
        out.writeBytes(ascii("\nendstream endobj\n" + trailer));
        return out.toByteArray();
    }

    /**
     * Round 543: an object stream's objects are placed by their own offsets, in whatever order the header
     * lists them (each ends at the next larger offset), as PDFBox reads them; offsets that decrease once hid
     * the catalog and the tree, and with them the pages written in the tree.
     */
    @Test
    void placesTheObjectsOfAnObjectStreamByTheirOffsetsInAnyOrder() {
        String trailer = "trailer << /Root 1 0 R >>\n";
        assertEquals(3, PdfPages.pageObjects(inlineTreeStream(new int[] {0, 1, 2}, trailer)), "in header order");
        assertEquals(3, PdfPages.pageObjects(inlineTreeStream(new int[] {2, 1, 0}, trailer)), "offsets that decrease");
        assertEquals(3, PdfPages.pageObjects(inlineTreeStream(new int[] {1, 2, 0}, trailer)), "offsets in no order");
    }

    /**
     * Round 543: an encrypted file's object streams are ciphertext, which the count does not decrypt; each
     * counts as a stream the budget leaves unread, its {@code /N}, whatever it holds (a decision: an
     * encrypted file with many objects in object streams is over-counted).
     */
    @Test
    void countsTheObjectStreamsOfAnEncryptedFileAsUnread() {
        String encrypted = "trailer << /Root 1 0 R /Encrypt << /Filter /Standard /V 2 /R 3 >> >>\n";
        assertEquals(3, PdfPages.pageObjects(inlineTreeStream(new int[] {0, 1, 2}, encrypted, true)),
                "ciphertext: its /N");
        assertEquals(3, PdfPages.pageObjects(inlineTreeStream(new int[] {0, 1, 2}, encrypted, false)),
                "its /N, not what it would hold were it readable");
        assertEquals(2, PdfPages.pageObjects(ascii(TWO_PAGES + "trailer << /Root 1 0 R /Encrypt 9 0 R >>\n")),
                "dictionaries outside object streams are in the clear: read as in any file");

        // round 548: ciphertext is never decoded, so a filter chain this count could not decode changes nothing
        String secured = "trailer << /Root 1 0 R /Encrypt << /Filter /Standard /V 2 /R 3 >> >>\n";
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Filter /FlateDecode /DecodeParms << /Predictor 12 >>", secured)),
                "under a predictor: its /N");
        assertEquals(2, PdfPages.pageObjects(withObjectStream("/Filter /LZWDecode", secured)), "under LZW: its /N");
    }

    /**
     * An object stream 5 whose header lists {@code numbers} (each pair's offset increasing): object 2 the tree
     * holding two page dictionaries in its {@code /Kids}, any other number an empty tree; catalog 1 at the top level
     * and an uncompressed cross-reference stream placing object 2 in stream 5 at {@code index}.
     */
    private static byte[] repeatedInObjectStream(int[] numbers, int index) {
        String full = "<< /Type /Pages /Kids [<< /Type /Page >> << /Type /Page >>] /Count 2 >> ";
        String empty = "<< /Type /Pages /Kids [] /Count 0 >> ";
        StringBuilder header = new StringBuilder();
        StringBuilder data = new StringBuilder();
        boolean tree = false;
        for (int number : numbers) {
            header.append(number).append(' ').append(data.length()).append(' ');
            data.append(number == 2 && !tree ? full : empty);
            tree |= number == 2;
        }
        StringBuilder pdf = new StringBuilder("%PDF-1.7\n");
        int catalog = pdf.length();
        pdf.append("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        int stream = pdf.length();
        pdf.append("5 0 obj << /Type /ObjStm /N ").append(numbers.length).append(" /First ").append(header.length())
                .append(" /Length ").append(header.length() + data.length()).append(" >> stream\n")
                .append(header).append(data).append("\nendstream endobj\n");
        int xref = pdf.length();
        // rows of W [1 4 1] for objects 0-6
        long[][] rows = {{0, 0, 0}, {1, catalog, 0}, {2, 5, index}, {0, 0, 0}, {0, 0, 0}, {1, stream, 0}, {1, xref, 0}};
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        for (long[] row : rows) {
            table.write((int) row[0]);
            table.writeBytes(new byte[] {(byte) (row[1] >> 24), (byte) (row[1] >> 16), (byte) (row[1] >> 8), (byte) row[1]});
            table.write((int) row[2]);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii(pdf + "6 0 obj << /Type /XRef /Size 7 /W [1 4 1] /Root 1 0 R /Length " + table.size()
                + " >> stream\n"));
        out.writeBytes(table.toByteArray());
        out.writeBytes(ascii("\nendstream endobj\nstartxref\n" + xref + "\n%%EOF\n"));
        return out.toByteArray();
    }

    /**
     * Round 548: of pairs of an object stream's header that give one number, the object is the one at its
     * cross-reference entry's index (counted in offset order), as PDFBox reads it; an index is not checked when
     * the header names each object once.
     */
    @Test
    void readsANumberAnObjectStreamRepeatsAtItsEntrysIndex() {
        assertEquals(2, PdfPages.pageObjects(repeatedInObjectStream(new int[] {2, 2}, 0)), "the full tree's index");
        assertEquals(0, PdfPages.pageObjects(repeatedInObjectStream(new int[] {2, 2}, 1)), "the empty tree's index");
        assertEquals(2, PdfPages.pageObjects(repeatedInObjectStream(new int[] {9, 2, 2}, 1)), "after another object");
        assertEquals(2, PdfPages.pageObjects(repeatedInObjectStream(new int[] {9, 2}, 7)), "named once: any index");
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

    /** A PDF of {@code objects} (each {@code "N 0 obj ... endobj"}, in order) with a correct cross-reference table. */
    private static byte[] withXref(String... objects) {
        return withXref(java.util.Set.of(), objects);
    }

    /** {@link #withXref(String...)} with the objects numbered in {@code free} written as free rows. */
    private static byte[] withXref(java.util.Set<Integer> free, String... objects) {
        StringBuilder pdf = new StringBuilder("%PDF-1.7\n");
        java.util.TreeMap<Integer, Integer> offsets = new java.util.TreeMap<>();
        for (String o : objects) {
            offsets.put(Integer.parseInt(o.substring(0, o.indexOf(' '))), pdf.length());
            pdf.append(o).append('\n');
        }
        int xref = pdf.length();
        int size = offsets.lastKey() + 1;
        pdf.append("xref\n0 ").append(size).append("\n0000000000 65535 f \n");
        for (int i = 1; i < size; i++) {
            pdf.append(offsets.containsKey(i) && !free.contains(i) ? String.format("%010d 00000 n \n", offsets.get(i))
                    : "0000000000 00001 f \n");
        }
        pdf.append("trailer << /Size ").append(size).append(" /Root 1 0 R >>\nstartxref\n").append(xref).append("\n%%EOF\n");
        return ascii(pdf.toString());
    }

    @Test
    void readsTheObjectsTheCrossReferenceTablePlacesSoAStreamsDataIsNeverLexed() {
        String attached = new String(withXref("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
                "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] >> endobj", "3 0 obj << /Type /Page >> endobj",
                "4 0 obj << /Type /Page >> endobj", "5 0 obj << /Type /Page /T (endstream) >> endobj (((("), StandardCharsets.ISO_8859_1);
        String[] letter = {"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj", "2 0 obj << /Kids [3 0 R] >> endobj",
                "8 0 obj << /Length 9 0 R >> stream\n" + attached + "\nendstream\nendobj",
                "3 0 obj << /Type /Page >> endobj", "9 0 obj " + attached.length() + " endobj"};
        assertEquals(1, PdfPages.pageObjects(withXref(letter)), "an attached PDF, its /Length an object after the pages");
        // the same bytes without the table are read in order: the attachment's data, cut at its own
        // endstream, is lexed, and its unclosed string hides the letter's page
        byte[] inOrder = withXref(letter);
        int table = new String(inOrder, StandardCharsets.ISO_8859_1).lastIndexOf("xref");
        assertEquals(0, PdfPages.pageObjects(java.util.Arrays.copyOf(inOrder, table)), "read in order, without the table");
        // an offset one byte off its object: the table is not trusted, the file is read in order
        String text = new String(inOrder, StandardCharsets.ISO_8859_1);
        String page = String.format("%010d 00000 n", text.lastIndexOf("3 0 obj"));
        String off = String.format("%010d 00000 n", text.lastIndexOf("3 0 obj") + 1);
        assertEquals(0, pages(text.replace(page, off)), "a broken table: read in order");
    }

    @Test
    void followsPrevSoAnUpdatesEntriesReplaceTheOlderOnes() {
        byte[] original = withXref("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
                "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] >> endobj", "3 0 obj << /Type /Page >> endobj",
                "4 0 obj << /Type /Page >> endobj");
        String text = new String(original, StandardCharsets.ISO_8859_1);
        int prev = Integer.parseInt(text.substring(text.lastIndexOf("startxref") + 10).trim().split("\\s+")[0]);
        // the update deletes page 4 (a free entry) and rewrites the tree; the old objects stay in the file
        String update = "2 0 obj << /Type /Pages /Kids [3 0 R] >> endobj\n";
        int at = text.length();
        int xref = at + update.length();
        String pdf = text + update + "xref\n2 1\n" + String.format("%010d 00000 n \n", at) + "4 1\n0000000000 00001 f \n"
                + "trailer << /Size 5 /Root 1 0 R /Prev " + prev + " >>\nstartxref\n" + xref + "\n%%EOF\n";
        assertEquals(1, pages(pdf));
    }

    @Test
    void repairsAStartxrefOrPrevThatLandsOnNoSectionToTheNearestSectionAsPdfBoxDoes() {
        byte[] original = withXref("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
                "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] >> endobj", "3 0 obj << /Type /Page >> endobj",
                "4 0 obj << /Type /Page >> endobj");
        String text = new String(original, StandardCharsets.ISO_8859_1);
        int prev = Integer.parseInt(text.substring(text.lastIndexOf("startxref") + 10).trim().split("\\s+")[0]);
        String update = "2 0 obj << /Type /Pages /Kids [3 0 R] >> endobj\n";
        int at = text.length();
        int xref = at + update.length();
        java.util.function.BiFunction<Integer, Integer, String> file = (prevBy, startBy) -> text + update + "xref\n2 1\n"
                + String.format("%010d 00000 n \n", at) + "4 1\n0000000000 00001 f \n" + "trailer << /Size 5 /Root 1 0 R /Prev "
                + (prev + prevBy) + " >>\nstartxref\n" + (xref + startBy) + "\n%%EOF\n";
        // read in order, the deleted page 4 would count again: 2
        assertEquals(1, pages(file.apply(0, 0)), "offsets right");
        assertEquals(1, pages(file.apply(0, 3)), "startxref 3 bytes past its table");
        assertEquals(1, pages(file.apply(0, -2)), "startxref 2 bytes short");
        assertEquals(1, pages(file.apply(0, 100_000)), "startxref past the end of the file: the last table");
        assertEquals(1, pages(file.apply(4, 0)), "/Prev 4 bytes past the older table");
        assertEquals(1, pages(file.apply(-3, 0)), "/Prev 3 bytes short");
        // a /Prev naming the newest table is a loop, not an offset to repair: broken data, the file is read in order
        assertEquals(2, pages(file.apply(xref - prev, 0)), "/Prev naming the newest table");
    }

    @Test
    void findsTheObjectsThePageTreeNamesThatTheTableFreesOrLeavesOutByTheirHeaders() {
        String[] report = {"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
                "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] >> endobj", "3 0 obj << /MediaBox [0 0 1 1] >> endobj",
                "4 0 obj << /MediaBox [0 0 1 1] >> endobj"};
        assertEquals(2, PdfPages.pageObjects(withXref(report)), "every object in the table");
        // free rows for objects the tree still names: PDFBox keeps only in-use rows and finds them by N G obj
        assertEquals(2, PdfPages.pageObjects(withXref(java.util.Set.of(3, 4), report)), "the pages free");
        assertEquals(2, PdfPages.pageObjects(withXref(java.util.Set.of(1, 2, 3, 4), report)),
                "all free: the trailer's /Root names the catalog");
        // a table whose subsections leave the pages out
        String placed = new String(withXref(report), StandardCharsets.ISO_8859_1);
        String rows = placed.substring(placed.indexOf("xref\n"), placed.indexOf("trailer"));
        String[] row = rows.split("\n");
        String pdf = placed.replace(rows, "xref\n0 3\n" + row[2] + "\n" + row[3] + "\n" + row[4] + "\n");
        assertEquals(2, pages(pdf), "the pages left out");
        // a page named but in the file nowhere is absent
        assertEquals(2, PdfPages.pageObjects(withXref(java.util.Set.of(3, 4),
                report[0], report[1].replace("4 0 R]", "4 0 R 9 0 R]"), report[2], report[3])), "an object nowhere");
        // read in order, an indirect /Length resolves through the table: the stream's data (an endstream and
        // an unclosed string in it) is skipped by the length readers take, and hides no page (round 505)
        String data = "endstream ((((";
        assertEquals(2, PdfPages.pageObjects(withXref(java.util.Set.of(3, 4), report[0], report[1],
                "5 0 obj << /Length 6 0 R >> stream\n" + data + "\nendstream\nendobj", report[2], report[3],
                "6 0 obj " + data.length() + " endobj")), "the pages free after a stream whose /Length comes later");
    }

    @Test
    void readsACrossReferenceStreamWithItsPngPredictor() {
        String objects = "3 0 4 18 << /Type /Page >> << /Type /Page >>";
        byte[] packed = deflate(objects);
        StringBuilder head = new StringBuilder("%PDF-1.7\n");
        int[] at = new int[4];
        at[1] = head.length();
        head.append("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        at[2] = head.length();
        head.append("2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] >> endobj\n");
        at[3] = head.length();
        head.append("5 0 obj << /Type /ObjStm /N 2 /First 9 /Filter /FlateDecode /Length ").append(packed.length).append(" >> stream\n");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii(head.toString()));
        out.writeBytes(packed);
        out.writeBytes(ascii("\nendstream endobj\n"));
        int xrefAt = out.size();
        // rows of W [1 4 1] for objects 0-6, each with the Up predictor (filter byte 2) as writers save them
        long[][] rows = {{0, 0, 0}, {1, at[1], 0}, {1, at[2], 0}, {2, 5, 0}, {2, 5, 1}, {1, at[3], 0}, {1, xrefAt, 0}};
        byte[] raw = new byte[rows.length * 7];
        byte[] previous = new byte[6];
        for (int r = 0; r < rows.length; r++) {
            byte[] row = {(byte) rows[r][0], (byte) (rows[r][1] >> 24), (byte) (rows[r][1] >> 16), (byte) (rows[r][1] >> 8),
                    (byte) rows[r][1], (byte) rows[r][2]};
            raw[r * 7] = 2;
            for (int i = 0; i < 6; i++) {
                raw[r * 7 + 1 + i] = (byte) (row[i] - previous[i]);
            }
            previous = row;
        }
        Deflater deflater = new Deflater();
        deflater.setInput(raw);
        deflater.finish();
        byte[] table = new byte[256];
        int n = deflater.deflate(table);
        deflater.end();
        out.writeBytes(ascii("6 0 obj << /Type /XRef /Size 7 /W [1 4 1] /Root 1 0 R /Filter /FlateDecode"
                + " /DecodeParms << /Predictor 12 /Columns 6 >> /Length " + n + " >> stream\n"));
        out.write(table, 0, n);
        out.writeBytes(ascii("\nendstream endobj\nstartxref\n" + xrefAt + "\n%%EOF\n"));
        assertEquals(2, PdfPages.pageObjects(out.toByteArray()));
    }

    /**
     * Round 505: object streams each within their own bound (80 KB decoding to 8 MB of {@code 3 0 R} in one
     * {@code /Kids}) share one budget of decoded bytes and tokens: counting twelve takes tens of MB, not
     * gigabytes, and each stream the budget leaves unread counts as the objects it may hold (1 here).
     */
    @Test
    void boundsTheWorkOfAllObjectStreamsTogether() {
        StringBuilder body = new StringBuilder("5000 0 << /Type /Pages /Kids [");
        while (body.length() < 8_000_000) {
            body.append("3 0 R ");
        }
        byte[] packed = java.util.Arrays.copyOf(deflate(body.append("] >>").toString()), 80_016);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ascii(TWO_PAGES));
        for (int k = 0; k < 12; k++) {
            out.writeBytes(ascii((10 + k) + " 0 obj << /N 1 /First 7 /Filter /FlateDecode /Length " + packed.length + " >> stream\n"));
            out.writeBytes(packed);
            out.writeBytes(ascii("\nendstream endobj\n"));
        }
        byte[] pdf = out.toByteArray();
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        long pages = PdfPages.pageObjects(pdf);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertEquals(2 + 12, pages, "the two pages, and one object for each stream the budget cut short or left");
        org.junit.jupiter.api.Assertions.assertTrue(allocated < 128L << 20, "allocated " + (allocated >> 20) + " MB for "
                + pdf.length + " bytes");
    }

    /**
     * An object stream under a filter the count does not decode (a PNG predictor, LZW) counts as its /N, as an
     * encrypted one does: a clear 40-page report whose dictionaries sit in such a stream counted 1 page before.
     * The control, the same report under Flate alone, is read and counts its 40 pages exactly.
     */
    @Test
    void anObjectStreamTheCountCannotDecodeCountsAsItsObjects() {
        assertEquals(40, PdfPages.pageObjects(ObjectStreamPdfs.report(40, false)), "Flate: read, exact");
        assertTrue(PdfPages.pageObjects(ObjectStreamPdfs.predicted(40, false)) >= 40, "a PNG predictor");
        byte[] lzw = ObjectStreamPdfs.report(40, false);
        String text = new String(lzw, StandardCharsets.ISO_8859_1);
        // the object stream's filter renamed in place, padded to the same length, so every offset stays right
        int at = text.indexOf("/Filter /FlateDecode", text.indexOf("/Type /ObjStm"));
        byte[] renamed = ascii("/Filter /LZWDecode  ");
        System.arraycopy(renamed, 0, lzw, at, renamed.length);
        assertTrue(PdfPages.pageObjects(lzw) >= 40, "LZW");
    }
}
