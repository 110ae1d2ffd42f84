package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.TreeMap;

/**
 * PDFs whose objects sit in an object stream (rounds 543 and 548): the usual 40-page report (catalog 1, page tree 2, page {@code 3+2i} over content
 * {@code 4+2i}, font 200) written as PDF 1.5 writers save it, its dictionaries packed in object stream 300 and
 * the objects placed by cross-reference stream 302 (ISO 32000-1 sections 7.5.7 and 7.5.8), optionally protected
 * by the standard security handler with an owner password and an empty user password (ISO 32000-1 section 7.6.3,
 * revision 3, 128-bit RC4: Acrobat 5's "128-bit" setting), the kind of "secured" file a reader opens without a
 * prompt while it refuses printing, copying and changes.
 *
 * <p>Encryption covers every string and stream of the file but the cross-reference stream (ISO 32000-1
 * section 7.6.1), so the object stream's data, the page dictionaries within it, is RC4 under object 300's key;
 * a reader decrypts it with the key the empty user password gives (Algorithm 2) before it inflates it.
 */
public final class ObjectStreamPdfs {
    /** The object stream holding the catalog, the page tree, the pages and the font. */
    static final int OBJECT_STREAM = 300;
    static final int ENCRYPT = 301;
    static final int XREF = 302;
    /** ISO 32000-1 section 7.6.3.3, Algorithm 2 step a: what a password is padded with. */
    private static final byte[] PADDING = HexFormat.of().parseHex(
            "28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a");
    /** Printing, copying and changes refused to a reader without the owner password (table 22). */
    private static final int PERMISSIONS = -3904;
    /** The file identifier (the trailer's /ID), fixed so the file is the same on every run. */
    private static final byte[] ID = HexFormat.of().parseHex("5d1f0e3b9c2a47d8b6e1f4a30c7d92e5");

    private ObjectStreamPdfs() {
    }

    /** The 40-page report, its dictionaries in an object stream; encrypted with an owner password when {@code encrypted}. */
    public static byte[] report(int pages, boolean encrypted) {
        return write(pages, encrypted, false, false, false);
    }

    /**
     * The report whose page tree holds its 40 page dictionaries in place ({@code /Kids [<< /Type /Page ... >> ...]}),
     * in the object stream with the catalog and the font ({@code /N 3}), encrypted when {@code encrypted}.
     */
    public static byte[] inlineTree(int pages, boolean encrypted) {
        return write(pages, encrypted, true, false, false);
    }

    /**
     * The clear report whose tree holds its pages in place, its object stream's objects written in the reverse
     * of the header's order (font, tree, catalog), so the header's offsets decrease.
     */
    public static byte[] descendingInlineTree(int pages) {
        return write(pages, false, true, true, false);
    }

    /**
     * The report, its page dictionaries in the object stream as PDF 1.5 writers save it, the stream's Flate data
     * written under a PNG predictor ({@code /DecodeParms << /Predictor 12 /Columns 16 >>}, ISO 32000-1 section
     * 7.4.4.4: each 16-byte row after a filter-type byte, here 0, "None"), encrypted when {@code encrypted}.
     */
    public static byte[] predicted(int pages, boolean encrypted) {
        return write(pages, encrypted, false, false, true);
    }

    /**
     * The clear report whose tree holds its pages in place, after {@code padding} object streams (numbers
     * {@code 250+j}, each holding one {@code null}, object {@code 230+j}) of 7,400 incompressible bytes and 800,000
     * zero bytes each (about 8.3 KB of Flate, within 100 times its size, as PdfPages bounds one stream); written
     * before the report's object stream, they spend PdfPages' shared 8 MB decoding budget first.
     */
    public static byte[] paddedInlineTree(int pages, int padding) {
        return write(pages, false, true, false, false, padding);
    }

