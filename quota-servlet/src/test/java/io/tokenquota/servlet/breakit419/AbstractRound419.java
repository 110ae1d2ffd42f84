package io.tokenquota.servlet.breakit419;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Compression;
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
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.junit.jupiter.api.Test;

/**
 * Round 419 of issue 11 ("no model call goes unpaid"), fresh eyes on the filter's request side. The promise
 * attacked (docs/servlet.md, step 3 "Estimate"): "A body sent with {@code Content-Encoding: gzip} or
 * {@code deflate} is estimated, and held to the size limit, inflated (a small gzip body that inflates past the
 * limit is {@code 413})". The filter inflates with {@code java.util.zip.GZIPInputStream}
 * ({@code QuotaFilter.decoded}), which ends the body at the first thing after a member that is no gzip header:
 * NUL padding between members (JDK {@code GZIPInputStream.readTrailer}: a {@code ZipException} while reading the
 * next header is taken as the end of the stream). The gzip format allows that padding and the common readers
 * inflate past it: CPython's {@code gzip.decompress} (Lib/gzip.py: {@code data = do.unused_data[8:].lstrip(b"\x00")},
 * every member after the padding) and {@code _GzipReader._read_eof} ("Gzip files can be padded with zeroes and
 * still have archives"), the GNU gzip FAQ (gzip.org, #faq8). FastAPI's own documentation of a gzip request body
 * ("Custom Request and APIRoute class", {@code GzipRequest.body}: {@code body = gzip.decompress(body)}) reads it so.
 *
 * <p>The deployment: the filter protecting {@code /ai/} in front of a relay to such a FastAPI service (the README's
 * demo protects "the original Python/FastAPI service's AI paths"), which passes the client's bytes and
 * {@code Content-Encoding} on. The service is played in process: it inflates as {@code gzip.decompress} does
 * ({@link #pythonGzipDecompress}), parses the chat request and answers an OpenAI chat completion stream
 * (API reference, "The chat completion chunk object": {@code chat.completion.chunk} with {@code choices[].delta},
 * then {@code data: [DONE]}; no usage chunk, since the request names no {@code stream_options.include_usage}).
 */
