package io.tokenquota.servlet.breakit143;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.PdfFileRelay;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Round 143 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * files uploaded in parts through OpenAI's Uploads API, and the catalogue paths of a provider served by
 * an application's own route.
 */
abstract class AbstractRound143 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Pages of each PDF the relay's provider stores, by file id. */
    static final Map<String, Integer> FILES = new ConcurrentHashMap<>();
    static final int PAGES = 60;
    /** The filter's own least figure for a PDF page it can see. */
    static final long PAGE_FLOOR = 258;

    static String subject() {
        return "u143-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("relay", new PdfFileRelay(calls, FILES).pagesOfUploads(pdf -> PAGES),
                        new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .servlet("catalog", new CarCatalog(calls), "/ai/catalog/*");
    }

    /**
     * A PDF 1.5+ as most producers write it today: its page objects compressed in one object stream
     * ({@code /Type /ObjStm}, {@code /FlateDecode}); its page contents as plain streams.
     */
    static byte[] objectStreamPdf(int pages) {
        StringBuilder objects = new StringBuilder();
        StringBuilder offsets = new StringBuilder();
        StringBuilder kids = new StringBuilder();
        for (int i = 0; i < pages; i++) {
            int page = 3 + i;
            kids.append(page).append(" 0 R ");
            offsets.append(page).append(' ').append(objects.length()).append(' ');
            objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ").append(200 + i)
                    .append(" 0 R >>\n");
        }
        byte[] plain = (offsets + "\n" + objects).getBytes(StandardCharsets.ISO_8859_1);
        int first = (offsets + "\n").length();
        Deflater deflater = new Deflater();
        deflater.setInput(plain);
        deflater.finish();
        ByteArrayOutputStream packed = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        while (!deflater.finished()) {
            packed.write(buf, 0, deflater.deflate(buf));
        }
        deflater.end();
        ByteArrayOutputStream pdf = new ByteArrayOutputStream();
        pdf.writeBytes(("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [" + kids + "] /Count " + pages + " >> endobj\n"
                + "100 0 obj << /Type /ObjStm /N " + pages + " /First " + first + " /Filter /FlateDecode /Length "
                + packed.size() + " >> stream\n").getBytes(StandardCharsets.ISO_8859_1));
        pdf.writeBytes(packed.toByteArray());
        pdf.writeBytes("\nendstream endobj\n".getBytes(StandardCharsets.ISO_8859_1));
        for (int i = 0; i < pages; i++) {
            String text = "BT /F1 12 Tf 72 720 Td (Quarterly report, page " + (i + 1) + ") Tj ET";
            pdf.writeBytes(((200 + i) + " 0 obj << /Length " + text.length() + " >> stream\n" + text
                    + "\nendstream endobj\n").getBytes(StandardCharsets.ISO_8859_1));
        }
        pdf.writeBytes("trailer << /Root 1 0 R /Size 300 >>\n%%EOF\n".getBytes(StandardCharsets.ISO_8859_1));
        return pdf.toByteArray();
    }

    /** Where the object stream's compressed bytes begin in {@code pdf}. */
    static int objectStreamData(byte[] pdf) {
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        return text.indexOf("stream\n", text.indexOf("/ObjStm")) + "stream\n".length();
    }

    /**
     * An application's car catalogue answered by a model ({@code GET /ai/catalog/{make}/{what}}): the app
     * asks the model for the make's {@code what} as structured output and returns the model's JSON as it
     * is (Spring AI's {@code .entity(...)}), without usage. One model call each.
     */
    static final class CarCatalog extends HttpServlet {
        private final ModelCalls calls;

        CarCatalog(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            String[] path = req.getPathInfo().substring(1).split("/");
            String make = path[0];
            String what = path.length > 1 ? path[1] : "overview";
            resp.setContentType("application/json");
            StringBuilder items = new StringBuilder();
            for (int i = 0; i < 12; i++) {
                items.append(i == 0 ? "" : ",").append("{\"name\":\"").append(make).append(" line ").append(i)
                        .append("\",\"summary\":\"A compact family car with a hybrid drivetrain, sold since the nineties.\"}");
            }
            resp.getWriter().write("{\"make\":\"" + make + "\",\"" + what + "\":[" + items + "]}");
        }
    }

    /**
     * Control: a 60-page PDF whose pages sit in one compressed object stream, uploaded by the Uploads API
     * in one part, then named by {@code file_id} in a streamed chat completion without usage. Expected:
     * charged at least 60 x 258 = 15,480 (or a 429).
     */
    @Test
    void objectStreamPdfInOnePartIsChargedItsPages() throws Exception {
        String s = subject();
        String id = OpenAiFiles.uploadPdfInParts(container, s, objectStreamPdf(PAGES));
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, false));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a " + PAGES + "-page PDF (object stream) uploaded in one part, named by file_id, answered "
                        + r.statusCode() + ", model calls " + calls.of(s) + ", charged " + used + " of " + ALLOWANCE
                        + "; expected at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack: the same 60-page PDF by the Uploads API in two parts, cut in the middle of its compressed
     * object stream (a client chooses its part sizes; an SDK's fixed part size cuts wherever it falls).
     * The provider joins the parts and its model reads 60 pages. The filter counts each part's pages
     * alone: the first holds the stream's start without its end, the second its end without its
     * dictionary, so neither inflates and each counts one page. Then a streamed chat completion without
     * usage names the file. Expected: at least 60 x 258 = 15,480 (or a 429), as in one part.
     */
    @Test
    void objectStreamPdfCutInsideItsStreamIsChargedItsPages() throws Exception {
        String s = subject();
        byte[] pdf = objectStreamPdf(PAGES);
        int data = objectStreamData(pdf);
        String id = OpenAiFiles.uploadPdfInParts(container, s, pdf, data + 20);
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, false));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a " + PAGES + "-page PDF uploaded in two parts cut inside its object stream, named by file_id, answered "
                        + r.statusCode() + ", model calls " + calls.of(s) + ", charged " + used + " of " + ALLOWANCE
                        + "; expected at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Control: the catalogue app's {@code GET /ai/catalog/toyota/trims}: one model call answered with its
     * structured JSON ({@code {"make": …, "trims": [...]}}) and no usage, charged its estimate (more than 0).
     */
    @Test
    void catalogueAppAnswerIsChargedItsEstimate() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/catalog/toyota/trims"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(calls.of(s) == 1 && used > 0, "model calls " + calls.of(s) + ", charged " + used + " " + ledger(s));
    }

    /**
     * Attack (an honest app): the same catalogue app's {@code GET /ai/catalog/toyota/models}, the car
     * models of a make. Its route ends in {@code /models} and the model's structured answer has a
     * top-level {@code models} list, which is all the filter asks of a provider's model catalogue
     * (Gemini's, Ollama's shape): the model call is released. A hostile client of any route that returns
     * a model's JSON gets the same by asking for a {@code models} key. Expected: one model call, charged
     * more than 0, as the control.
     */
    @Test
    void catalogueAppAnswerListingCarModelsIsCharged() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/catalog/toyota/models"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(calls.of(s) == 1 && used > 0, "GET /ai/catalog/toyota/models answered " + r.statusCode()
                + " with the model's JSON {\"make\":…,\"models\":[…]}: model calls " + calls.of(s) + ", charged " + used
                + " of " + ALLOWANCE + "; expected more than 0 " + ledger(s));
    }
}