    /**
     * A clear file whose object stream 300 lists object 2 twice (ISO 32000-1 section 7.5.7 pairs: catalog 1, tree 2,
     * tree 2 again or object 9, font 200): the page tree holding its {@code pages} page dictionaries in place at the
     * smaller offset, an empty tree ({@code /Kids [] /Count 0}) at the larger one. The header lists the full tree's
     * pair first when {@code fullPairFirst}, else the empty one's (the data is laid out catalog, full tree, empty tree,
     * font either way); with {@code repeated} false the empty tree is object 9, which nothing names.
     * Cross-reference stream 302 places object 2 at the index of its first pair.
     */
    public static byte[] repeatedTree(int pages, boolean repeated, boolean fullPairFirst) {
        String page = "<< /Type /Page /MediaBox [0 0 612 792] >>";
        String full = "<< /Type /Pages /Kids [" + (page + " ").repeat(pages) + "] /Count " + pages + " >>";
        String[] data = {"<< /Type /Catalog /Pages 2 0 R >>", full, "<< /Type /Pages /Kids [] /Count 0 >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
        int[] at = new int[data.length];
        StringBuilder body = new StringBuilder();
        for (int i = 0; i < data.length; i++) {
            at[i] = body.length();
            body.append(data[i]).append('\n');
        }
        int other = repeated ? 2 : 9;
        String pairs = fullPairFirst ? "2 " + at[1] + " " + other + " " + at[2] : other + " " + at[2] + " 2 " + at[1];
        String head = "1 " + at[0] + " " + pairs + " 200 " + at[3] + "\n";
        byte[] stream = PdfFiles.deflate(PdfFiles.ascii(head + body));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii(PdfFiles.HEADER));
        int streamAt = out.size();
        out.writeBytes(PdfFiles.ascii(OBJECT_STREAM + " 0 obj\n<< /Type /ObjStm /N 4 /First " + head.length() + " /Length "
                + stream.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(stream);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        TreeMap<Integer, Integer> index = new TreeMap<>();
        index.put(1, 0);
        index.put(2, fullPairFirst || !repeated ? 1 : 2);
        index.put(200, 3);
        if (!repeated) {
            index.put(9, fullPairFirst ? 2 : 1);
        }
        int xrefAt = out.size();
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int n = 0; n <= XREF; n++) {
            if (n == OBJECT_STREAM) {
                row(rows, 1, streamAt, 0);
            } else if (n == XREF) {
                row(rows, 1, xrefAt, 0);
            } else if (index.containsKey(n)) {
                row(rows, 2, OBJECT_STREAM, index.get(n));
            } else {
                row(rows, 0, 0, n == 0 ? 65535 : 0);
            }
        }
        byte[] xref = PdfFiles.deflate(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii(XREF + " 0 obj\n<< /Type /XRef /Size " + (XREF + 1) + " /W [1 4 2] /Root 1 0 R /Length "
                + xref.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + xrefAt + "\n%%EOF\n"));
        return out.toByteArray();
    }

    private static byte[] write(int pages, boolean encrypted, boolean inline, boolean descending, boolean predictor) {
        return write(pages, encrypted, inline, descending, predictor, 0);
    }

    /**
     * The clear report of {@link #predicted}, its object stream's Flate data under a PNG predictor whose parameters are
     * written as {@code parms} (the stream dictionary's text after {@code /Filter /FlateDecode}, e.g.
     * {@code " /DP << /Predictor 12 /Columns 16 >>"}), each 16-byte row after the filter-type byte {@code rowType}
     * (ISO 32000-1 section 7.4.4.4 and PNG: 0 None, 2 Up, each byte less the byte above it).
     */
    public static byte[] predicted(int pages, String parms, int rowType) {
        return write(pages, false, false, false, parms, rowType, 0, 0);
    }

    /**
     * The clear report of {@link #report}, its object stream's decoded data ending in {@code spaces} bytes of
     * white space after the last object (Flate writes them in a few bytes a kilobyte).
     */
    public static byte[] trailingSpace(int pages, int spaces) {
        return write(pages, false, false, false, null, 0, 0, spaces);
    }

    private static byte[] write(int pages, boolean encrypted, boolean inline, boolean descending, boolean predictor, int padding) {
        return write(pages, encrypted, inline, descending, predictor ? " /DecodeParms << /Predictor 12 /Columns 16 >>" : null, 0, padding, 0);
    }

    private static byte[] write(int pages, boolean encrypted, boolean inline, boolean descending, String predictor, int rowType, int padding,
            int spaces) {
        byte[] key = encrypted ? fileKey() : null;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PdfFiles.ascii(PdfFiles.HEADER));
        TreeMap<Integer, Integer> offsets = new TreeMap<>();
        TreeMap<Integer, Integer> packed = new TreeMap<>();
        // the content streams, top-level objects as streams must be (section 7.5.7)
        for (int i = 0; i < pages; i++) {
            int n = 4 + 2 * i;
            byte[] content = PdfFiles.pageContent(i);
            byte[] data = key == null ? content : rc4(objectKey(key, n), content);
            offsets.put(n, out.size());
            out.writeBytes(PdfFiles.ascii(n + " 0 obj\n<< /Length " + data.length + " /Filter /FlateDecode >>\nstream\n"));
            out.writeBytes(data);
            out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        }
        // the padding object streams, each holding one object the xref places in it
        TreeMap<Integer, Integer> inPadding = new TreeMap<>();
        java.util.Random random = new java.util.Random(548);
        for (int j = 0; j < padding; j++) {
            int n = 250 + j;
            String head = (230 + j) + " 0\n";
            byte[] noise = new byte[7400];
            random.nextBytes(noise);
            ByteArrayOutputStream plain = new ByteArrayOutputStream();
            plain.writeBytes(PdfFiles.ascii(head + "null "));
            plain.writeBytes(noise);
            plain.writeBytes(new byte[800_000]);
            byte[] data = PdfFiles.deflate(plain.toByteArray());
            offsets.put(n, out.size());
            inPadding.put(230 + j, n);
            out.writeBytes(PdfFiles.ascii(n + " 0 obj\n<< /Type /ObjStm /N 1 /First " + head.length() + " /Length " + data.length
                    + " /Filter /FlateDecode >>\nstream\n"));
            out.writeBytes(data);
            out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        }
        // the object stream: catalog, tree, pages, font
        TreeMap<Integer, String> objects = new TreeMap<>();
        objects.put(1, "<< /Type /Catalog /Pages 2 0 R >>");
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < pages; i++) {
            String page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 200 0 R >> >>"
                    + " /Contents " + (4 + 2 * i) + " 0 R >>";
            if (inline) {
                kids.append(page).append(' ');
            } else {
                objects.put(3 + 2 * i, page);
            }
        }
        objects.put(2, "<< /Type /Pages /Kids [" + (inline ? kids : PdfFiles.kids(pages)) + "] /Count " + pages + " >>");
        objects.put(200, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        StringBuilder header = new StringBuilder();
        StringBuilder body = new StringBuilder();
        int index = 0;
        TreeMap<Integer, Integer> at = new TreeMap<>();
        for (int n : descending ? objects.descendingKeySet() : objects.navigableKeySet()) {
            at.put(n, body.length());
            body.append(objects.get(n)).append('\n');
        }
        for (int n : objects.keySet()) {
            header.append(n).append(' ').append(at.get(n)).append(' ');
            packed.put(n, index++);
        }
        body.append(" ".repeat(spaces));
        String head = header.append('\n').toString();
        byte[] plain = PdfFiles.ascii(head + body);
        String parms = "";
        if (predictor != null) {
            // PNG rows of 16 bytes, each after its filter type (0 None, 2 Up); the last row padded with spaces
            int rowsOf = (plain.length + 15) / 16;
            ByteArrayOutputStream predicted = new ByteArrayOutputStream();
            for (int r = 0; r < rowsOf; r++) {
                predicted.write(rowType);
                for (int i = 0; i < 16; i++) {
                    int k = r * 16 + i;
                    int b = k < plain.length ? plain[k] & 0xFF : ' ';
                    int above = r == 0 ? 0 : plain[k - 16] & 0xFF;
                    predicted.write(rowType == 2 ? b - above & 0xFF : b);
                }
            }
            plain = predicted.toByteArray();
            parms = predictor;
        }
        byte[] stream = PdfFiles.deflate(plain);
        if (key != null) {
            stream = rc4(objectKey(key, OBJECT_STREAM), stream);
        }
        offsets.put(OBJECT_STREAM, out.size());
        out.writeBytes(PdfFiles.ascii(OBJECT_STREAM + " 0 obj\n<< /Type /ObjStm /N " + objects.size() + " /First " + head.length()
                + " /Length " + stream.length + " /Filter /FlateDecode" + parms + " >>\nstream\n"));
        out.writeBytes(stream);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\n"));
        String id = HexFormat.of().formatHex(ID);
        String encrypt = "";
        if (key != null) {
            offsets.put(ENCRYPT, out.size());
            out.writeBytes(PdfFiles.ascii(ENCRYPT + " 0 obj\n<< /Filter /Standard /V 2 /R 3 /Length 128 /O <"
                    + HexFormat.of().formatHex(owner()) + "> /U <" + HexFormat.of().formatHex(user(key)) + "> /P "
                    + PERMISSIONS + " >>\nendobj\n"));
            encrypt = " /Encrypt " + ENCRYPT + " 0 R";
        }
        // the cross-reference stream (section 7.5.8.3): W [1 4 2], type 0 free, 1 in the file, 2 in object stream 300
        int size = XREF + 1;
        offsets.put(XREF, out.size());
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int n = 0; n < size; n++) {
            if (offsets.containsKey(n)) {
                row(rows, 1, offsets.get(n), 0);
            } else if (inPadding.containsKey(n)) {
                row(rows, 2, inPadding.get(n), 0);
            } else if (packed.containsKey(n)) {
                row(rows, 2, OBJECT_STREAM, packed.get(n));
            } else {
                row(rows, 0, 0, n == 0 ? 65535 : 0);
            }
        }
        byte[] xref = PdfFiles.deflate(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii(XREF + " 0 obj\n<< /Type /XRef /Size " + size + " /W [1 4 2] /Root 1 0 R" + encrypt
                + " /ID [<" + id + "> <" + id + ">] /Length " + xref.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + offsets.get(XREF) + "\n%%EOF\n"));
        return out.toByteArray();
    }

    /**
     * Objects packed as an object stream's content (ISO 32000-1 7.5.7), in number order: {@code head} the pairs of
     * object number and offset, {@code body} the objects, {@code index} each object's index in the stream.
     */
    public record Packed(String head, String body, TreeMap<Integer, Integer> index) {
        public static Packed of(TreeMap<Integer, String> objects) {
            StringBuilder header = new StringBuilder();
            StringBuilder body = new StringBuilder();
            TreeMap<Integer, Integer> index = new TreeMap<>();
            for (int k : objects.keySet()) {
                header.append(k).append(' ').append(body.length()).append(' ');
                body.append(objects.get(k)).append('\n');
                index.put(k, index.size());
            }
            return new Packed(header.append('\n').toString(), body.toString(), index);
        }

        /** The stream's content before its filter. */
        public byte[] plain() {
            return PdfFiles.ascii(head + body);
        }
    }

    /** Tree 2 over {@code pages} page dictionaries 3, 5, ... (each {@code /Parent 2 0 R}), as rounds 555-558 pack them. */
    public static TreeMap<Integer, String> treeAndPages(int pages) {
        TreeMap<Integer, String> objects = new TreeMap<>();
        objects.put(2, "<< /Type /Pages /Kids [" + PdfFiles.kids(pages) + "] /Count " + pages + " >>");
        for (int i = 0; i < pages; i++) {
            objects.put(3 + 2 * i, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>");
        }
        return objects;
    }

    /**
     * Ends {@code out} with cross-reference stream 301 (ISO 32000-1 7.5.8: {@code /W [1 4 2]}, rows 0 to 301): the
     * objects of {@code offsets} at their offsets, those of {@code packed} at their index in object stream 300,
     * object 0 and the rest free; {@code entries} inside its dictionary after {@code /W} ({@code " /Root 1 0 R"}),
     * then {@code startxref} naming it.
     */
    public static void crossReferenceStream(ByteArrayOutputStream out, TreeMap<Integer, Integer> offsets,
            TreeMap<Integer, Integer> packed, String entries) {
        int size = 302;
        offsets.put(301, out.size());
        ByteArrayOutputStream rows = new ByteArrayOutputStream();
        for (int k = 0; k < size; k++) {
            int type = offsets.containsKey(k) ? 1 : packed.containsKey(k) ? 2 : 0;
            row(rows, type, type == 1 ? offsets.get(k) : type == 2 ? 300 : 0, type == 2 ? packed.get(k) : k == 0 ? 65535 : 0);
        }
        byte[] xref = PdfFiles.deflate(rows.toByteArray());
        out.writeBytes(PdfFiles.ascii("301 0 obj\n<< /Type /XRef /Size " + size + " /W [1 4 2]" + entries + " /Length "
                + xref.length + " /Filter /FlateDecode >>\nstream\n"));
        out.writeBytes(xref);
        out.writeBytes(PdfFiles.ascii("\nendstream\nendobj\nstartxref\n" + offsets.get(301) + "\n%%EOF\n"));
    }

    private static void row(ByteArrayOutputStream rows, int type, long second, int third) {
        rows.write(type);
        for (int s = 24; s >= 0; s -= 8) {
            rows.write((int) (second >> s) & 0xFF);
        }
        rows.write(third >> 8 & 0xFF);
        rows.write(third & 0xFF);
    }

    /** Algorithm 3 (revision 3): the /O entry for owner password "owner-secret" over the empty user password. */
    private static byte[] owner() {
        byte[] hash = md5(pad("owner-secret".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)));
        for (int i = 0; i < 50; i++) {
            hash = md5(hash);
        }
        byte[] o = rc4(hash, PADDING);
        return xorRounds(hash, o);
    }

    /** Algorithm 2 (revision 3, 16-byte key): the file key the empty user password gives. */
    private static byte[] fileKey() {
        MessageDigest md = digest();
        md.update(PADDING);
        md.update(owner());
        md.update(new byte[] {(byte) PERMISSIONS, (byte) (PERMISSIONS >> 8), (byte) (PERMISSIONS >> 16), (byte) (PERMISSIONS >> 24)});
        md.update(ID);
        byte[] hash = md.digest();
        for (int i = 0; i < 50; i++) {
            hash = md5(hash);
        }
        return hash;
    }

    /** Algorithm 5 (revision 3): the /U entry. */
    private static byte[] user(byte[] key) {
        MessageDigest md = digest();
        md.update(PADDING);
        md.update(ID);
        byte[] u = xorRounds(key, rc4(key, md.digest()));
        byte[] full = new byte[32];
        System.arraycopy(u, 0, full, 0, 16);
        System.arraycopy(PADDING, 0, full, 16, 16);
        return full;
    }

    /** Algorithm 3 step g, Algorithm 5 step e: 19 more RC4 passes, each under the key XOR the pass number. */
    private static byte[] xorRounds(byte[] key, byte[] data) {
        for (int i = 1; i <= 19; i++) {
            byte[] k = new byte[key.length];
            for (int j = 0; j < key.length; j++) {
                k[j] = (byte) (key[j] ^ i);
            }
            data = rc4(k, data);
        }
        return data;
    }

    /** Algorithm 1: the key of object {@code n} generation 0. */
    private static byte[] objectKey(byte[] key, int n) {
        MessageDigest md = digest();
        md.update(key);
        md.update(new byte[] {(byte) n, (byte) (n >> 8), (byte) (n >> 16), 0, 0});
        return md.digest(); // min(16 + 5, 16) bytes
    }

    private static byte[] pad(byte[] password) {
        byte[] p = new byte[32];
        int n = Math.min(32, password.length);
        System.arraycopy(password, 0, p, 0, n);
        System.arraycopy(PADDING, 0, p, n, 32 - n);
        return p;
    }

    static byte[] rc4(byte[] key, byte[] data) {
        int[] s = new int[256];
        for (int i = 0; i < 256; i++) {
            s[i] = i;
        }
        for (int i = 0, j = 0; i < 256; i++) {
            j = (j + s[i] + (key[i % key.length] & 0xFF)) & 0xFF;
            int t = s[i];
            s[i] = s[j];
            s[j] = t;
        }
        byte[] out = new byte[data.length];
        for (int k = 0, i = 0, j = 0; k < data.length; k++) {
            i = (i + 1) & 0xFF;
            j = (j + s[i]) & 0xFF;
            int t = s[i];
            s[i] = s[j];
            s[j] = t;
            out[k] = (byte) (data[k] ^ s[(s[i] + s[j]) & 0xFF]);
        }
        return out;
    }

    private static byte[] md5(byte[] b) {
        return digest().digest(b);
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
