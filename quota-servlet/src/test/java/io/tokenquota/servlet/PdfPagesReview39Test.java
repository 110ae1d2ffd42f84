package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Review 39: cross-reference streams are decoded outside PdfPages' shared Budget (DECODED_TOTAL, 8 MB): each one of a
 * /Prev chain decodes up to 8 MB on its own, so a ~1 MB body of twelve of them decodes ~96 MB, the round 505 shape
 * moved from object streams to xref streams.
 */
class PdfPagesReview39Test {
    private static byte[] deflated(int zeros) {
        Deflater d = new Deflater(9);
        d.setInput(new byte[zeros]);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    static byte[] chainOfXrefStreams(int streams) {
        ByteArrayOutputStream pdf = new ByteArrayOutputStream();
        pdf.writeBytes("%PDF-1.7\n".getBytes(StandardCharsets.US_ASCII));
        byte[] data = deflated(8_000_000);
        int length = 80_000; // 100 x 80,000 >= 8,000,000: within each stream's own bound
        byte[] padded = new byte[length];
        java.util.Arrays.fill(padded, (byte) ' ');
        System.arraycopy(data, 0, padded, 0, data.length);
        long previous = -1;
        for (int i = 0; i < streams; i++) {
            long at = pdf.size();
            String dict = (i + 1) + " 0 obj\n<< /Type /XRef /W [1 1 1] /Size 0 /Index [] /Filter /FlateDecode /Length "
                    + length + (previous >= 0 ? " /Prev " + previous : "") + " >>\nstream\n";
            pdf.writeBytes(dict.getBytes(StandardCharsets.US_ASCII));
            pdf.writeBytes(padded);
            pdf.writeBytes("\nendstream\nendobj\n".getBytes(StandardCharsets.US_ASCII));
            previous = at;
        }
        pdf.writeBytes(("startxref\n" + previous + "\n%%EOF\n").getBytes(StandardCharsets.US_ASCII));
        return pdf.toByteArray();
    }

    @Test
    void crossReferenceStreamsDecodeWithinTheFilesOneBudget() {
        byte[] pdf = chainOfXrefStreams(12);
        assertTrue(pdf.length < 1_000_000, "a body under 1 MB: " + pdf.length);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        long started = System.nanoTime();
        PdfPages.pageObjects(pdf);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        long millis = (System.nanoTime() - started) / 1_000_000;
        assertTrue(allocated < 4L * PdfPages.DECODED_TOTAL, "a " + pdf.length + "-byte PDF allocated " + allocated
                + " bytes in " + millis + " ms decoding its cross-reference streams, past the file's one budget of "
                + PdfPages.DECODED_TOTAL);
    }

    @Test
    void aChainThatSpendsTheBudgetIsGivenUpAndTheFileReadInOrder() {
        byte[] chain = chainOfXrefStreams(12);
        String tail = new String(chain, StandardCharsets.ISO_8859_1);
        int startxref = tail.lastIndexOf("startxref");
        String pages = "20 0 obj\n<< /Type /Page >>\nendobj\n21 0 obj\n<< /Type /Page >>\nendobj\n";
        byte[] pdf = (tail.substring(0, startxref) + pages + tail.substring(startxref)).getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(2, PdfPages.pageObjects(pdf), "the pages the chain's data does not place, read in order");
    }
}
