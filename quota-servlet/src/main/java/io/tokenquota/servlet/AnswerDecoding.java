package io.tokenquota.servlet;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Undoes what an endpoint did to its answer's bytes before the usage reader can read them: a
 * {@code Content-Encoding} of gzip or deflate it set itself (a relay that passes the upstream's
 * compressed bytes on), and AWS's binary event-stream framing ({@code application/vnd.amazon.eventstream},
 * Bedrock's {@code InvokeModelWithResponseStream} and {@code ConverseStream} relayed unchanged), whose
 * payloads are JSON documents (events of the provider's stream), or base64 of them under {@code bytes}. Bounded: it inflates into a
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
     * The decoding for an answer's {@code Content-Encoding} and {@code Content-Type}, or {@code null}
     * when its bytes are read as they are (or cannot be read: brotli, a stacked encoding).
     */
    static AnswerDecoding of(String contentEncoding, String contentType, Sink sink) {
        String encoding = contentEncoding == null ? "" : contentEncoding.trim().toLowerCase(Locale.ROOT);
        if (encoding.equals("gzip") || encoding.equals("x-gzip")) {
            return new Inflating(true, sink);
        }
        if (encoding.equals("deflate")) {
            return new Inflating(false, sink);
        }
        if ((encoding.isEmpty() || encoding.equals("identity")) && contentType != null
                && contentType.toLowerCase(Locale.ROOT).startsWith("application/vnd.amazon.eventstream")) {
            return new EventStream(sink);
        }
        return null;
    }

    /** More of the answer's bytes, as the endpoint wrote them. */
    abstract void feed(byte[] bytes, int off, int len);

    /**
     * Inflates gzip (each member's header and trailer skipped, RFC 1952: an endpoint may compress each
     * event as a member of its own) or deflate, zlib-wrapped as RFC 9110 says or raw as some servers
     * send it, chunk by chunk.
     */
    private static final class Inflating extends AnswerDecoding {
        private final Sink sink;
        private final boolean gzip;
        /** {@code null} while a gzip member's header (or deflate's first bytes) are gathered. */
        private Inflater inflater;
        private final byte[] out = new byte[8192];
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
        /** Bytes of a gzip member's trailer (CRC and size) still to pass over. */
        private int trailerLeft;
        private boolean failed;

        Inflating(boolean gzip, Sink sink) {
            this.sink = sink;
            this.gzip = gzip;
        }

        @Override
        void feed(byte[] bytes, int off, int len) {
            while (len > 0 && !failed) {
                if (trailerLeft > 0) {
                    int n = Math.min(trailerLeft, len);
                    trailerLeft -= n;
                    off += n;
                    len -= n;
                    continue;
                }
                if (inflater == null) {
                    pending.write(bytes, off, len);
                    len = 0;
                    byte[] all = pending.toByteArray();
                    int start = gzip ? gzipHeaderLength(all) : (all.length >= 2 ? 0 : -1);
                    if (start < 0) {
                        return;
                    }
                    pending.reset();
                    // gzip's deflate data is raw; a deflate answer is raw unless it starts with a zlib header
                    inflater = new Inflater(gzip || !zlibHeader(all));
                    bytes = all;
                    off = start;
                    len = all.length - start;
                    continue;
                }
                int consumed = inflate(bytes, off, len);
                off += consumed;
                len -= consumed;
            }
        }

        /** Inflates what it can of the input; how many bytes it took (fewer when the stream or member ended). */
        private int inflate(byte[] bytes, int off, int len) {
            inflater.setInput(bytes, off, len);
            try {
                while (!inflater.needsInput() && !inflater.finished()) {
                    int n = inflater.inflate(out);
                    if (n > 0) {
                        sink.accept(out, 0, n);
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
            if (gzip) {
                // the next member, if any, follows its predecessor's trailer
                trailerLeft = 8;
            } else {
                // one zlib stream: nothing after it is read
                failed = true;
            }
            return taken;
        }

        /** Whether the first two bytes are a zlib header (RFC 1950: deflate, and a checksum that divides by 31). */
        private static boolean zlibHeader(byte[] b) {
            int cmf = b[0] & 0xFF;
            int flg = b[1] & 0xFF;
            return (cmf & 0x0F) == 8 && (cmf * 256 + flg) % 31 == 0;
        }

        /** The gzip header's length once all of it is in {@code b}; -1 before; a broken one fails the decoding. */
        private int gzipHeaderLength(byte[] b) {
            if (b.length < 10) {
                return -1;
            }
            if ((b[0] & 0xFF) != 0x1F || (b[1] & 0xFF) != 0x8B || b[2] != 8) {
                failed = true;
                return -1;
            }
            int flags = b[3] & 0xFF;
            int at = 10;
            if ((flags & 4) != 0) {
                // FEXTRA: a length, then that many bytes
                if (b.length < at + 2) {
                    return -1;
                }
                at += 2 + ((b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8);
            }
            for (int flag : new int[] {8, 16}) {
                // FNAME, FCOMMENT: zero-terminated
                if ((flags & flag) != 0) {
                    while (at < b.length && b[at] != 0) {
                        at++;
                    }
                    if (at >= b.length) {
                        return -1;
                    }
                    at++;
                }
            }
            if ((flags & 2) != 0) {
                // FHCRC
                at += 2;
            }
            return at <= b.length ? at : -1;
        }
    }

    /**
     * AWS's event-stream messages: a 12-byte prelude (total length, headers length, CRC), headers, the
     * payload, a CRC. Each payload goes to the sink as one server-sent event whose data is the
     * payload's document, or what its {@code bytes} field holds in base64 (an InvokeModel chunk).
     */
    private static final class EventStream extends AnswerDecoding {
        private final Sink sink;
        private final ByteArrayOutputStream message = new ByteArrayOutputStream();
        /** Bytes of an oversized message still to pass over. */
        private long skipping;
        private boolean failed;

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
            String json = new String(m, start, end - start, StandardCharsets.UTF_8);
            String inner = base64Bytes(json);
            // each payload is one event of the provider's stream (Anthropic's message_start counts the
            // prompt only as an event): written as a server-sent event for the usage reader
            byte[] event = ("data: " + (inner != null ? inner : json) + "\n\n").getBytes(StandardCharsets.UTF_8);
            sink.accept(event, 0, event.length);
        }

        /** The document under a chunk's {@code {"bytes": "<base64>", …}}, or {@code null} when the payload is not one. */
        private static String base64Bytes(String json) {
            try (com.fasterxml.jackson.core.JsonParser p = Json.REQUEST_SCAN.createParser(json)) {
                if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                    return null;
                }
                com.fasterxml.jackson.core.JsonToken t;
                while ((t = p.nextToken()) == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    t = p.nextToken();
                    if ("bytes".equals(name) && t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING) {
                        return new String(Base64.getDecoder().decode(p.getText()), StandardCharsets.UTF_8);
                    }
                    p.skipChildren();
                }
                return null;
            } catch (java.io.IOException | IllegalArgumentException e) {
                return null;
            }
        }
    }
}
