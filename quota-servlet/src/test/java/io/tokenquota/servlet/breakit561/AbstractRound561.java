package io.tokenquota.servlet.breakit561;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.Map;
import java.util.TreeMap;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 561 of issue 11: the order in which object streams are decoded ({@code PdfPages.treeFirst} /
 * {@code readObjectStreams}) and the shared decoding budget (8 MB decoded, a million tokens) around it. A PDF sent as
 * the body ({@code Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged
 * its estimate: the pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Every file was run through PDFBox 3.0.8 in a scratch program outside the repository ({@code Loader.loadPDF(bytes)}:
 * {@code getNumberOfPages()} and iterating {@code getPages()}) and through {@code PdfPages.pageObjects} by reflection;
 * each test's comment gives both. The trees hold their pages in place in {@code /Kids} (or name one page object
 * forty times), so a stream the count leaves unread, counted as its {@code /N} objects, is worth 2 or 3 pages while
 * PDFBox reads 40. Every finding is charged the 1,000 fallback (2 or 3 pages counted, 516 or 774, below it) in Jetty
 * and Tomcat, where at least 10,320 (40 x 258) is due:
 * <ol>
 * <li>read in order (a stray cross-reference row that {@code placed} refuses, which PDFBox repairs), {@code treeFirst}
 * does nothing and padding ahead of the tree spends the budget, round 548's attack again: PDFBox 40, PdfPages 3;</li>
 * <li>a tree node whose row is free (PDFBox finds it by its search for {@code N G obj}): {@code treeFirst} reads
 * only {@code objects}, not {@code find}, stops there, and padding in file order spends the budget: PDFBox 40,
 * PdfPages 2;</li>
 * <li>a decoy kid, a page in an 8.4 MB stream, named before the real node: the breadth-first walk decodes it
 * first and stops with the budget spent: PDFBox 41, PdfPages 2;</li>
 * <li>padding inside the tree's own stream (8.4 MB of spaces, 8.6 KB of Flate): PDFBox 40, PdfPages 2;</li>
 * <li>the same with one page object named forty times instead of pages in place: PDFBox 40, PdfPages 3;</li>
 * <li>the million-token budget spent inside the tree's stream by a catalog of 1.1 million integers (a 2.6 KB file):
 * PDFBox 40, PdfPages 2;</li>
 * <li>{@code /Encrypt null} (or {@code 0}, or a reference to no object) in a clear file: PDFBox not encrypted, 40;
 * PdfPages takes it as encrypted, skips the tree-first walk and counts the stream's /N without decoding: 2.</li>
 * </ol>
 * Findings 3 to 6 are the cost of the budget rule itself ("a stream left unread counts as its /N objects", while a
 * node holds any number of pages): a file that asks for more work than an honest one pays less, not more.
 *
 * <p>After the round: a tree node the data frees is looked up as the count looks it up, so the walk goes on
 * ({@code aTreeNodeWhoseRowIsFreeIsCharged} passes), and {@code /Encrypt} that is no dictionary is a clear file
 * ({@code anEncryptNullIsCharged} passes). The other five findings spend the decode budget or a stream's own bound
 * (before the tree in file order, a decoy kid, padding in the tree's own stream, a million tokens in the catalog):
 * the stream is then counted as its /N objects, while a node in it may hold or name any number of pages. That is
 * round 548's open case, reached by new paths; their tests are switched off with that reason.
 */
abstract class AbstractRound561 extends PdfRound {
    static final String OPEN_BUDGET = "issue 11, open: round 561, a stream left unread by the decode budget or its own"
            + " bound counts as its /N objects, while a tree node in it may hold or name any number of pages"
            + " (docs/decisions.md, round 548's open case)";
    /** Spaces after an object stream's last object: decoded, the stream is past the 8 MB bound (one stream's and the budget). */
    static final int OVER_BUDGET = 8_400_000;
    static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";
    static final String PAGE = "<< /Type /Page /MediaBox [0 0 612 792] >>";

    AbstractRound561() {
        super(561);
    }

    @Override
    protected void assertAtLeast(String s, int pages, String what, long used) {
        assertAtLeast(s, pages, "getNumberOfPages() " + pages + ", iterator " + pages, what, used);
    }

    // ---- files ----

    /** A page tree node holding {@code pages} page dictionaries in place in its {@code /Kids}. */
    static String inlineNode(int pages, String extra) {
        return "<< /Type /Pages" + extra + " /Kids [" + (PAGE + " ").repeat(pages) + "] /Count " + pages + " >>";
    }

    /** A page tree node naming page object {@code page} {@code times} times (each naming is a page, as PDFBox iterates it). */
    static String repeatedNode(int page, int times) {
        return "<< /Type /Pages /Kids [" + (page + " 0 R ").repeat(times) + "] /Count " + times + " >>";
    }

    /**
     * A PDF 1.5 file written object by object, ended by cross-reference stream 301 ({@code /W [1 4 2]}) placing each
     * top-level object at its offset and each packed object at its index in its object stream; rows may be
     * overridden (a free row for a placed object).
     */
    static final class Packer {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final TreeMap<Integer, long[]> rows = new TreeMap<>();

        Packer() {
            out.writeBytes(PdfFiles.ascii("%PDF-1.5\n%\u00e2\u00e3\u00cf\u00d3\n"));
        }

        Packer obj(int n, String body) {
            rows.put(n, new long[] {1, out.size(), 0});
            out.writeBytes(PdfFiles.ascii(n + " 0 obj\n" + body + "\nendobj\n"));
            return this;
        }

        /** Object stream {@code n} holding {@code objects} (in number order), its content ending in {@code spaces} spaces, Flate. */
        Packer objStm(int n, Map<Integer, String> objects, int spaces) {
            ObjectStreamPdfs.Packed pack = ObjectStreamPdfs.Packed.of(new TreeMap<>(objects));
            byte[] plain = pack.plain();
            byte[] content = new byte[plain.length + spaces];
            System.arraycopy(plain, 0, content, 0, plain.length);
            java.util.Arrays.fill(content, plain.length, content.length, (byte) ' ');
            byte[] data = PdfFiles.deflate(content);
            rows.put(n, new long[] {1, out.size(), 0});
            pack.index().forEach((k, i) -> rows.put(k, new long[] {2, n, i}));
            out.writeBytes(PdfFiles.ascii(n + " 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + pack.head().length()
                    + " /Length " + data.length + " /Filter /FlateDecode >>\nstream\n"));
            out.writeBytes(data);
            out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
            return this;
        }

        /** Object {@code n}'s row made free (type 0), whatever the file holds. */
        Packer free(int n) {
            rows.put(n, new long[] {0, 0, 0});
            return this;
        }

        /** Object {@code n}'s row set to {@code {type, second, third}}, whatever the file holds. */
        Packer row(int n, long type, long second, long third) {
            rows.put(n, new long[] {type, second, third});
            return this;
        }

        /** Ends the file: cross-reference stream 301 with {@code entries} after {@code /Root 1 0 R}, then {@code startxref}. */
        byte[] finish(String entries) {
            int size = 302;
            int xrefAt = out.size();
            rows.put(301, new long[] {1, xrefAt, 0});
            ByteArrayOutputStream r = new ByteArrayOutputStream();
            for (int k = 0; k < size; k++) {
                long[] row = rows.getOrDefault(k, new long[] {0, 0, k == 0 ? 65535 : 0});
                r.write((int) row[0]);
                for (int s = 24; s >= 0; s -= 8) {
                    r.write((int) (row[1] >> s) & 0xFF);
                }
                r.write((int) (row[2] >> 8) & 0xFF);
                r.write((int) row[2] & 0xFF);
            }
            byte[] xref = PdfFiles.deflate(r.toByteArray());
            out.writeBytes(PdfFiles.ascii("301 0 obj\n<< /Type /XRef /Size " + size + " /W [1 4 2] /Root 1 0 R" + entries
                    + " /Length " + xref.length + " /Filter /FlateDecode >>\nstream\n"));
            out.writeBytes(xref);
            out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + xrefAt + "\n%%EOF\n"));
            return out.toByteArray();
        }
    }

    /** Catalog 1 and tree 2 (its 40 pages in place) in object stream 300, {@code spaces} spaces after them. */
    static byte[] packedInline(int spaces, String entries) {
        return new Packer().objStm(300, Map.of(1, CATALOG, 2, inlineNode(PAGES, "")), spaces).finish(entries);
    }

    /** Padding stream 250 (object 230, {@code null}, then {@value #OVER_BUDGET} spaces) written before {@link #packedInline}'s stream 300. */
    static byte[] paddingThenInline() {
        return new Packer().objStm(250, Map.of(230, "null"), OVER_BUDGET)
                .objStm(300, Map.of(1, CATALOG, 2, inlineNode(PAGES, "")), 0).finish("");
    }

    /**
     * {@link #paddingThenInline} whose cross-reference stream also gives object 5, which nothing names, an offset
     * inside the header's comment line (byte 10), where no {@code 5 0 obj} is.
     */
    static byte[] paddingThenInlineWithAStrayRow() {
        return new Packer().objStm(250, Map.of(230, "null"), OVER_BUDGET)
                .objStm(300, Map.of(1, CATALOG, 2, inlineNode(PAGES, "")), 0).row(5, 1, 10, 0).finish("");
    }

    /** {@code pdf} without its last {@code startxref} and what follows it. */
    static byte[] withoutStartxref(byte[] pdf) {
        String t = text(pdf);
        return bytes(t.substring(0, t.lastIndexOf("startxref")));
    }

    /**
     * Catalog 1 and tree 2 written as top-level objects, tree 2's row free; node 3 (its 40 pages in place) in object
     * stream 300, written after padding stream 250.
     */
    static byte[] freedNodeOverPaddedStream() {
        return new Packer().obj(1, CATALOG).obj(2, "<< /Type /Pages /Kids [3 0 R] /Count " + PAGES + " >>")
                .objStm(250, Map.of(230, "null"), OVER_BUDGET)
                .objStm(300, Map.of(3, inlineNode(PAGES, " /Parent 2 0 R")), 0)
                .free(2).finish("");
    }

    /**
     * Catalog 1, tree 2 (top-level) whose {@code /Kids} are page 10, alone in object stream 250 before
     * {@value #OVER_BUDGET} spaces, then node 3 holding 40 pages in place, in object stream 300.
     */
    static byte[] decoyKidBeforeTheTree() {
        return new Packer().obj(1, CATALOG).obj(2, "<< /Type /Pages /Kids [10 0 R 3 0 R] /Count " + (PAGES + 1) + " >>")
                .objStm(300, Map.of(3, inlineNode(PAGES, " /Parent 2 0 R")), 0)
                .objStm(250, Map.of(10, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"), OVER_BUDGET)
                .finish("");
    }

    /** Catalog 1 whose {@code /Junk} array holds {@code tokens} integers before its {@code /Pages}, tree 2 (40 pages in place) after it, in stream 300. */
    static byte[] tokenHeavyCatalog(int tokens) {
        String catalog = "<< /Type /Catalog /Junk [" + "0 ".repeat(tokens) + "] /Pages 2 0 R >>";
        return new Packer().objStm(300, Map.of(1, catalog, 2, inlineNode(PAGES, "")), 0).finish("");
    }

    /** Catalog 1, tree 2 naming page 3 forty times, page 3, in stream 300, then {@code spaces} spaces. */
    static byte[] repeatedPage(int spaces) {
        return new Packer().objStm(300, Map.of(1, CATALOG, 2, repeatedNode(3, PAGES), 3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"),
                spaces).finish("");
    }

    // ---- controls (pass today) ----

    /** Control: catalog 1 and tree 2 (40 pages in place) in object stream 300: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_anInlineTreeInAnObjectStreamIsCharged() {
        assertCharged("inline", "whose tree, in an object stream, holds its 40 pages in place", packedInline(0, ""));
    }

    /** Control: the same after padding stream 250 (8.4 MB of spaces): tree-first reads 300 first; PDFBox 40/40, PdfPages 41. */
    @Test
    void control_paddingBeforeTheTreeStreamIsCharged() {
        assertCharged("padding-first", "whose tree stream follows an 8.4 MB padding stream", paddingThenInline());
    }

    /** Control: tree 2 naming page 3 forty times, all in stream 300: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aPageNamedFortyTimesIsCharged() {
        assertCharged("repeated", "whose tree names one page object 40 times", repeatedPage(0));
    }

    /** Control: the catalog holding 100,000 integers before {@code /Pages}: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aCatalogOfAHundredThousandTokensIsCharged() {
        assertCharged("tokens-100k", "whose catalog holds 100,000 integers", tokenHeavyCatalog(100_000));
    }

    /** Control: {@link #packedInline} with a stray row for object 5 (no padding): read in order, PDFBox 40/40, PdfPages 40. */
    @Test
    void control_aStrayRowWithoutPaddingIsCharged() {
        assertCharged("stray-row", "whose cross-reference stream has a stray row",
                new Packer().objStm(300, Map.of(1, CATALOG, 2, inlineNode(PAGES, "")), 0).row(5, 1, 10, 0).finish(""));
    }

    // ---- findings ----

    /**
     * Finding 1, read in order: {@link #paddingThenInline} (the control above, 41 today) whose cross-reference stream
     * also places object 5, which nothing names, at byte 10 (no {@code 5 0 obj} there). PDFBox 3.0.8 keeps the data
     * ({@code validateXrefOffsets} fails, the brute-force offsets are merged in, the type-2 rows stay):
     * getNumberOfPages() 40, iterator 40. PdfPages' {@code placed} refuses the data, the file is read in order,
     * {@code treeFirst} returns at once ({@code xref == null}), and {@code readObjectStreams} decodes in file order:
     * padding 250 spends the budget, tree stream 300 counts its /N: 3 pages (round 548's attack again).
     */
    @Test
    @Disabled(OPEN_BUDGET)
    void paddingBeforeTheTreeOfAFileReadInOrderIsCharged() {
        assertCharged("in-order", "read in order (a stray row), its tree stream after 8.4 MB of padding", paddingThenInlineWithAStrayRow());
    }

    /**
     * Finding 2: catalog 1 and tree 2 top-level, tree 2's row free; 2's {@code /Kids [3 0 R]}, node 3 (40 pages in
     * place) in stream 300 after padding stream 250. PDFBox finds 2 by its brute-force search and reads 3 through
     * its type-2 row: getNumberOfPages() 40, iterator 40. {@code treeFirst} looks 2 up in {@code objects} only
     * ({@code objects.get(number) == null}: continue), never reaches 3, and file order spends the budget on 250:
     * PdfPages 2.
     */
    @Test
    void aTreeNodeWhoseRowIsFreeIsCharged() {
        assertCharged("freed-node", "whose freed tree node names a node in a stream after padding", freedNodeOverPaddedStream());
    }

    /**
     * Finding 3: tree 2's {@code /Kids [10 0 R 3 0 R]}: page 10 alone in stream 250 with 8.4 MB of spaces after it,
     * node 3 (40 pages in place) in stream 300, written first. PDFBox: getNumberOfPages() 41, iterator 41.
     * {@code treeFirst} walks breadth first and decodes 250 for kid 10 (the budget goes to -1), then stops
     * ({@code budget.decoded > 0}); 300 is left unread: PdfPages 2 (each stream its /N), charged 1,000 for at least 10,578.
     */
    @Test
    @Disabled(OPEN_BUDGET)
    void aDecoyKidAheadOfTheTreeIsCharged() {
        String s = subject("decoy-kid");
        assertAtLeast(s, PAGES + 1, "getNumberOfPages() 41, iterator 41", "whose first kid lives in an 8.4 MB stream",
                sendPdf(s, decoyKidBeforeTheTree()));
    }

    /**
     * Finding 4: {@link #packedInline} with 8.4 MB of spaces after the tree inside stream 300 itself (8.6 KB of
     * Flate). PDFBox: getNumberOfPages() 40, iterator 40. PdfPages: the stream is past its own 8 MB bound, counted as
     * its /N: 2.
     */
    @Test
    @Disabled(OPEN_BUDGET)
    void paddingInsideTheTreeStreamIsCharged() {
        assertCharged("padded-tree-stream", "whose tree stream ends in 8.4 MB of spaces", packedInline(OVER_BUDGET, ""));
    }

    /**
     * Finding 5, not only pages in place: catalog 1, tree 2 naming page 3 forty times, page 3, all in stream 300,
     * 8.4 MB of spaces after them. PDFBox: getNumberOfPages() 40, iterator 40 (each naming is a page). PdfPages:
     * /N 3.
     */
    @Test
    @Disabled(OPEN_BUDGET)
    void aPageNamedFortyTimesInAPaddedStreamIsCharged() {
        assertCharged("padded-repeated", "whose tree names one page 40 times in a stream ending in 8.4 MB of spaces", repeatedPage(OVER_BUDGET));
    }

    /**
     * Finding 6, the token budget: catalog 1 holding {@code /Junk [0 0 ... ]} of 1,100,000 integers (2.2 MB decoded,
     * 2.6 KB file) before tree 2 (40 pages in place), both in stream 300. PDFBox: getNumberOfPages() 40, iterator 40.
     * PdfPages: the million-token budget runs out in the catalog, {@code objectStream} counts the rest as
     * {@code byOffset.size() - k + 1}: 2.
     */
    @Test
    @Disabled(OPEN_BUDGET)
    void aCatalogOfOnePointOneMillionTokensIsCharged() {
        assertCharged("tokens-1.1m", "whose catalog holds 1,100,000 integers before /Pages", tokenHeavyCatalog(1_100_000));
    }

    /**
     * Finding 7: {@link #packedInline} whose cross-reference stream says {@code /Encrypt null}. PDFBox
     * ({@code COSParser.prepareDecryption}: {@code getEncryptionDictionary()} is null): isEncrypted() false,
     * getNumberOfPages() 40, iterator 40; also with {@code /Encrypt 0} or {@code /Encrypt 999 0 R} (no such
     * object). PdfPages' {@code encrypted |= trailer.get("Encrypt") != null} takes the clear file as encrypted: no
     * tree-first walk, stream 300 counted as its /N without decoding: 2.
     */
    @Test
    void anEncryptNullIsCharged() {
        assertCharged("encrypt-null", "whose cross-reference stream says /Encrypt null (not encrypted)", packedInline(0, " /Encrypt null"));
    }
}