abstract class AbstractRound419 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PATH = "/ai/py/v1/chat/completions";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("fastapi-relay", new FastApiRelay(), "/ai/py/*")
                .servlet("gzip-relay", new GzipAnswerRelay(), "/ai/gz/*");
    }

    /** The FastAPI service behind the relay: gzip request bodies inflated as its documentation shows. */
    class FastApiRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] raw = req.getInputStream().readAllBytes();
            byte[] body = "gzip".equalsIgnoreCase(req.getHeader("Content-Encoding")) ? pythonGzipDecompress(raw) : raw;
            JsonNode chat;
            try {
                chat = JSON.readTree(body);
            } catch (IOException broken) {
                resp.sendError(422);
                return;
            }
            if (chat == null || !chat.has("messages")) {
                resp.sendError(422);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            ChatCompletions.streamWithoutUsage(resp.getOutputStream());
        }
    }

    /**
     * CPython's {@code gzip.decompress} (Lib/gzip.py, 3.12): member after member, each a 10-byte header (no
     * optional fields here: {@code GZIPOutputStream} writes none), raw deflate, an 8-byte trailer, then
     * {@code unused_data[8:].lstrip(b"\x00")}.
     */
    static byte[] pythonGzipDecompress(byte[] data) throws IOException {
        ByteArrayOutputStream members = new ByteArrayOutputStream();
        int at = 0;
        while (at < data.length) {
            if (data.length - at < 10 || (data[at] & 0xFF) != 0x1F || (data[at + 1] & 0xFF) != 0x8B || data[at + 3] != 0) {
                throw new IOException("Not a gzipped file");
            }
            Inflater inflater = new Inflater(true);
            inflater.setInput(data, at + 10, data.length - at - 10);
            byte[] buf = new byte[65536];
            try {
                while (!inflater.finished()) {
                    int n = inflater.inflate(buf);
                    if (n == 0 && inflater.needsInput()) {
                        throw new IOException("Compressed file ended before the end-of-stream marker was reached");
                    }
                    members.write(buf, 0, n);
                }
            } catch (DataFormatException e) {
                throw new IOException(e);
            }
            at = data.length - inflater.getRemaining() + 8;
            inflater.end();
            while (at < data.length && data[at] == 0) {
                at++;
            }
        }
        return members.toByteArray();
    }

    /** {@code json} as one gzip member (what {@code curl --compressed}-style clients and SDKs send). */
    static byte[] oneMember(String json) {
        return Compression.gzip(json.getBytes(StandardCharsets.UTF_8));
    }

    /** {@code json} as two gzip members, its first {@code split} bytes in the first, four NUL bytes between them. */
    static byte[] paddedMembers(String json, int split) {
        return paddedMembers(json, split, null);
    }

    /**
     * As {@link #paddedMembers(String, int)}, the second member's header with FHCRC set (RFC 1952 section 2.3.1:
     * the low two bytes of the CRC-32 of the header before them) and its CRC {@code right} or not; {@code null}:
     * no header CRC, as {@code GZIPOutputStream} writes.
     */
    static byte[] paddedMembers(String json, int split, Boolean right) {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        byte[] first = Compression.gzip(Arrays.copyOfRange(bytes, 0, split));
        byte[] second = Compression.gzip(Arrays.copyOfRange(bytes, split, bytes.length));
        if (right != null) {
            byte[] withCrc = new byte[second.length + 2];
            System.arraycopy(second, 0, withCrc, 0, 10);
            withCrc[3] = 2;
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(withCrc, 0, 10);
            int crc16 = (int) crc.getValue() & 0xFFFF ^ (right ? 0 : 0x5A5A);
            withCrc[10] = (byte) crc16;
            withCrc[11] = (byte) (crc16 >> 8);
            System.arraycopy(second, 10, withCrc, 12, second.length - 10);
            second = withCrc;
        }
        byte[] all = new byte[first.length + 4 + second.length];
        System.arraycopy(first, 0, all, 0, first.length);
        System.arraycopy(second, 0, all, first.length + 4, second.length);
        return all;
    }

    /** A streamed chat request (no {@code stream_options}) whose one user message is {@code chars} of prose. */
    static String chat(int chars) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":200,\"messages\":[{\"role\":\"user\",\"content\":\""
                + "Summarise these minutes. " + Prose.english(chars) + "\"}]}";
    }

    HttpResponse<String> send(String s, byte[] gzipped) {
        return TestHttp.post(container.uri(PATH), gzipped, "x-user-id", s, "Content-Type", "application/json",
                "Content-Encoding", "gzip");
    }

    void assertRefusedUncharged(String s, HttpResponse<String> r, int status, String what) {
        QuotaAccount a = settled(s);
        String figures = kind() + ": " + what + ": status " + r.statusCode() + ", model calls " + calls.of(s) + ", used "
                + a.used() + " of " + a.limit() + " (" + ledger(s) + ")";
        assertEquals(status, r.statusCode(), figures);
        assertEquals(0, calls.of(s), figures);
        assertEquals(0, a.used() + a.reserved(), figures);
    }

    /** The bodies agree: what the service reads from either form is the same chat request. */
    @Test
    void bothFormsInflateToTheSameChatForTheService() throws IOException {
        String json = chat(1_000);
        assertEquals(json, new String(pythonGzipDecompress(oneMember(json)), StandardCharsets.UTF_8));
        assertEquals(json, new String(pythonGzipDecompress(paddedMembers(json, 40)), StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- 1. the size limit (413)

    /** Control: 1.5 MB of chat JSON gzipped in one member inflates past the 1 MiB limit: 413, no call, nothing held. */
    @Test
    void aGzipBodyInflatingPastTheLimitIsRefused413() {
        String s = subject();
        HttpResponse<String> r = send(s, oneMember(chat(1_500_000)));
        assertRefusedUncharged(s, r, 413, "1.5 MB chat JSON, gzip, one member");
    }

    /**
     * Found and fixed: the same 1.5 MB, its first 40 bytes in one gzip member and the rest in a second after four NUL
     * bytes. The filter inflates 40 bytes (broken JSON: the fallback hold), the service inflates it all and calls
     * the model with the 1.5 MB prompt.
     */
    @Test
    void aPaddedGzipBodyInflatingPastTheLimitIsRefused413() {
        String s = subject();
        HttpResponse<String> r = send(s, paddedMembers(chat(1_500_000), 40));
        assertRefusedUncharged(s, r, 413, "1.5 MB chat JSON, gzip, two members with NUL padding between");
    }

    // ---------------------------------------------------------------- 2. the hold (429 past the allowance)

    /**
     * Control: 300,000 characters of prose (about 66,000 tokens, past the 20,000 allowance) gzipped in one member:
     * the estimate does not fit, 429, no call.
     */
    @Test
    void aGzipBodyPastTheAllowanceIsRefused429() {
        String s = subject();
        HttpResponse<String> r = send(s, oneMember(chat(300_000)));
        assertRefusedUncharged(s, r, 429, "300,000-character prompt, gzip, one member");
    }

    /**
     * Found and fixed: the same prompt in two padded members. The filter holds the fallback for 40 bytes of broken
     * JSON; the service reads the whole 66,000-token prompt, and the stream carries no usage, so the call is
     * charged the hold and the text of the answer.
     */
    @Test
    void aPaddedGzipBodyPastTheAllowanceIsRefused429() {
        String s = subject();
        HttpResponse<String> r = send(s, paddedMembers(chat(300_000), 40));
        assertRefusedUncharged(s, r, 429, "300,000-character prompt, gzip, two members with NUL padding between");
    }

    // ---------------------------------------------------------------- 3. a header CRC in the second member (round 419's suspicion)

    /**
     * Found and fixed: the same prompt in two padded members, the second's header naming a CRC (FHCRC) that is
     * wrong. The JDK's reader stops there (the body's end), CPython's skips the header CRC unchecked and reads the
     * member: the filter reads it neither way but refuses it, 415, no call, nothing held.
     */
    @Test
    void aPaddedSecondMemberWithAWrongHeaderCrcIsRefused415() {
        String s = subject();
        HttpResponse<String> r = send(s, paddedMembers(chat(300_000), 40, false));
        assertRefusedUncharged(s, r, 415, "300,000-character prompt, gzip, padded second member with a wrong header CRC");
    }

    /** Control: its header CRC right, the second member is read as any other: the prompt does not fit, 429. */
    @Test
    void aPaddedSecondMemberWithItsHeaderCrcRightIsEstimated429() {
        String s = subject();
        HttpResponse<String> r = send(s, paddedMembers(chat(300_000), 40, true));
        assertRefusedUncharged(s, r, 429, "300,000-character prompt, gzip, padded second member with its header CRC");
    }

    // ---------------------------------------------------------------- 4. the answer side: the same padding rule

    /**
     * A relay that passes its upstream's gzip answer on with its {@code Content-Encoding}: an OpenAI chat completion
     * of 9,000 tokens ({@code usage}), as one member, or in two with NUL padding between and the usage in the second
     * ({@code x-form}: {@code padded}, or {@code padded-wrong-hcrc} with a wrong header CRC on the second member,
     * which CPython's {@code gzip}, the one common reader that reads on past the padding, does not check).
     */
    class GzipAnswerRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String answer = "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
                    + "\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":"
                    + "{\"role\":\"assistant\",\"content\":\"The minutes record that revenue grew.\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":15,\"completion_tokens\":8985,\"total_tokens\":9000}}";
            int split = answer.indexOf("\"usage\"");
            String form = req.getHeader("x-form");
            byte[] bytes = "padded".equals(form) ? paddedMembers(answer, split)
                    : "padded-wrong-hcrc".equals(form) ? paddedMembers(answer, split, false) : oneMember(answer);
            resp.setContentType("application/json");
            resp.setHeader("Content-Encoding", "gzip");
            resp.getOutputStream().write(bytes);
        }
    }

    HttpResponse<String> answered(String s, String form) {
        return TestHttp.post(container.uri("/ai/gz/v1/chat/completions"),
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the minutes.\"}]}"
                        .getBytes(StandardCharsets.UTF_8), "x-user-id", s, "Content-Type", "application/json", "x-form", form);
    }

    /** Control: the answer in one gzip member is charged its usage, 9,000. */
    @Test
    void aGzipAnswerIsChargedItsUsage() {
        String s = subject();
        assertCharged(s, answered(s, "one"), 200, 1, 9_000, "gzip answer, one member");
    }

    /** The answer in two members with NUL padding between, the usage in the second: charged its usage, 9,000. */
    @Test
    void aPaddedGzipAnswerIsChargedTheUsageInItsSecondMember() {
        String s = subject();
        assertCharged(s, answered(s, "padded"), 200, 1, 9_000, "gzip answer, usage in a padded second member");
    }

    /**
     * The same, the second member's header CRC wrong: read as the client that reads past the padding (CPython's
     * {@code gzip}) reads it, its usage charged, 9,000.
     */
    @Test
    void aPaddedGzipAnswerWithAWrongHeaderCrcIsChargedItsUsage() {
        String s = subject();
        assertCharged(s, answered(s, "padded-wrong-hcrc"), 200, 1, 9_000,
                "gzip answer, usage in a padded second member with a wrong header CRC");
    }
}
