package io.tokenquota.servlet.breakit420;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.Adler32;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;
import org.junit.jupiter.api.Test;

/**
 * Round 420 of issue 11 ("no model call goes unpaid"), round 419's fix attacked: a request labelled
 * {@code Content-Encoding: deflate} "may be raw deflate as well as zlib" (docs/servlet.md, step 3 "Estimate":
 * "deflate zlib-wrapped or raw"). The filter tells them apart by RFC 1950's header check alone
 * ({@code AnswerDecoding.Inflating.zlibHeader}: CM 8 and {@code (CMF * 256 + FLG) % 31 == 0}), inflates one zlib
 * stream and reads nothing after it ({@code feed}: "one zlib stream: nothing after it is read", yet
 * {@code complete()} is true: no 415, unlike a gzip member followed by anything but padding).
 *
 * <p>The endpoint's reader tells them apart otherwise. Netty's {@code HttpContentDecompressor} (codec-http,
 * {@code newContentDecoder}: {@code deflate} is {@code ZlibWrapper.ZLIB_OR_NONE} unless strict, since some servers
 * send raw deflate under that name) hands the body to {@code JdkZlibDecoder}, which decides from the first two bytes with
 * {@code looksLikeZlib(short cmf_flg)}: {@code (cmf_flg & 0x7800) == 0x7800 && cmf_flg % 31 == 0}, i.e. zlib only
 * when CINFO is 7 (a 32 KB window, what zlib writes by default); anything else is inflated raw
 * ({@code new Inflater(nowrap)}), and "data received after finished" is skipped. Vert.x puts that decompressor in
 * its server pipeline when {@code HttpServerOptions.setDecompressionSupported(true)} (HttpServerWorker:
 * {@code pipeline.addLast("inflater", new HttpContentDecompressor(false))}); Quarkus exposes it as
 * {@code quarkus.http.enable-decompression=true}.
 *
 * <p>So a body whose zlib header has a smaller window (CMF {@code 0x58}, CINFO 5: legal, RFC 1950 section 2.2) is
 * zlib to the filter and raw to Netty. The two readings start at the same bytes and can be made to say different
 * things: RFC 1951 stored blocks ({@code BTYPE 00}: LEN, NLEN, then LEN literal bytes) let one byte range be a
 * block header for one reader and literal text for the other. Built here ({@link #polyglot}): the filter reads a
 * 63,222-byte JSON chat request with {@code max_tokens: 200} and no messages (the raw reader's block headers sit
 * inside its {@code user} string as valid UTF-8 text); Netty reads the same bytes without those headers, the zlib
 * checksum inside that string, then further raw blocks after the zlib stream's end (bytes the filter ignores)
 * that add a {@code messages} array with a 300,000-character prompt.
 *
 * <p>The deployment, as round 419's: the filter protecting {@code /ai/} in front of a relay that passes the client's
 * bytes and {@code Content-Encoding} on, here to a Vert.x service with decompression on, played in process
 * ({@link #nettyInflate} is {@code JdkZlibDecoder}'s decision and inflation). It answers an OpenAI chat completion
 * stream (API reference, "The chat completion chunk object": {@code chat.completion.chunk} with
 * {@code choices[].delta}, then {@code data: [DONE]}; no usage chunk, since the request names no
 * {@code stream_options.include_usage}).
 */
