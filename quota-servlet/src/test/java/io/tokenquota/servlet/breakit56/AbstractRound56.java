package io.tokenquota.servlet.breakit56;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.support.AnnotationConfigWebApplicationContext;
import org.springframework.web.multipart.MultipartFile;
import org.springframework.web.multipart.support.StandardServletMultipartResolver;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.config.annotation.EnableWebMvc;

/**
 * Round 56 of issue 11: the floor of a {@code text/*} answer without usage (charged at least its own
 * estimated tokens), against honest endpoints (over-charge) and hostile clients (evasion).
 */
abstract class AbstractRound56 extends H2FilterRound {

    static String subject() {
        return "u56-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** ~1,530 o200k tokens of transcript (9 tokens a repeat). */
    static final String TRANSCRIPT = "and then we looked at the quarterly figures again ".repeat(170);
    static final long TRANSCRIPT_TOKENS = 9L * 170;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 32 << 20, 32 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("spring", dispatcher(), multipart, "/ai/spring/*")
                .multipartServlet("models", new Models(), multipart, "/ai/v1/*");
    }

    public static class Models extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (req.getRequestURI().endsWith("/v1/files/file-56/content")) {
                // OpenAI's Files API: the user's own uploaded text file read back; no model involved
                resp.setContentType("text/plain;charset=utf-8");
                resp.getOutputStream().write(TRANSCRIPT.repeat(5).getBytes(StandardCharsets.UTF_8));
            } else {
                resp.sendError(404);
            }
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            try {
                req.getParts();
            } catch (ServletException e) {
                throw new IOException(e);
            }
            String path = req.getRequestURI();
            OutputStream out = resp.getOutputStream();
            if (path.endsWith("/v1/audio/transcriptions-relay")) {
                // an honest relay: the upstream's text/plain transcript copied as it arrives, byte by byte
                // (the classic read()/write(int) loop), the headers flushed first so the client sees it stream
                resp.setContentType("text/plain;charset=utf-8");
                resp.flushBuffer();
                InputStream upstream = new BufferedInputStream(new ByteArrayInputStream(TRANSCRIPT.getBytes(StandardCharsets.UTF_8)));
                int c;
                while ((c = upstream.read()) != -1) {
                    out.write(c);
                }
            } else if (path.endsWith("/v1/audio/transcriptions")) {
                // response_format=text: the transcript alone, no usage; whisper marks non-speech as [Music]
                resp.setContentType("text/plain;charset=utf-8");
                out.write(("[Music] " + TRANSCRIPT).getBytes(StandardCharsets.UTF_8));
            } else {
                resp.sendError(404);
            }
        }
    }

    /** A Spring controller that returns the transcript as a String (no {@code produces}), as most do. */
    @RestController
    public static class TranscriptionController {
        @PostMapping({"/transcribe", "/ai/spring/transcribe"})
        public String transcribe(@RequestPart("file") MultipartFile file) throws IOException {
            file.getBytes();
            return TRANSCRIPT;
        }
    }

    @Configuration
    @EnableWebMvc
    static class WebConfig {
        @Bean
        TranscriptionController transcriptionController() {
            return new TranscriptionController();
        }

        @Bean(name = DispatcherServlet.MULTIPART_RESOLVER_BEAN_NAME)
        StandardServletMultipartResolver multipartResolver() {
            return new StandardServletMultipartResolver();
        }
    }

    static DispatcherServlet dispatcher() {
        AnnotationConfigWebApplicationContext context = new AnnotationConfigWebApplicationContext();
        context.register(WebConfig.class);
        return new DispatcherServlet(context);
    }

    HttpResponse<String> uploadTo(String path, String subject, byte[] file, String... headers) {
        String boundary = "----b56" + UUID.randomUUID();
        String[] all = new String[headers.length + 4];
        all[0] = "x-user-id";
        all[1] = subject;
        all[2] = "Content-Type";
        all[3] = "multipart/form-data; boundary=" + boundary;
        System.arraycopy(headers, 0, all, 4, headers.length);
        return TestHttp.post(container.uri(path), Transcriptions.form(boundary, file, "call.mp3", "audio/mpeg"), all);
    }

    static byte[] mp3(int size) {
        byte[] audio = new byte[size];
        new Random(56).nextBytes(audio);
        audio[0] = 'I';
        audio[1] = 'D';
        audio[2] = '3';
        return audio;
    }

    /**
     * Over-charge: an honest relay streams the upstream's 1,530-token text/plain transcript by copying
     * it byte by byte. The floor estimates every write on its own, and the estimator charges at least
     * one token for any non-empty text, so each byte costs a token: ~8,500 tokens for a 1,530-token text.
     */
    @Test
    void aTextAnswerWrittenByteByByteIsNotChargedATokenPerByte() {
        String s = subject();
        HttpResponse<String> r = uploadTo("/ai/v1/audio/transcriptions-relay", s, mp3(20_000));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(TRANSCRIPT, r.body());
        long used = settled(s).used();
        assertTrue(used <= 2 * Math.max(TRANSCRIPT_TOKENS, 1_004), "a " + TRANSCRIPT_TOKENS + "-token transcript relayed"
                + " byte by byte was charged " + used + ": " + ledger(s));
    }

    /**
     * Evasion: a text/plain transcript that starts with "[" (whisper's "[Music]", "[BLANK_AUDIO]", or any
     * audio the client makes start that way) is taken for JSON; the scanner fails, the sniffer turns off
     * without ever counting the text, and the floor is lost: charged the 1,004 fallback.
     */
    @Test
    void aTextTranscriptStartingWithABracketIsStillChargedAtLeastItsLength() {
        String s = subject();
        HttpResponse<String> r = uploadTo("/ai/v1/audio/transcriptions", s, mp3(1_000_000));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().startsWith("[Music] and then"));
        assertTrue(settled(s).used() >= TRANSCRIPT_TOKENS, "a " + TRANSCRIPT_TOKENS + "-token transcript, charged " + ledger(s));
    }

    /**
     * Evasion: a Spring controller returns the transcript as a String; the client sends
     * {@code Accept: application/xml}, Spring's String converter labels the same text application/xml,
     * and the floor (only for text/*) is skipped: charged the fallback, not the transcript.
     */
    @Test
    void aSpringTextAnswerRelabelledByTheClientsAcceptIsStillChargedAtLeastItsLength() {
        String s = subject();
        HttpResponse<String> r = uploadTo("/ai/spring/transcribe", s, mp3(1_000_000), "Accept", "application/xml");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(TRANSCRIPT, r.body());
        assertTrue(settled(s).used() >= TRANSCRIPT_TOKENS, "a " + TRANSCRIPT_TOKENS + "-token transcript labelled "
                + r.headers().firstValue("Content-Type").orElse("?") + ", charged " + ledger(s));
    }

    /**
     * Over-charge: reading back one's own uploaded 38 KB text file (OpenAI's Files API,
     * {@code GET /v1/files/{id}/content}) on a protected path. No model wrote it; the poll rule charges
     * a GET its estimate (1,000), but the text floor charges its length: ~7,650 tokens.
     */
    @Test
    void readingBackAStoredTextFileIsNotChargedItsLengthAsModelOutput() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/v1/files/file-56/content"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used <= 1_100, "a GET of a stored text file (no model call) was charged " + used + ": " + ledger(s));
    }
}
