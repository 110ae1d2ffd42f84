package io.tokenquota.servlet;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Undoes what an endpoint did to its answer's bytes before the usage reader can read them: a
 * {@code Content-Encoding} of gzip or deflate (or several of them stacked) it set itself (a relay that passes the upstream's
 * compressed bytes on), and AWS's binary event-stream framing ({@code application/vnd.amazon.eventstream},
 * Bedrock's {@code InvokeModelWithResponseStream} and {@code ConverseStream} relayed unchanged, under that
 * label or any other: told by its prelude, {@link #startsAsEventStream}), whose
 * payloads are JSON documents (events of the provider's stream), or base64 of them under {@code bytes} (a Bedrock
 * agent's answer text there: {@link EventStream#chunk}). Bounded: it inflates into a
 * fixed buffer, and keeps at most one event-stream message of {@link #MAX_MESSAGE} bytes (a larger
 * one is skipped). Not thread-safe; the {@link UsageSniffer} that owns it is.
 */
abstract class AnswerDecoding {
    /** Bedrock sends chunks of a few KB; a message past this is not looked into. */
    static final int MAX_MESSAGE = 1 << 20;

    /** Receives the decoded bytes. */
    interface Sink {
        void accept(byte[] bytes, int off, int len);
    }

    /**
     * The most codings an answer's bytes are undone through, as curl allows (lib/content_encoding.c,
     * {@code MAX_ENCODE_STACK}): each holds an inflater and its buffer, and a longer list is not read.
     */
    static final int MAX_CODINGS = 5;

    /**
     * The codings a {@code Content-Encoding} field lists, in the order they were applied, for the request's
     * field and the answer's alike: its lines joined with commas (RFC 9110 section 5.3: several lines are one
     * list), split on commas, trimmed, in lower case, {@code x-gzip} as {@code gzip} (section 8.4.1.3),
     * without {@code identity} (section 8.4.1: no coding) and empty members. Round 383: a relay's
     * {@code gzip, identity}, or an {@code identity} line then a {@code gzip} line, was read as no coding the
     * filter knows, and its answer charged the estimate, 7,010, for a usage of 15,800.
     */
    static List<String> codings(String field) {
        List<String> codings = new ArrayList<>();
        if (field == null) {
            return codings;
        }
        for (String member : field.split(",")) {
            String coding = member.trim().toLowerCase(Locale.ROOT);
            if (!coding.isEmpty() && !coding.equals("identity")) {
                codings.add(coding.equals("x-gzip") ? "gzip" : coding);
            }
        }
        return codings;
    }

    /**
     * The decoding for an answer's {@link #codings} (gzip, deflate, or several of them stacked, each undone in
     * turn from the last applied), or {@code null} when its bytes are read as they are (no coding) or cannot
     * be read (brotli or zstd anywhere in the list, more than {@link #MAX_CODINGS}). Whether the bytes are
     * AWS's event stream is told by {@link UsageSniffer#begin} from the body ({@link #startsAsEventStream}).
     */
    static AnswerDecoding of(List<String> codings, Sink sink) {
        if (codings.size() > MAX_CODINGS) {
            return null;
        }
        AnswerDecoding outer = null;
        Sink next = sink;
        // the first coding applied is undone last: its decoder writes to the sink, and each later one to it
        for (String coding : codings) {
            if (!coding.equals("gzip") && !coding.equals("deflate")) {
                return null;
            }
            AnswerDecoding inner = new Inflating(coding.equals("gzip"), next);
            next = inner::feed;
            outer = inner;
        }
        return outer;
    }

    /**
     * The decoding of AWS's binary event stream, whose payloads go to {@code sink} as server-sent events;
     * {@code agent}: the answer came with the headers only a Bedrock agent's answer has ({@link #agentAnswer});
     * {@code invokeModel}: it came with InvokeModel's own header ({@link #invokeModelAnswer}).
     */
    static AnswerDecoding eventStream(Sink sink, boolean agent, boolean invokeModel) {
        EventStream decoding = new EventStream(sink);
        if (agent) {
            decoding.agentAnswer();
        }
        if (invokeModel) {
            decoding.invokeModelAnswer();
        }
        return decoding;
    }

    /**
     * The answer is a Bedrock agent's ({@code InvokeAgent}, {@code InvokeInlineAgent}: told by the response headers
     * only they send), whose chunks' bytes are its answer's text; nothing for an encoding.
     */
    void agentAnswer() {
    }

    /**
     * The answer is {@code InvokeModelWithResponseStream}'s, by the header only it sends: a chunk that is one JSON
     * object is the provider's event whatever its fields ({@link EventStream#chunk}); nothing for an encoding.
     */
    void invokeModelAnswer() {
    }

    /**
     * Whether a chunk's decoded bytes were handed on as a provider's JSON document (an
     * {@code InvokeModelWithResponseStream} event) while nothing told the stream from a Bedrock agent's: a usage
     * read from them may be the agent's answer text ({@link EventStream#chunk}); {@code false} for an encoding.
     */
    boolean chunkDocuments() {
        return false;
    }

    /** An event-stream message's prelude: total length, headers length, the CRC32 of those 8 bytes. */
    static final int PRELUDE = 12;
    /**
     * The longest event-stream message AWS's own decoder takes (aws-c-event-stream, 16 MiB): a prelude's
     * first byte is 0 or 1. Bedrock's messages are a few KB.
     */
    static final long MAX_FRAME = 16L * 1024 * 1024;

    /**
     * Whether {@code head} starts with a message of AWS's binary event stream, as AWS documents its framing
     * ("Event stream encoding", S3 Select, Transcribe, Bedrock's {@code InvokeModelWithResponseStream} and
     * {@code ConverseStream}): a total length of 16 bytes to 16 MiB, a headers length that leaves room for
     * the prelude and the message CRC, and the prelude's own CRC32 over its first 8 bytes; when the whole
     * first message is in {@code head}, the CRC32 of everything before its last 4 bytes too. A relay labels
     * these bytes however its framework does ({@code application/octet-stream} from Spring's {@code byte[]}
     * converter, round 344), so they are recognised by themselves. Text and JSON start with a byte no
     * prelude has (its first is 0 or 1); a media file's header (an MP4 box, an icon) that does holds no
     * lengths a message can have, and binary data whose bytes 9 to 12 happen to be the CRC32 of its first 8
     * is a chance of one in 2^32.
     */
    static boolean startsAsEventStream(byte[] head) {
        if (head == null || head.length < PRELUDE || !plausiblePrelude(head, head.length)) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(head);
        if (crc32(head, 0, 8) != b.getInt(8)) {
            return false;
        }
        int total = b.getInt(0);
        return total > head.length || crc32(head, 0, total - 4) == b.getInt(total - 4);
    }

    /**
     * Whether {@code head}, fewer than {@link #PRELUDE} bytes (a relay that flushes as its upstream's bytes
     * come), may be the start of an event-stream message: too few to tell, so the format is chosen once
     * 12 bytes came.
     */
    static boolean mayStartEventStream(byte[] head) {
        return head != null && head.length > 0 && head.length < PRELUDE && plausiblePrelude(head, head.length);
    }

    /** Whether the prelude's first {@code n} bytes (up to 8) hold lengths a message can have. */
    private static boolean plausiblePrelude(byte[] head, int n) {
        if ((head[0] & 0xFF) > 1) {
            return false;
        }
        if (n < 4) {
            return true;
        }
        long total = ByteBuffer.wrap(head, 0, 4).getInt() & 0xFFFFFFFFL;
        if (total < 16 || total > MAX_FRAME) {
            return false;
        }
        if (n < 8) {
            return true;
        }
        long headers = ByteBuffer.wrap(head, 4, 4).getInt() & 0xFFFFFFFFL;
        return headers <= total - 16;
    }

    private static int crc32(byte[] b, int off, int len) {
        CRC32 crc = new CRC32();
        crc.update(b, off, len);
        return (int) crc.getValue();
    }

    /** More of the answer's bytes, as the endpoint wrote them. */
    abstract void feed(byte[] bytes, int off, int len);

    /**
     * Inflates gzip (each member's header and trailer skipped, RFC 1952: an endpoint may compress each
     * event as a member of its own, and zero bytes between members are padding, skipped as CPython's
     * {@code gzip} module and the GNU gzip FAQ do) or deflate, zlib-wrapped as RFC 9110 says or raw as some
     * servers send it, chunk by chunk. A gzip member's header is passed over as it streams: its fixed ten bytes
     * are kept, its optional file name, comment and extra field (of any length, the endpoint's or its
     * client's to choose) are skipped byte by byte and never kept, so the memory a request holds does
     * not depend on what the header carries. The one rule for an answer's bytes and a request's body
     * ({@link #checked}): after a member's trailer come zero bytes, then the next member's header or the
     * end; anything else stops it ({@link #complete} is then false).
     */
    static final class Inflating extends AnswerDecoding {
        // RFC 1952 2.3.1: the header's optional parts, in the order they follow the fixed part
        private static final int FHCRC = 2;
        private static final int FEXTRA = 4;
        private static final int FNAME = 8;
        private static final int FCOMMENT = 16;

        private final Sink sink;
        private final boolean gzip;
        /** {@code null} while a gzip member's header (or deflate's first bytes) are passed over. */
        private Inflater inflater;
        private final byte[] out = new byte[8192];
        /** A gzip member's fixed header (10 bytes), or deflate's first two, as far as they came. */
        private final byte[] head = new byte[10];
        private int headLength;
        /** The optional header parts of the current gzip member still to pass over. */
        private int optional;
        /** FEXTRA's length bytes read so far, and the length they make. */
        private int extraLengthBytes;
        private int extraLength;
        /** FHCRC's bytes read so far, and the value they make. */
        private int headerCrcBytes;
        private int headerCrc;
        /** Bytes of the extra field still to pass over. */
        private int skip;
        /** A gzip member's trailer (CRC and size), and its bytes still to come. */
        private final byte[] trailer = new byte[8];
        private int trailerLeft;
        /** The gzip members (or the one deflate stream) inflated to their end. */
        private int members;
        /**
         * For {@link #checked}: the CRC-32 of the current member's header, then of its inflated bytes, and
         * their count; {@code null} for an answer's.
         */
        private final CRC32 crc;
        private long size;
        private boolean failed;
        /**
         * For {@link #checked} deflate whose first two bytes are a zlib header: the other reading of the same
         * bytes (raw where the filter reads zlib, zlib where it reads raw), followed alongside, its output
         * counted and dropped; {@code null} once it failed, or ended with bytes after it.
         */
        private Inflater other;
        private long otherSize;
        /** For {@link #checked}: the inflated size past which the other reading is not followed. */
        private final long limit;

        Inflating(boolean gzip, Sink sink) {
            this(gzip, sink, false, 0);
        }

        private Inflating(boolean gzip, Sink sink, boolean checked, long limit) {
            this.sink = sink;
            this.gzip = gzip;
            this.crc = checked ? new CRC32() : null;
            this.limit = limit;
        }

        /**
         * A request body's inflater (round 419): the same rule, each gzip member's header CRC (when it has
         * one) and trailer checked as the JDK and zlib check them, so a body the endpoint's reader may take
         * otherwise than the filter is not {@link #complete}. An answer's are not checked: its usage is read
         * from every member a client may read, and CPython's {@code gzip}, which reads on past the padding,
         * skips the header CRC unchecked. Deflate (round 420) is one stream with nothing after it, zlib only
         * under the header every reader takes as zlib, and not complete when it also reads whole the other
         * way; that other reading is followed up to {@code limit} inflated bytes, and a body whose other
         * reading passes it is not complete either.
         */
        static Inflating checked(boolean gzip, long limit, Sink sink) {
            return new Inflating(gzip, sink, true, limit);
        }

        /**
         * Whether the bytes fed so far end where a body may: after a gzip member's trailer (and any zero
         * bytes after it) or the deflate stream's end, nothing failed to read or to check before.
         */
        boolean complete() {
            return !failed && members > 0 && inflater == null && trailerLeft == 0 && headLength == 0;
        }

        @Override
        void feed(byte[] bytes, int off, int len) {
            if (other != null && !failed) {
                other(bytes, off, len);
            }
            int end = off + len;
            while (off < end && !failed) {
                if (trailerLeft > 0) {
                    off = trailer(bytes, off, end);
                } else if (inflater != null) {
                    off += inflate(bytes, off, end - off);
                } else if (gzip) {
                    off = gzipHeader(bytes, off, end);
                } else if (members == 0) {
                    off = deflateStart(bytes, off, end);
                } else {
                    // one deflate stream: nothing after it is read, and a request that goes on is refused (round
                    // 420: Netty's HttpContentDecompressor read the bytes after a 63,222-byte zlib stream as more
                    // raw blocks, a 1.5 MB or 66,000-token request the filter had read as that stream)
                    failed = crc != null;
                    return;
                }
            }
        }

        /** Gathers a gzip member's trailer from {@code off}, checking it once whole; where it stopped. */
        private int trailer(byte[] b, int off, int end) {
            int n = Math.min(trailerLeft, end - off);
            System.arraycopy(b, off, trailer, 8 - trailerLeft, n);
            trailerLeft -= n;
            if (trailerLeft == 0 && crc != null) {
                ByteBuffer t = ByteBuffer.wrap(trailer).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                failed = t.getInt(0) != (int) crc.getValue() || t.getInt(4) != (int) size;
            }
            return off + n;
        }

        /** The header bytes {@code b[off, off + n)} passed over, for the header CRC. */
        private void headerBytes(byte[] b, int off, int n) {
            if (crc != null) {
                crc.update(b, off, n);
            }
        }

        /** Passes over gzip header bytes from {@code off}; where it stopped (the inflater is set once the header ended). */
        private int gzipHeader(byte[] b, int off, int end) {
            if (headLength == 0 && members > 0) {
                // round 419: zero bytes after a member are padding, skipped as CPython's gzip.decompress does
                // (its unused_data[8:].lstrip(b"\x00")); read as the end, a 1.5 MB body passed the 1 MiB limit
                // as its 40-byte first member, and a 66,000-token prompt was held the 1,000 fallback
                while (off < end && b[off] == 0) {
                    off++;
                }
                if (off == end) {
                    return end;
                }
            }
            if (headLength < 10) {
                int n = Math.min(10 - headLength, end - off);
                System.arraycopy(b, off, head, headLength, n);
                headLength += n;
                if (headLength == 10) {
                    if ((head[0] & 0xFF) != 0x1F || (head[1] & 0xFF) != 0x8B || head[2] != 8) {
                        failed = true;
                        return end;
                    }
                    optional = head[3] & (FHCRC | FEXTRA | FNAME | FCOMMENT);
                    extraLengthBytes = 0;
                    extraLength = 0;
                    headerCrcBytes = 0;
                    headerCrc = 0;
                    skip = 0;
                    if (crc != null) {
                        crc.reset();
                        crc.update(head, 0, 10);
                    }
                }
                return off + n;
            }
            if (skip > 0) {
                int n = Math.min(skip, end - off);
                headerBytes(b, off, n);
                skip -= n;
                return off + n;
            }
            if ((optional & FEXTRA) != 0) {
                // a two-byte little-endian length, then that many bytes
                headerBytes(b, off, 1);
                extraLength |= (b[off] & 0xFF) << (8 * extraLengthBytes);
                if (++extraLengthBytes == 2) {
                    optional &= ~FEXTRA;
                    skip = extraLength;
                }
                return off + 1;
            }
            if ((optional & (FNAME | FCOMMENT)) != 0) {
                // zero-terminated: the name before the comment
                for (int i = off; i < end; i++) {
                    if (b[i] == 0) {
                        headerBytes(b, off, i + 1 - off);
                        optional &= (optional & FNAME) != 0 ? ~FNAME : ~FCOMMENT;
                        return i + 1;
                    }
                }
                headerBytes(b, off, end - off);
                return end;
            }
            if ((optional & FHCRC) != 0) {
                // the low two bytes of the CRC-32 of the header before them, little-endian
                headerCrc |= (b[off] & 0xFF) << (8 * headerCrcBytes);
                if (++headerCrcBytes == 2) {
                    optional &= ~FHCRC;
                    // round 419: a request's second member with a wrong header CRC, which the JDK's reader
                    // takes as the body's end and CPython's reads, is not read either way but refused (415)
                    failed = crc != null && headerCrc != ((int) crc.getValue() & 0xFFFF);
                }
                return off + 1;
            }
            // the header ended: gzip's deflate data is raw
            headLength = 0;
            inflater = new Inflater(true);
            if (crc != null) {
                crc.reset();
                size = 0;
            }
            return off;
        }

        /** Gathers deflate's first two bytes, which tell zlib-wrapped from raw, and inflates from them on. */
        private int deflateStart(byte[] b, int off, int end) {
            int n = Math.min(2 - headLength, end - off);
            System.arraycopy(b, off, head, headLength, n);
            headLength += n;
            if (headLength == 2) {
                // a deflate answer is raw unless it starts with a zlib header. A request's is zlib under 0x78
                // (CINFO 7), the one header every reader takes as zlib, and raw under no zlib header; any other
                // zlib header is refused, because readers part on it (round 420: Netty's JdkZlibDecoder reads it
                // raw, CPython's and Node's zlib read it as zlib, so a body under CMF 0x58, a 63,222-byte request
                // to the filter's zlib reading, was a 1.5 MB or 66,000-token request to Netty). The other reading
                // is followed beside the filter's, for readers that take every deflate body raw (or zlib)
                if (crc != null && zlibHeader(head) && (head[0] & 0xFF) != 0x78) {
                    failed = true;
                    return end;
                }
                boolean zlib = zlibHeader(head);
                inflater = new Inflater(!zlib);
                if (crc != null && zlibHeader(head)) {
                    other = new Inflater(zlib);
                    other(head, 0, 2);
                    if (other != null) {
                        other(b, off + n, end - off - n);
                    }
                }
                inflate(head, 0, 2);
            }
            return off + n;
        }

        /**
         * Follows the other reading of a request's deflate body over {@code b[off, off + len)}: dropped where
         * it fails; the body is refused once that reading ends (wherever it ends: a reader that takes it may
         * ignore what follows) or inflates past {@link #limit}.
         */
        private void other(byte[] b, int off, int len) {
            if (len == 0) {
                return;
            }
            other.setInput(b, off, len);
            try {
                while (!other.needsInput() && !other.finished() && !other.needsDictionary()) {
                    otherSize += other.inflate(out);
                    if (otherSize > limit) {
                        failed = true;
                        break;
                    }
                }
                if (other.finished()) {
                    // round 420b: a raw reading that ends before the body does (bytes after it) is still a
                    // request to a raw reader that ignores what follows its end (Go's flate.NewReader, a raw
                    // java.util.zip.Inflater): under 78 01, a stored block of one byte, then a raw stream hidden
                    // in the zlib reading's stored data, a 66,000-token prompt behind a body the filter read as
                    // 65,534 bytes of no request. An honest zlib stream read raw fails at its first block's lengths
                    failed = true;
                } else if (!failed && !other.needsDictionary()) {
                    return;
                }
            } catch (DataFormatException e) {
                // not a reading of these bytes: the filter's alone stands
            }
            other.end();
            other = null;
        }

        /** Inflates what it can of the input; how many bytes it took (fewer when the stream or member ended). */
        private int inflate(byte[] bytes, int off, int len) {
            inflater.setInput(bytes, off, len);
            try {
                while (!inflater.needsInput() && !inflater.finished()) {
                    int n = inflater.inflate(out);
                    if (n > 0) {
                        sink.accept(out, 0, n);
                        if (crc != null) {
                            crc.update(out, 0, n);
                            size += n;
                        }
                    } else if (inflater.needsDictionary()) {
                        failed = true;
                        return len;
                    }
                }
            } catch (DataFormatException e) {
                // not what its header said: what was read so far stands
                failed = true;
                return len;
            }
            if (!inflater.finished()) {
                return len;
            }
            int taken = len - inflater.getRemaining();
            inflater.end();
            inflater = null;
            headLength = 0;
            members++;
            if (other != null) {
                // nothing after a request's deflate stream is taken, so the body ends here, and the other reading
                // has seen every byte of it: if it read them whole too, the reader decides which request it is
                failed |= other.finished();
                other.end();
                other = null;
            }
            if (gzip) {
                // the next member, if any, follows its predecessor's trailer
                trailerLeft = 8;
            }
            return taken;
        }

        /** Whether the first two bytes are a zlib header (RFC 1950: deflate, and a checksum that divides by 31). */
        private static boolean zlibHeader(byte[] b) {
            int cmf = b[0] & 0xFF;
            int flg = b[1] & 0xFF;
            return (cmf & 0x0F) == 8 && (cmf * 256 + flg) % 31 == 0;
        }
    }

    /**
     * AWS's event-stream messages: a 12-byte prelude (total length, headers length, CRC), headers, the
     * payload, a CRC. Each payload goes to the sink as one server-sent event (on one line) whose data is the
     * payload's document, or for a chunk what its {@code bytes} field holds in base64 ({@link #chunk}: an
     * InvokeModel chunk's provider event, a Bedrock agent's answer text); but a SageMaker {@code PayloadPart}'s
     * bytes go as they are, pieces of the model server's own stream.
     */
    private static final class EventStream extends AnswerDecoding {
        private final Sink sink;
        private final ByteArrayOutputStream message = new ByteArrayOutputStream();
        /** Bytes of an oversized message still to pass over. */
        private long skipping;
        private boolean failed;
        /** The stream is a Bedrock agent's: its chunks' bytes are text ({@link #chunk}). */
        private boolean agent;
        /** A chunk's bytes went on as a document before the stream was known to be an agent's. */
        private boolean chunkDocuments;
        /** InvokeModel's own header came: a chunk that is one JSON object is the provider's event ({@link #chunk}). */
        private boolean invokeModel;

        EventStream(Sink sink) {
            this.sink = sink;
        }

        @Override
        void feed(byte[] bytes, int off, int len) {
            int end = off + len;
            while (off < end && !failed) {
                if (skipping > 0) {
                    int n = (int) Math.min(skipping, end - off);
                    skipping -= n;
                    off += n;
                    continue;
                }
                int need = message.size() < 12 ? 12 - message.size() : total() - message.size();
                int n = Math.min(need, end - off);
                message.write(bytes, off, n);
                off += n;
                if (message.size() == 12) {
                    long length = total();
                    int headers = ByteBuffer.wrap(message.toByteArray(), 4, 4).getInt();
                    if (length < 16 || headers < 0 || headers > length - 16) {
                        failed = true;
                    } else if (length > MAX_MESSAGE) {
                        skipping = length - 12;
                        message.reset();
                    }
                } else if (message.size() > 12 && message.size() == total()) {
                    payload(message.toByteArray());
                    message.reset();
                }
            }
        }

        private int total() {
            return ByteBuffer.wrap(message.toByteArray(), 0, 4).getInt();
        }

        private void payload(byte[] m) {
            int headers = ByteBuffer.wrap(m, 4, 4).getInt();
            int start = 12 + headers;
            int end = m.length - 4;
            String type = eventType(m, 12, start);
            if (PAYLOAD_PART.equals(type)) {
                // SageMaker's InvokeEndpointWithResponseStream: each PayloadPart is a piece of the model server's
                // own stream (TGI's server-sent events, JSON lines), cut anywhere, as AWS's own reader joins them:
                // passed on as those bytes, read as the server's stream (round 372: wrapped as one event each,
                // no usage was read and the stream's text was charged, 21,363 for 7,625)
                sink.accept(m, start, end - start);
                return;
            }
            if (type != null && AGENT_EVENTS.contains(type)) {
                agent = true;
            }
            String json = new String(m, start, end - start, StandardCharsets.UTF_8);
            String data = chunk(json);
            if (data == null && type != null && (InvokeModelEvents.CONVERSE_EVENTS.contains(type)
                    || AGENT_RUNTIME_EVENTS.contains(type))) {
                // ConverseStream names its event in the :event-type header, its payload is the event's body:
                // wrapped as the event's JSON rendering is ({"contentBlockDelta": {...}}), as AWS's SDKs and
                // the Vercel AI SDK's decoder read it, so its deltas' text counts (round 276); so are a knowledge
                // base's, a flow's and a prompt optimization's events, whose bodies name nothing ({"text": …}
                // alone: rounds 500, 504)
                json = "{\"" + type + "\":" + json + "}";
            }
            // each payload is one event of the provider's stream (Anthropic's message_start counts the
            // prompt only as an event): written as a server-sent event for the usage reader, on one line (a line
            // break in a JSON document is white space) so that nothing in it ends the event or opens another
            byte[] event = ("data: " + (data != null ? data : oneLine(json)) + "\n\n").getBytes(StandardCharsets.UTF_8);
            sink.accept(event, 0, event.length);
        }

        @Override
        void agentAnswer() {
            agent = true;
        }

        @Override
        boolean chunkDocuments() {
            return chunkDocuments;
        }

        @Override
        void invokeModelAnswer() {
            invokeModel = true;
        }

        /**
         * The events only a Bedrock agent's stream has (API reference "InvokeAgent", "InvokeInlineAgent":
         * {@code ResponseStream}): its {@code trace}, {@code returnControl} and {@code files}, which AWS names in the
         * {@code :event-type} header, and no model's text can.
         */
        private static final java.util.Set<String> AGENT_EVENTS = java.util.Set.of("trace", "returnControl", "files");

        /**
         * The events of Bedrock Agent Runtime's knowledge-base, flow and prompt-optimization streams (API reference
         * "RetrieveAndGenerateStream": {@code output}, {@code citation}, {@code guardrail}; "InvokeFlow":
         * {@code flowOutputEvent}, {@code flowMultiTurnInputRequestEvent}, {@code flowTraceEvent},
         * {@code flowCompletionEvent}; "OptimizePrompt": {@code analyzePromptEvent} {@code {"message"}},
         * {@code optimizedPromptEvent} {@code {"optimizedPrompt": {"textPrompt": {"text"}}}}), each told by the
         * {@code :event-type} header AWS sets and rendered as its JSON form, {@code {"output": {"text": …}}},
         * {@code {"flowOutputEvent": {"content": {"document": …}, …}}}: an {@code output} event's body is a bare
         * {@code {"text": …}}, which no reader may count as text in every answer, and the header is what says it is
         * the model's answer (round 500: the knowledge base's and the flow's streams, no usage in either, were charged
         * their hold; round 504: so was OptimizePrompt's, whose rewritten prompt is the model's output). Their text is
         * counted by {@code StreamText}.
         */
        private static final java.util.Set<String> AGENT_RUNTIME_EVENTS = java.util.Set.of("output", "citation",
                "guardrail", "flowOutputEvent", "flowMultiTurnInputRequestEvent", "flowTraceEvent", "flowCompletionEvent",
                "analyzePromptEvent", "optimizedPromptEvent");

        /**
         * A chunk's data as an event ({@code {"bytes": "<base64>", …}}), or {@code null} when the payload is no
         * chunk. Round 474: {@code InvokeModelWithResponseStream}'s chunk and a Bedrock agent's
         * ({@code InvokeAgent}'s {@code PayloadPart}) share the name and the shape, but the first's bytes are the
         * provider's JSON event (with the call's usage), the second's the agent's answer text, which the client can
         * have the agent's model write as any JSON it likes: read as a document, a last chunk
         * {@code {"usage":{"inputTokens":1,"outputTokens":1}}} charged an answer of 5,300 tokens 2, and text with
         * blank lines opened events of its own. So a chunk is the provider's document only while nothing AWS sets
         * says the stream is an agent's: the agent's headers ({@link #agentAnswer}), an event of a kind only an
         * agent's stream has ({@link #AGENT_EVENTS}), a chunk's {@code attribution} (an agent's citations), or a
         * chunk whose bytes are not one JSON object (an InvokeModel chunk's always are: the answer is text), or one
         * that is no event of a model family Bedrock serves ({@link InvokeModelEvents#recognized}; unless InvokeModel's
         * own header came, {@link #invokeModelAnswer}). From then on each chunk's bytes go on as the JSON string of
         * its text, counted as text, whole, and never read as a document. A chunk read as a document before any of
         * these came may still be an agent's (a relay that drops AWS's headers, the trace off, the fake its first
         * chunk written as a provider's event): the usage read from it is charged at least the text the stream
         * carried ({@link #chunkDocuments}, {@code Settlement}).
         *
         * <p>Round 479 had each chunk document count its whole bytes less a 256-token allowance as that text instead.
         * Round 483 took it both ways: an agent's answer in 24 small JSON objects of its own (each under the
         * allowance) ending in a usage of 2 was charged 2 for 5,267 tokens of prose; a genuine Cohere Command R
         * stream, whose {@code stream-end} repeats the answer and the conversation, was charged 10,106 for its 6,642.
         * A provider's event counts the text its format's fields hold; a document that is none is the agent's text.
         */
        private String chunk(String json) {
            Chunk chunk = base64Bytes(json);
            if (chunk == null) {
                return null;
            }
            String decoded = chunk.bytes();
            agent |= chunk.attribution();
            if (!agent && (invokeModel ? oneObject(decoded) : InvokeModelEvents.recognized(decoded))) {
                chunkDocuments = true;
                return oneLine(decoded);
            }
            agent = true;
            return "\"" + new String(com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance().quoteAsString(decoded)) + "\"";
        }

        /** {@code json} with its line breaks (white space between a document's tokens) made spaces. */
        private static String oneLine(String json) {
            return json.indexOf('\n') < 0 && json.indexOf('\r') < 0 ? json : json.replace('\n', ' ').replace('\r', ' ');
        }

        /** Whether {@code text} is one JSON object and nothing but white space after it, as a provider's event is. */
        private static boolean oneObject(String text) {
            try (com.fasterxml.jackson.core.JsonParser p = Json.REQUEST_SCAN.createParser(text)) {
                if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                    return false;
                }
                p.skipChildren();
                return p.nextToken() == null;
            } catch (java.io.IOException e) {
                return false;
            }
        }

        /** SageMaker's response stream event: a piece of the model server's own byte stream. */
        private static final String PAYLOAD_PART = "PayloadPart";

        /**
         * The {@code :event-type} header's string among a message's headers ({@code m[from, to)}), or {@code null}.
         * Each header is a name (a length byte, then the name), a value type byte and its value: a string's
         * or bytes' (types 7, 6) a two-byte length and that many bytes, the others of a fixed size.
         */
        static String eventType(byte[] m, int from, int to) {
            int i = from;
            while (i < to) {
                int nameLength = m[i] & 0xFF;
                if (i + 1 + nameLength + 1 > to) {
                    return null;
                }
                String name = new String(m, i + 1, nameLength, StandardCharsets.UTF_8);
                i += 1 + nameLength;
                int valueType = m[i++];
                int size;
                switch (valueType) {
                    case 0, 1 -> size = 0;
                    case 2 -> size = 1;
                    case 3 -> size = 2;
                    case 4 -> size = 4;
                    case 5, 8 -> size = 8;
                    case 9 -> size = 16;
                    case 6, 7 -> {
                        if (i + 2 > to) {
                            return null;
                        }
                        int length = ((m[i] & 0xFF) << 8) | (m[i + 1] & 0xFF);
                        i += 2;
                        if (i + length > to) {
                            return null;
                        }
                        if (valueType == 7 && ":event-type".equals(name)) {
                            return new String(m, i, length, StandardCharsets.UTF_8);
                        }
                        size = length;
                    }
                    default -> {
                        return null;
                    }
                }
                i += size;
            }
            return null;
        }

        /** A chunk's payload: its {@code bytes} decoded, and whether it carries an agent's {@code attribution}. */
        private record Chunk(String bytes, boolean attribution) {
        }

        /**
         * What a chunk's {@code {"bytes": "<base64>", …}} holds, or {@code null} when the payload is not one. A payload
         * that breaks after its {@code bytes} is still that chunk.
         */
        private static Chunk base64Bytes(String json) {
            String bytes = null;
            boolean attribution = false;
            try (com.fasterxml.jackson.core.JsonParser p = Json.REQUEST_SCAN.createParser(json)) {
                if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                    return null;
                }
                com.fasterxml.jackson.core.JsonToken t;
                while ((t = p.nextToken()) == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    t = p.nextToken();
                    if ("bytes".equals(name) && t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING && bytes == null) {
                        bytes = new String(Base64.getDecoder().decode(p.getText()), StandardCharsets.UTF_8);
                    } else if ("attribution".equals(name) && t == com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                        attribution = true;
                    }
                    p.skipChildren();
                }
            } catch (IllegalArgumentException e) {
                return null;
            } catch (java.io.IOException e) {
                // what came before the break stands
            }
            return bytes == null ? null : new Chunk(bytes, attribution);
        }
    }
}
