package io.tokenquota.servlet.breakit491;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.PdfFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import java.util.UUID;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Round 491 of issue 11: a PDF uploaded as a multipart file to a summariser ("upload a report, get a
 * summary": Spring AI's {@code ChatClient.prompt().user(u -> u.text(...).media(pdf)).call().content()},
 * which returns the model's text as a {@code String}, no usage) is the model's input, page by page; the
 * filter measures an inline PDF by its pages (docs/estimation.md: a PDF by its pages, 258 a page where no
 * model's rate is known), but the same PDF as a multipart file is "not text" and costs the fallback alone.
 * A PDF writer deflates its content streams ({@code /Filter /FlateDecode}, PDF 1.7 section 7.4.4), so a
 * real PDF never reads as text: a 40-page report is a 1,000-token call.
 */
abstract class AbstractRound491 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final int PAGES = 40;
    /** What the filter holds a PDF page at where it knows no model's rate (MediaSize.PDF_PAGE_TOKENS). */
    static final long PAGE_TOKENS = 258;
    static final String BOUNDARY = "----formdata491";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("summarize", new Summarizer(),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), "/ai/summarize")
                .servlet("chat", new Summarizer(), "/ai/chat")
                .servlet("raw", new Summarizer(), "/ai/summarize-pdf");
    }

    /**
     * The summariser: takes the PDF (a multipart file part, or inline as OpenAI's {@code file_data} in a
     * chat body), has the model read every page and write a 150-word summary, and answers the summary as
     * text, as a {@code String} handler does. No usage in the answer.
     */
    static final class Summarizer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            // multipart: the file part; a PDF body: the body is the file; JSON: the file inline
            if (req.getContentType() != null && req.getContentType().startsWith("multipart/")) {
                req.getPart("file").getInputStream().readAllBytes();
            } else {
                req.getInputStream().readAllBytes();
            }
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("The report covers the quarter's revenue, costs and outlook. ".repeat(15));
        }
    }

    /**
     * A PDF of {@code pages} pages laid out as a PDF writer does: each page's content stream deflated
     * ({@code /Filter /FlateDecode}), a page of text set line by line ({@code Tj}).
     */
    static byte[] deflatedPdf(int pages) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random words = new Random(491);
        String[] vocabulary = {"revenue", "quarter", "margin", "growth", "customers", "region", "costs", "forecast",
                "segment", "operating", "income", "during", "compared", "increase", "decrease", "percent", "million",
                "products", "services", "market", "the", "of", "and", "in", "to", "with", "our", "net", "cash"};
        StringBuilder head = new StringBuilder("%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\n");
        head.append("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < pages; i++) {
            kids.append(3 + 2 * i).append(" 0 R ");
        }
        head.append("2 0 obj << /Type /Pages /Kids [").append(kids).append("] /Count ").append(pages).append(" >> endobj\n");
        out.writeBytes(head.toString().getBytes(StandardCharsets.ISO_8859_1));
        for (int i = 0; i < pages; i++) {
            StringBuilder content = new StringBuilder("BT /F1 11 Tf 72 740 Td 14 TL\n");
            for (int line = 0; line < 48; line++) {
                content.append('(');
                for (int w = 0; w < 12; w++) {
                    content.append(vocabulary[words.nextInt(vocabulary.length)]).append(' ');
                }
                content.append(") '\n");
            }
            content.append("ET");
            byte[] stream = deflate(content.toString().getBytes(StandardCharsets.ISO_8859_1));
            int page = 3 + 2 * i;
            out.writeBytes((page + " 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " + (page + 1)
                    + " 0 R >> endobj\n" + (page + 1) + " 0 obj << /Length " + stream.length
                    + " /Filter /FlateDecode >> stream\n").getBytes(StandardCharsets.ISO_8859_1));
            out.writeBytes(stream);
            out.writeBytes("\nendstream endobj\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        out.writeBytes("trailer << /Root 1 0 R >>\n%%EOF\n".getBytes(StandardCharsets.ISO_8859_1));
        return out.toByteArray();
    }

    static byte[] deflate(byte[] bytes) {
        return PdfFiles.deflate(bytes, Deflater.DEFAULT_COMPRESSION);
    }

    String subject(String what) {
        return "r491-" + what + "-" + kind() + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Test
    void aPdfUploadedAsAMultipartFileIsHeldByItsPages() {
        String s = subject("multipart");
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"instructions\"", "Summarise this report in 150 words.",
                "Content-Disposition: form-data; name=\"file\"; filename=\"q3-report.pdf\"\r\nContent-Type: application/pdf",
                deflatedPdf(PAGES));
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summarize"), s,
                "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s));
        long used = settled(s).used();
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": the model read a " + PAGES + "-page PDF uploaded as a "
                + "multipart file; charged " + used + ", should be at least " + PAGES * PAGE_TOKENS + " (" + PAGE_TOKENS
                + " a page, as the same PDF inline is): " + ledger(s));
    }

    /** The same PDF sent as the body itself ({@code curl --data-binary @q3-report.pdf -H 'Content-Type: application/pdf'}). */
    @Test
    void aPdfSentAsTheBodyIsHeldByItsPages() {
        String s = subject("body");
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summarize-pdf"), s,
                "Content-Type", "application/pdf").POST(HttpRequest.BodyPublishers.ofByteArray(deflatedPdf(PAGES))).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s));
        long used = settled(s).used();
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": the model read a " + PAGES + "-page PDF sent as the body; "
                + "charged " + used + ", should be at least " + PAGES * PAGE_TOKENS + " (" + PAGE_TOKENS
                + " a page, as the same PDF inline is): " + ledger(s));
    }

    /** Control: the same PDF inline in a chat body (OpenAI's {@code file} part, {@code file.file_data} as a data URL). */
    @Test
    void theSamePdfInlineInAChatBodyIsHeldByItsPages() {
        String s = subject("inline");
        String json = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"text\",\"text\":\"Summarise this report in 150 words.\"},"
                + "{\"type\":\"file\",\"file\":{\"filename\":\"q3-report.pdf\",\"file_data\":\"data:application/pdf;base64,"
                + Base64.getEncoder().encodeToString(deflatedPdf(PAGES)) + "\"}}]}]}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, json);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s));
        long used = settled(s).used();
        assertTrue(used >= PAGES * PAGE_TOKENS, kind() + ": charged " + used + ", should be at least "
                + PAGES * PAGE_TOKENS + ": " + ledger(s));
    }
}
