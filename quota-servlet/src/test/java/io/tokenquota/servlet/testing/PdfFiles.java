package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.TreeMap;
import java.util.zip.Deflater;

/**
 * PDFs for the rounds on the PDF page count, and the endpoint they are sent to. Every round lays a report
 * out the same way (catalog 1, page tree 2, page {@code 3+2i} and its content {@code 4+2i}) and changes only
 * what its attack is about, so the builders live here once and a fix to the layout reaches every round.
 */
public final class PdfFiles {
    /** The header line and the binary comment line PDF writers put first (ISO 32000-1 section 7.5.2). */
    public static final String HEADER = "%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\n";

    private PdfFiles() {
    }

    /** Reads the PDF body, has the model summarise every page, answers the summary as text: no usage. */
    public static final class Summarizer extends HttpServlet {
        private final ModelCalls calls;

        public Summarizer(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("The report covers the quarter's revenue, costs and outlook. ".repeat(15));
        }
    }

    public static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    public static byte[] deflate(byte[] bytes) {
        return deflate(bytes, Deflater.BEST_COMPRESSION);
    }

    /** {@code bytes} as a zlib stream at {@code level} ({@code Deflater.NO_COMPRESSION}: stored blocks, the bytes as they are). */
    public static byte[] deflate(byte[] bytes, int level) {
        Deflater deflater = new Deflater(level);
        deflater.setInput(bytes);
        deflater.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        while (!deflater.finished()) {
            out.write(buffer, 0, deflater.deflate(buffer));
        }
        deflater.end();
        return out.toByteArray();
    }

    /** A page's text, deflated as PDF writers save it (ISO 32000-1 section 7.4.4). */
    public static byte[] pageContent(int page) {
        StringBuilder content = new StringBuilder("BT /F1 11 Tf 72 740 Td 14 TL\n");
        for (int line = 0; line < 40; line++) {
            content.append("(Page ").append(page + 1).append(", line ").append(line)
                    .append(": revenue, margin and growth by region compared with the last quarter) '\n");
        }
        return deflate(ascii(content.append("ET").toString()));
    }

    /** The page tree's {@code /Kids}: page objects {@code 3+2i}. */
    public static String kids(int pages) {
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < pages; i++) {
            kids.append(3 + 2 * i).append(" 0 R ");
        }
        return kids.toString();
    }

    /**
     * The start of a classic PDF: the header, catalog 1 (with {@code catalogExtra} before its {@code >>}) and
     * page tree 2 naming {@code pages} pages, written without line breaks inside the objects.
     */
    public static String head(int pages, String catalogExtra) {
        return HEADER + "1 0 obj << /Type /Catalog /Pages 2 0 R" + catalogExtra + " >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [" + kids(pages) + "] /Count " + pages + " >> endobj\n";
    }

    /**
     * The {@code pages} page dictionaries (page {@code 3+2i}, content {@code 4+2i}) as the uncompressed data
     * of an object stream (ISO 32000-1 section 7.5.7): the pairs of object number and offset, then the
     * objects; {@code first} is where the objects start.
     */
    public record PageObjects(String data, int first) {
        public static PageObjects of(int pages) {
            StringBuilder offsets = new StringBuilder();
            StringBuilder objects = new StringBuilder();
            for (int i = 0; i < pages; i++) {
                offsets.append(3 + 2 * i).append(' ').append(objects.length()).append(' ');
                objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ").append(4 + 2 * i)
                        .append(" 0 R >>\n");
            }
            return new PageObjects(offsets + "\n" + objects, offsets.length() + 1);
        }
    }

    /**
     * Writes page {@code 3+2i} ({@code << pageType /Parent 2 0 R ... >>}) and its content {@code 4+2i} right
     * after it, for each page, classic spelling.
     */
    public static void pages(ByteArrayOutputStream out, int pages, String pageType, java.util.function.IntFunction<byte[]> content) {
        for (int i = 0; i < pages; i++) {
            byte[] stream = content.apply(i);
            int page = 3 + 2 * i;
            out.writeBytes(ascii(page + " 0 obj << " + pageType + " /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                    + (page + 1) + " 0 R >> endobj\n" + (page + 1) + " 0 obj << /Length " + stream.length
                    + " /Filter /FlateDecode >> stream\n"));
            out.writeBytes(stream);
            out.writeBytes(ascii("\nendstream endobj\n"));
        }
    }

    /** Writes content stream {@code 4+2i} of each page, {@code content(i)} deflated, classic spelling. */
    public static void contentStreams(ByteArrayOutputStream out, int pages, java.util.function.IntFunction<byte[]> content) {
        for (int i = 0; i < pages; i++) {
            byte[] stream = content.apply(i);
            out.writeBytes(ascii((4 + 2 * i) + " 0 obj << /Length " + stream.length + " /Filter /FlateDecode >> stream\n"));
            out.writeBytes(stream);
            out.writeBytes(ascii("\nendstream endobj\n"));
        }
    }

    /**
     * A PDF written object by object, remembering each object's offset for the cross-reference data
     * (ISO 32000-1 section 7.5.4) that {@link #finish} or a round's own ending writes.
     */
    public static class Writer {
        protected final ByteArrayOutputStream out = new ByteArrayOutputStream();
        protected final TreeMap<Integer, Integer> offsets = new TreeMap<>();

        public Writer() {
            out.writeBytes(ascii(HEADER));
        }

        public Writer obj(int n, String body) {
            offsets.put(n, out.size());
            out.writeBytes(ascii(n + " 0 obj\n" + body + "\nendobj\n"));
            return this;
        }

        public Writer stream(int n, String dict, byte[] data) {
            offsets.put(n, out.size());
            out.writeBytes(ascii(n + " 0 obj\n<< " + dict + " >>\nstream\n"));
            out.writeBytes(data);
            out.writeBytes(ascii("\nendstream\nendobj\n"));
            return this;
        }

        /** Page {@code 3+2i} and its content {@code 4+2i}, under page tree 2, font 200. */
        public Writer pages(int pages) {
            for (int i = 0; i < pages; i++) {
                byte[] content = pageContent(i);
                int page = 3 + 2 * i;
                obj(page, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 200 0 R >> >>"
                        + " /Contents " + (page + 1) + " 0 R >>");
                stream(page + 1, "/Length " + content.length + " /Filter /FlateDecode", content);
            }
            return obj(200, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        }

        /** Ends the file with one table listing every object at its offset, gaps as free rows. */
        public byte[] finish() {
            int size = offsets.lastKey() + 1;
            int xref = out.size();
            StringBuilder x = new StringBuilder("xref\n0 " + size + "\n0000000000 65535 f \n");
            for (int i = 1; i < size; i++) {
                Integer at = offsets.get(i);
                x.append(at == null ? "0000000000 65535 f \n" : String.format("%010d 00000 n \n", at));
            }
            x.append("trailer\n<< /Size ").append(size).append(" /Root 1 0 R >>\nstartxref\n").append(xref).append("\n%%EOF\n");
            out.writeBytes(ascii(x.toString()));
            return out.toByteArray();
        }
    }
}