abstract class AbstractRound420 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PATH = "/ai/vertx/v1/chat/completions";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("vertx-relay", new VertxRelay(), "/ai/vertx/*");
    }

    /** The Vert.x service behind the relay: a deflate body inflated as Netty's HttpContentDecompressor does. */
    class VertxRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] raw = req.getInputStream().readAllBytes();
            byte[] body = "deflate".equalsIgnoreCase(req.getHeader("Content-Encoding")) ? nettyInflate(raw) : raw;
            JsonNode chat;
            try {
                chat = body == null ? null : JSON.readTree(body);
            } catch (IOException broken) {
                chat = null;
            }
            if (chat == null || !chat.has("messages")) {
                resp.sendError(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            ChatCompletions.streamWithoutUsage(resp.getOutputStream());
        }
    }

    /**
     * Netty's {@code JdkZlibDecoder} with {@code ZlibWrapper.ZLIB_OR_NONE} (netty codec, JdkZlibDecoder.decode):
     * {@code nowrap = !looksLikeZlib(in.getShort(readerIndex))}, inflate until {@code inflater.finished()}, then skip
     * whatever follows; {@code null} where it throws ({@code DecompressionException}) or the stream is cut short.
     */
    static byte[] nettyInflate(byte[] data) {
        if (data.length < 2) {
            return null;
        }
        short cmfFlg = (short) ((data[0] & 0xFF) << 8 | data[1] & 0xFF);
        boolean looksLikeZlib = (cmfFlg & 0x7800) == 0x7800 && cmfFlg % 31 == 0;
        return inflate(data, !looksLikeZlib);
    }

    /** One deflate stream from the start of {@code data}, raw or zlib-wrapped; what follows it ignored. */
    static byte[] inflate(byte[] data, boolean nowrap) {
        Inflater inflater = new Inflater(nowrap);
        inflater.setInput(data);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        try {
            while (!inflater.finished()) {
                int n = inflater.inflate(buf);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    return null;
                }
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } catch (DataFormatException e) {
            return null;
        } finally {
            inflater.end();
        }
    }

    static byte[] deflate(byte[] bytes, boolean nowrap) {
        Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION, nowrap);
        deflater.setInput(bytes);
        deflater.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        while (!deflater.finished()) {
            out.write(buf, 0, deflater.deflate(buf));
        }
        deflater.end();
        return out.toByteArray();
    }

    // ---------------------------------------------------------------- the body both readers accept

    /**
     * The first seven bytes. As zlib: CMF {@code 0x58} (CM 8, CINFO 5), FLG {@code 0x09} ({@code 0x5809 % 31 == 0},
     * no FDICT), then a final stored block (byte {@code 0x09}: BFINAL 1, BTYPE 00) with LEN {@code 0xF6F6} and NLEN
     * {@code 0x0909}. As raw deflate: byte 0 is a stored block (BTYPE 00, not final), LEN {@code 0x0909} (bytes 1-2),
     * NLEN {@code 0xF6F6} (bytes 3-4), and its 2,313 literal bytes start at byte 5 with two tabs (JSON whitespace).
     */
    static final byte[] HEAD = {0x58, 0x09, 0x09, (byte) 0xF6, (byte) 0xF6, 0x09, 0x09};
    /** The zlib reading's one stored block: LEN {@code 0xF6F6}. */
    static final int ZLIB_TEXT = 0xF6F6;
    /** Where the raw reading's first stored block ends in the zlib reading's text (2,313 bytes from byte 5). */
    static final int FIRST_RAW_END = 0x0909 - 2;
    /**
     * The raw reading's next two stored block headers (not final, LEN, NLEN): the bytes {@code ' ', x, y, ~x, ~y}
     * are ASCII, ASCII, ASCII, then a UTF-8 lead and continuation byte, so to the zlib reading they are text
     * inside a JSON string (U+0090, U+0081).
     */
    static final int[][] RAW_HEADERS = {{0x3D, 0x6F}, {0x3D, 0x7E}};
    /**
     * The raw reading's last stored block header inside the zlib text: LEN {@code 0x82DD}, NLEN {@code 0x7D22}, i.e.
     * the bytes {@code ' ', 0xDD, 0x82, '"', '}'}: to the zlib reading U+0742, then the end of its {@code user}
     * string and of the request; to the raw reading a block of 33,501 literal bytes: the spaces after it, the zlib
     * checksum, and the first bytes of {@link #tail}.
     */
    static final byte[] LAST_RAW_HEADER = {0x20, (byte) 0xDD, (byte) 0x82, '"', '}'};
    static final int SPACES_AFTER = 102;

    /** What the raw reading adds after the {@code user} string: the messages, {@code chars} of prose. */
    static String tail(int chars) {
        return "\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise these minutes. " + Prose.english(chars) + "\"}]}";
    }

    /** The chat request the Vert.x service reads, as a well-behaved client would send it. */
    static String wholeChat(int chars) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":200,\"user\":\"u-1\"" + tail(chars).substring(1);
    }

    /**
     * The zlib reading's text for user id {@code id} followed by {@code marks} tildes: a valid JSON chat request
     * without messages.
     */
    static byte[] zlibText(int id, int marks) {
        byte[] c = new byte[ZLIB_TEXT];
        Arrays.fill(c, (byte) ' ');
        byte[] start = String.format("{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":200,\"user\":\"u-%04d%s", id,
                "~".repeat(marks)).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(start, 0, c, 0, start.length);
        int at = FIRST_RAW_END;
        for (int[] h : RAW_HEADERS) {
            int x = h[0];
            int y = h[1];
            c[at] = ' ';
            c[at + 1] = (byte) x;
            c[at + 2] = (byte) y;
            c[at + 3] = (byte) ~x;
            c[at + 4] = (byte) ~y;
            at += 5 + (x | y << 8);
        }
        if (at != ZLIB_TEXT - SPACES_AFTER - LAST_RAW_HEADER.length) {
            throw new IllegalStateException("raw blocks do not meet: " + at);
        }
        System.arraycopy(LAST_RAW_HEADER, 0, c, at, LAST_RAW_HEADER.length);
        return c;
    }

    /**
     * The body: {@link #HEAD}, the zlib text, its Adler-32 (big-endian; the user id and the tildes after it are chosen so that its four bytes
     * are printable ASCII, neither quote nor backslash: to the raw reading they are inside the {@code user}
     * string), the first bytes of {@link #tail} as the rest of the raw reading's last stored block, then the rest
     * of the tail as raw deflate blocks (the last one final).
     */
    static byte[] polyglot(int chars) {
        byte[] tail = tail(chars).getBytes(StandardCharsets.UTF_8);
        for (int attempt = 0; attempt < 100_000; attempt++) {
            byte[] c = zlibText(attempt % 100, attempt / 100);
            Adler32 adler = new Adler32();
            adler.update(c);
            int sum = (int) adler.getValue();
            byte[] check = {(byte) (sum >>> 24), (byte) (sum >>> 16), (byte) (sum >>> 8), (byte) sum};
            boolean safe = true;
            for (byte b : check) {
                safe &= b >= 0x20 && b < 0x7F && b != '"' && b != '\\';
            }
            if (!safe) {
                continue;
            }
            int literal = 0x82DD - SPACES_AFTER - 4;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(HEAD);
            out.writeBytes(c);
            out.writeBytes(check);
            out.write(tail, 0, literal);
            out.writeBytes(deflate(Arrays.copyOfRange(tail, literal, tail.length), true));
            return out.toByteArray();
        }
        throw new IllegalStateException("no user id gives a printable checksum");
    }

    HttpResponse<String> send(String s, byte[] deflated) {
        return TestHttp.post(container.uri(PATH), deflated, "x-user-id", s, "Content-Type", "application/json",
                "Content-Encoding", "deflate");
    }

    void assertRefusedUncharged(String s, HttpResponse<String> r, int status, String what) {
        QuotaAccount a = settled(s);
        String figures = kind() + ": " + what + ": status " + r.statusCode() + ", model calls " + calls.of(s) + ", used "
                + a.used() + " of " + a.limit() + " (" + ledger(s) + ")";
        assertEquals(status, r.statusCode(), figures);
        assertEquals(0, calls.of(s), figures);
        assertEquals(0, a.used() + a.reserved(), figures);
    }

    /**
     * The body is what it is said to be: zlib-inflated (the filter's reading: one stream, its Adler-32 checked) it is
     * a 63,222-byte chat request with no messages; Netty's reading of it is the 300,000-character chat request; a raw
     * deflate body of that request is raw to both readers.
     */
    @Test
    void theTwoReadingsOfTheBodyAreTwoValidChatRequests() throws IOException {
        byte[] body = polyglot(300_000);
        byte[] filterReads = inflate(body, false);
        byte[] serviceReads = nettyInflate(body);
        JsonNode small = JSON.readTree(filterReads);
        JsonNode large = JSON.readTree(serviceReads);
        assertEquals(ZLIB_TEXT, filterReads.length);
        assertFalse(small.has("messages"), small.toString().substring(0, 120));
        assertEquals(200, small.get("max_tokens").asInt());
        assertTrue(large.get("messages").get(0).get("content").asText().length() > 300_000);
        assertTrue(serviceReads.length > 360_000, "service reads " + serviceReads.length);
        byte[] raw = deflate(wholeChat(300_000).getBytes(StandardCharsets.UTF_8), true);
        assertFalse((raw[0] & 0x0F) == 8 && ((raw[0] & 0xFF) * 256 + (raw[1] & 0xFF)) % 31 == 0, "raw looks like zlib");
        assertEquals(wholeChat(300_000), new String(nettyInflate(raw), StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- 1. the hold (429 past the allowance)

    /**
     * Control: the 300,000-character chat request (about 66,000 tokens, past the 20,000 allowance) sent as raw
     * deflate, which both readers read raw: 429, no call, nothing held.
     */
    @Test
    void aRawDeflateChatPastTheAllowanceIsRefused429() {
        String s = subject();
        HttpResponse<String> r = send(s, deflate(wholeChat(300_000).getBytes(StandardCharsets.UTF_8), true));
        assertRefusedUncharged(s, r, 429, "300,000-character prompt, raw deflate");
    }

    /** Control: the same request zlib-wrapped as zlib writes it (CMF 0x78): both read zlib, 429. */
    @Test
    void aZlibDeflateChatPastTheAllowanceIsRefused429() {
        String s = subject();
        HttpResponse<String> r = send(s, deflate(wholeChat(300_000).getBytes(StandardCharsets.UTF_8), false));
        assertRefusedUncharged(s, r, 429, "300,000-character prompt, zlib deflate");
    }

    /**
     * Found and fixed: the same request as the two-reading body. The filter estimated the zlib reading (no messages,
     * {@code max_tokens} 200) and served it (200, charged 712); the Vert.x service inflates it raw, as Netty does for
     * a zlib header with a window under 32 KB, and called the model with the 66,000-token prompt on a 20,000
     * allowance. Now refused before the model as a body readers take differently (415), nothing held.
     */
    @Test
    void aDeflateBodyThatIsZlibToTheFilterAndRawToNettyIsRefused415() {
        String s = subject();
        HttpResponse<String> r = send(s, polyglot(300_000));
        assertRefusedUncharged(s, r, 415, "300,000-character prompt, deflate read zlib by the filter and raw by Netty");
    }

    // ---------------------------------------------------------------- 2. the size limit (413)

    /** Control: a 1.5 MB chat request as raw deflate inflates past the 1 MiB limit for both readers: 413. */
    @Test
    void aRawDeflateChatPastTheLimitIsRefused413() {
        String s = subject();
        HttpResponse<String> r = send(s, deflate(wholeChat(1_500_000).getBytes(StandardCharsets.UTF_8), true));
        assertRefusedUncharged(s, r, 413, "1.5 MB chat JSON, raw deflate");
    }

    /**
     * Found and fixed: the same 1.5 MB as the two-reading body: the filter inflated 63,222 bytes (served, 200), Netty
     * 1.5 MB past the 1 MiB limit. Now refused as a body readers take differently (415).
     */
    @Test
    void aDeflateBodyPastTheLimitOnlyForNettyIsRefused415() {
        String s = subject();
        HttpResponse<String> r = send(s, polyglot(1_500_000));
        assertRefusedUncharged(s, r, 415, "1.5 MB chat JSON, deflate read zlib by the filter and raw by Netty");
    }

    // ---------------------------------------------------------------- 3. a raw reading that ends inside the body

    /**
     * A zlib body (under {@code 78 01}, the header every reader takes as zlib) whose raw reading ends before the body
     * does (round 420b, found in review). As zlib: a stored block of 65,534 bytes that are no request, then the end.
     * As raw deflate: byte 0 ({@code 0x78}) opens a stored block of LEN 1 (bytes 1-2, {@code 01 00}) and NLEN
     * {@code 0xFFFE} (bytes 3-4, the zlib block's LEN), holding byte 5; byte 6 opens another stored block whose LEN
     * and NLEN are the zlib data's first four bytes ({@code 00 00 FF FF}, empty); from byte 11 the zlib data holds a
     * whole raw stream of the 300,000-character chat request, and after it zeros. A raw reader that ignores what
     * follows its stream's end (Go's {@code flate.NewReader}, a raw {@code java.util.zip.Inflater}) reads the chat
     * request behind one byte (the zlib FLG byte, {@code 0x01}, which a JSON parser refuses: no free call was shown);
     * the filter read the zlib stored bytes, held its 1,000 fallback and passed the body on (this round's service
     * reads zlib, as Netty does, and answered 400). Readers part on such a body, so it is refused before any.
     */
    static byte[] rawStreamInsideZlib() {
        byte[] raw = deflate(wholeChat(300_000).getBytes(StandardCharsets.UTF_8), true);
        byte[] data = new byte[0xFFFE];
        data[2] = (byte) 0xFF;
        data[3] = (byte) 0xFF;
        assertTrue(raw.length <= data.length - 4, "raw stream of " + raw.length + " bytes");
        System.arraycopy(raw, 0, data, 4, raw.length);
        Adler32 adler = new Adler32();
        adler.update(data);
        long a = adler.getValue();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {0x78, 0x01, 0x00, (byte) 0xFE, (byte) 0xFF, 0x01, 0x00});
        body.writeBytes(data);
        // a final empty stored block, then the Adler-32 of the data, big-endian
        body.writeBytes(new byte[] {0x01, 0x00, 0x00, (byte) 0xFF, (byte) 0xFF,
                (byte) (a >>> 24), (byte) (a >>> 16), (byte) (a >>> 8), (byte) a});
        return body.toByteArray();
    }

    /** Self-check: the zlib reading is the 65,534 stored bytes; a raw reader gets one byte, then the chat request. */
    @Test
    void theRawReadingOfTheZlibBodyIsTheChatRequest() {
        byte[] body = rawStreamInsideZlib();
        assertEquals(0xFFFE, inflate(body, false).length);
        byte[] raw = inflate(body, true);
        assertEquals(wholeChat(300_000), new String(raw, 1, raw.length - 1, StandardCharsets.UTF_8));
    }

    /** Round 420b: the body is refused before the model (415; it was held and passed on), nothing held. */
    @Test
    void aZlibBodyWhoseRawReadingEndsInsideItIsRefused415() {
        String s = subject();
        HttpResponse<String> r = send(s, rawStreamInsideZlib());
        assertRefusedUncharged(s, r, 415, "zlib body whose raw reading (a 300,000-character prompt) ends inside it");
    }
}
