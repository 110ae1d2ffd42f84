package io.tokenquota.servlet.breakit565;

import io.tokenquota.servlet.testing.ObjectStreamPdfs;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.PdfRound;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 565 of issue 11: the two rules round 564 added to PdfPages, attacked. A PDF sent as the body ({@code
 * Content-Type: application/pdf}) to a summariser that answers plain text without usage is charged its estimate: the
 * pages counted times 258 (at least one page), plus the answer.
 *
 * <p>Every figure was measured in a scratch program outside the repository ({@code /tmp/adv565}): PDFBox 3.0.8's
 * {@code Loader.loadPDF(bytes).getNumberOfPages()}, iterating {@code getPages()}, and {@code PdfPages.pageObjects} by
 * reflection. Line numbers are PdfPages.java's at round 564's last commit (32e75401).
 *
 * <ul>
 * <li>Finding 1 ({@code renamedRowsOverDecoysOfAnotherGenerationAreCharged}, rule 1, {@code placed}). A classic table
 * whose rows {@code k} (tree 2 and pages 3, 5, ... 81) are generation 1 and point at decoys {@code k 1 obj} (an empty
 * tree, fonts), while rows {@code k + 100} (generation 0) point at the real {@code k 0 obj}. PDFBox keys its table by
 * number and generation: {@code findObjectKey} renames row {@code k + 100} to {@code (k, 0)}, which no valid row holds
 * ({@code (k, 1)} is another key), so both stay and {@code 2 0 R}, {@code 3 0 R} ... name the real tree and pages:
 * 40/40. PdfPages keeps no generation ({@code table}, line 527, keys entries by number only; {@code header}, line 802,
 * accepts any generation), so row {@code k} counts as right (line 780) and the rename onto {@code k} is dropped (line
 * 794): the tree is the empty decoy and the pages are fonts, 0 pages. Charged 4,646 (the estimate of its bytes as
 * text) where at least 10,320 (40 x 258) is due.</li>
 * <li>Finding 2 ({@code integersPackedBeforeDictionariesAreCharged}, rule 2, {@code objectStream}). The report packed
 * in object stream 300 with honest offsets, an integer object packed just before the tree (84, the page count) and
 * before each page but the first (each page's {@code /Rotate}, object {@code 4+2i}, 0). PDFBox's
 * {@code parseDirObject} reads an integer and stops after it: 40/40. PdfPages' {@code value} reads a token past an
 * integer to see whether it starts a reference, gives it back with {@code Lexer.back} (line 1832), which does not
 * move {@code pos} back, and {@code objectStream} takes {@code one.lexer.pos} as where the object ended (line 1296):
 * the next object's {@code <<} is taken as read, so the tree and 39 pages are read from {@code /Type} on, as a name.
 * PdfPages counts 1 (page 3, after the tree's dictionary). Charged 1,000 (the floor) where at least 10,320 is due.</li>
 * </ul>
 * The charges in the assertion messages are Jetty's and Tomcat's alike.
 *
 * <p>Controls that pass: the generation-0 rows at their own headers beside generation-1 decoys no row names
 * (PDFBox 40/40, PdfPages 40); rows {@code k + 100} renamed onto {@code k} whose own rows are free (40/40, 40); the
 * integers packed after all the dictionaries (40/40, 40).
 *
 * <p>After the round: the value's end is taken where its tokens end, not past an integer's look-ahead
 * ({@code Lexer.consumed}), and {@code integersPackedBeforeDictionariesAreCharged} passes; the generation finding is
 * round 562's open case (entries by number, not generation), its test switched off with that reason.
 */
abstract class AbstractRound565 extends PdfRound {
    static final String OPEN_GENERATIONS = "issue 11, open: round 565 (as round 562), cross-reference entries are kept by"
            + " object number, not by number and generation, so a generation-1 decoy row keeps its number from the rename"
            + " that would give it the real object (docs/decisions.md)";
    static final String CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";
    static final String TREE = "<< /Type /Pages /Kids [" + PdfFiles.kids(PAGES) + "] /Count " + PAGES + " >>";
    static final String EMPTY_TREE = "<< /Type /Pages /Kids [] /Count 0 >>";
    static final String FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
    /** How far a renamed row's number lies from the object it names. */
    static final int AWAY = 100;

    AbstractRound565() {
        super(565, PDFBOX_40_PAGES);
    }

    // ---- files ----

    /** How {@link #generations} names tree 2 and the pages 3, 5, ... 81. */
    enum Rows {
        /** Each by its own row (generation 0) at its own header; the generation-1 decoys no row names. */
        OWN,
        /** Each by row {@code k + 100} (generation 0) at its header {@code k 0 obj}, row {@code k} free. */
        RENAMED,
        /** Each by row {@code k + 100} (generation 0) at {@code k 0 obj}; row {@code k}, generation 1, at the decoy {@code k 1 obj}. */
        RENAMED_OVER_DECOYS
    }

    /**
     * A classic file: catalog 1, tree 2 and pages 3, 5, ... 81 at generation 0, then decoys at generation 1 under the
     * same numbers (an empty tree {@code 2 1 obj}, fonts {@code k 1 obj}); one table of rows 0 to 181 as {@code rows}
     * says, trailer {@code /Root 1 0 R}.
     */
    static byte[] generations(Rows rows) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii("%PDF-1.5\n"));
        TreeMap<Integer, Integer> real = new TreeMap<>();
        TreeMap<Integer, Integer> decoy = new TreeMap<>();
        real.put(1, out.size());
        out.writeBytes(PdfFiles.ascii("1 0 obj\n" + CATALOG + "\nendobj\n"));
        real.put(2, out.size());
        out.writeBytes(PdfFiles.ascii("2 0 obj\n" + TREE + "\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            real.put(3 + 2 * i, out.size());
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n"));
        }
        decoy.put(2, out.size());
        out.writeBytes(PdfFiles.ascii("2 1 obj\n" + EMPTY_TREE + "\nendobj\n"));
        for (int i = 0; i < PAGES; i++) {
            decoy.put(3 + 2 * i, out.size());
            out.writeBytes(PdfFiles.ascii((3 + 2 * i) + " 1 obj\n" + FONT + "\nendobj\n"));
        }
        int size = AWAY + 2 * PAGES + 2;
        String[] row = new String[size];
        for (int k = 0; k < size; k++) {
            row[k] = k == 0 ? "0000000000 65535 f \n" : "0000000000 00000 f \n";
        }
        row[1] = String.format("%010d 00000 n \n", real.get(1));
        for (int k : decoy.keySet()) {
            if (rows == Rows.OWN) {
                row[k] = String.format("%010d 00000 n \n", real.get(k));
            } else {
                row[k + AWAY] = String.format("%010d 00000 n \n", real.get(k));
                if (rows == Rows.RENAMED_OVER_DECOYS) {
                    row[k] = String.format("%010d 00001 n \n", decoy.get(k));
                }
            }
        }
        int xref = out.size();
        out.writeBytes(PdfFiles.ascii("xref\n0 " + size + "\n" + String.join("", row) + "trailer\n<< /Size " + size
                + " /Root 1 0 R >>\nstartxref\n" + xref + "\n%%EOF\n"));
        return out.toByteArray();
    }

    /**
     * The report packed in object stream 300 in the order {@code objects} lists them (number, text), each on a line,
     * its header's offsets right; cross-reference stream 301 ({@link ObjectStreamPdfs#crossReferenceStream}).
     */
    static byte[] packedInOrder(List<Map.Entry<Integer, String>> objects) {
        StringBuilder header = new StringBuilder();
        StringBuilder body = new StringBuilder();
        TreeMap<Integer, Integer> index = new TreeMap<>();
        for (Map.Entry<Integer, String> o : objects) {
            header.append(o.getKey()).append(' ').append(body.length()).append(' ');
            body.append(o.getValue()).append('\n');
            index.put(o.getKey(), index.size());
        }
        header.append('\n');
        byte[] data = PdfFiles.deflate(PdfFiles.ascii(header.toString() + body));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii(PdfFiles.HEADER));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        offsets.put(300, out.size());
        out.writeBytes(PdfFiles.ascii("300 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + header.length()
                + " /Length " + data.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(data);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        ObjectStreamPdfs.crossReferenceStream(out, offsets, index, " /Root 1 0 R");
        return out.toByteArray();
    }

    /**
     * The report's objects with integers: integer 84 (the page count, 40) and each page's {@code /Rotate} (object
     * {@code 4+2i}, 0); {@code before}: each integer packed just before the dictionary after it (84 before tree 2, {@code
     * 4+2i} before page {@code 5+2i}), else all integers packed after the dictionaries.
     */
    static byte[] integers(boolean before) {
        List<Map.Entry<Integer, String>> dicts = new ArrayList<>();
        List<Map.Entry<Integer, String>> ints = new ArrayList<>();
        List<Map.Entry<Integer, String>> order = new ArrayList<>();
        order.add(Map.entry(1, CATALOG));
        if (before) {
            order.add(Map.entry(84, Integer.toString(PAGES)));
        } else {
            ints.add(Map.entry(84, Integer.toString(PAGES)));
        }
        order.add(Map.entry(2, TREE));
        for (int i = 0; i < PAGES; i++) {
            order.add(Map.entry(3 + 2 * i, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate " + (4 + 2 * i) + " 0 R >>"));
            (before ? order : ints).add(Map.entry(4 + 2 * i, "0"));
        }
        order.addAll(ints);
        return packedInOrder(order);
    }
    // ---- controls (pass today) ----

    /** Control: tree and pages by their own generation-0 rows, generation-1 decoys unnamed: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_ownRowsBesideUnnamedDecoysAreCharged() {
        assertCharged("own-rows", "its own rows beside generation-1 decoys no row names", generations(Rows.OWN));
    }

    /** Control: rows {@code k + 100} at {@code k 0 obj}, rows {@code k} free (each renamed): PDFBox 40/40, PdfPages 40. */
    @Test
    void control_renamedRowsOntoFreeNumbersAreCharged() {
        assertCharged("renamed", "rows k + 100 at the headers k 0 obj, rows k free", generations(Rows.RENAMED));
    }

    /** Control: the report packed with its integers after all its dictionaries: PDFBox 40/40, PdfPages 40. */
    @Test
    void control_integersPackedLastAreCharged() {
        assertCharged("ints-last", "packed with integer objects after its dictionaries", integers(false));
    }

    // ---- findings ----

    /**
     * Rows {@code k} (tree 2, pages 3, ... 81) at generation 1 on decoys {@code k 1 obj}, rows {@code k + 100} at the
     * real {@code k 0 obj}: PDFBox 40/40 (renames to {@code (k, 0)}, a key no valid row holds), PdfPages 0 (no
     * generation kept: row {@code k} is right, the rename dropped, line 794). Charged 4,646.
     */
    @Test
    @Disabled(OPEN_GENERATIONS)
    void renamedRowsOverDecoysOfAnotherGenerationAreCharged() {
        assertCharged("gen-decoys", "rows k + 100 renamed onto k over generation-1 decoys at rows k",
                generations(Rows.RENAMED_OVER_DECOYS));
    }

    /**
     * An integer object packed just before the tree and before pages 5, ... 81, offsets honest: PDFBox 40/40,
     * PdfPages 1 (the integer's look-ahead token, the next object's {@code <<}, counted as read: line 1296). Charged 1,000.
     */
    @Test
    void integersPackedBeforeDictionariesAreCharged() {
        assertCharged("ints-before", "packed with an integer object before the tree and before each page", integers(true));
    }
}
