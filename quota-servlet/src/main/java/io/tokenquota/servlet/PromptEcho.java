package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * The prompt a text generation request sends, as small as an answer's text can be compared with it: its length and
 * a digest of it (as UTF-8), and its first bytes, never the prompt itself. Hugging Face's text generation answers
 * ({@code generated_text}: the Inference API's and transformers' {@code TextGenerationPipeline}, which default
 * {@code return_full_text} to true, and TGI's {@code /generate} when a client sets it) repeat the request's
 * {@code inputs} ahead of the completion (round 506: a 4,366-token prompt was charged again as output beside a
 * 312-token completion). Whether an answer's text begins with the prompt is told by the text itself, not by
 * {@code return_full_text}, whose default differs between those servers and which a client may leave out: a
 * {@link Reader} follows each of the answer's JSON strings byte by byte as the scanner passes it (the scanner keeps only
 * a string's first {@link JsonDocumentScanner#KEPT_STRING_BYTES} bytes), decoding its escapes, and tells whether its
 * first {@link #length} bytes are the prompt's. {@link StreamText} decides what such a string counts.
 */
final class PromptEcho {
    /** The prompt's first bytes, compared one by one before the digest: most strings differ at once. */
    private static final int HEAD = 64;

    /** The prompt's length, in UTF-8 bytes. */
    final long length;
    private final byte[] head;
    private final byte[] digest;

    private PromptEcho(byte[] prompt) {
        this.length = prompt.length;
        this.head = java.util.Arrays.copyOf(prompt, Math.min(HEAD, prompt.length));
        this.digest = AnswerCalls.sha256().digest(prompt);
    }

    /** The prompt {@code prompt} as it is compared; {@code null} for an empty one (nothing to repeat). */
    static PromptEcho of(String prompt) {
        return prompt == null || prompt.isEmpty() ? null : new PromptEcho(prompt.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The prompt of a text generation request's JSON body: its top-level {@code inputs} string (Hugging Face's
     * Inference API, a transformers pipeline served as it, TGI's {@code /generate}), the last of a repeated one as a
     * parser reads it; {@code null} when the body holds none.
     */
    static PromptEcho inputs(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            String inputs = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if ("inputs".equals(name)) {
                    inputs = value == JsonToken.VALUE_STRING ? p.getText() : null;
                }
                p.skipChildren();
            }
            return of(inputs);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * {@link #inputs} of {@code body}, read once, when first asked (an answer's first text), whichever of an answer's
     * readers asks; the body is let go once read.
     */
    static java.util.function.Supplier<PromptEcho> sentIn(byte[] body) {
        return new java.util.function.Supplier<>() {
            private byte[] sent = body;
            private PromptEcho read;

            @Override
            public synchronized PromptEcho get() {
                if (sent != null) {
                    read = inputs(sent);
                    sent = null;
                }
                return read;
            }
        };
    }

    /** A reader of an answer's strings, one at a time. */
    Reader reader() {
        return new Reader();
    }

    /**
     * Follows one JSON string's raw bytes (between its quotes) as text: its escapes decoded, written as UTF-8 (a lone
     * surrogate as {@code ?}, as Java writes the prompt's), counted and, up to the prompt's length, compared with it.
     * Not thread-safe.
     */
    final class Reader {
        /** The digest of the string's text so far, made when a string's first bytes are the prompt's. */
        private MessageDigest running;
        /** Bytes of the string's text so far. */
        private long count;
        /** Its text so far is the prompt's beginning. */
        private boolean same;
        private boolean escaped;
        private int hexLeft;
        private int hex;
        /** A high surrogate written as an escape, waiting for its low one. */
        private int high;
        private boolean matched;

        /** A string opens. */
        void start() {
            if (running != null) {
                running.reset();
            }
            count = 0;
            same = true;
            escaped = false;
            hexLeft = 0;
            high = 0;
            matched = false;
        }

        /**
         * A byte of the string's contents, as the answer wrote it: whether it is the one that ends the prompt, the
         * string's text so far being the prompt (what follows is the model's).
         */
        boolean accept(byte b) {
            boolean before = matched;
            read(b);
            return matched && !before;
        }

        private void read(byte b) {
            if (hexLeft > 0) {
                hex = hex << 4 | Character.digit(b, 16) & 0xF;
                if (--hexLeft == 0) {
                    unit((char) hex);
                }
                return;
            }
            if (escaped) {
                escaped = false;
                switch (b) {
                    case 'u' -> {
                        hexLeft = 4;
                        hex = 0;
                    }
                    case 'n' -> text((byte) '\n');
                    case 't' -> text((byte) '\t');
                    case 'r' -> text((byte) '\r');
                    case 'b' -> text((byte) '\b');
                    case 'f' -> text((byte) '\f');
                    default -> text(b);
                }
            } else if (b == '\\') {
                escaped = true;
            } else {
                text(b);
            }
        }

        /** The string closed: whether its text begins with the prompt. */
        boolean end() {
            lone();
            return matched;
        }

        /** The bytes of the string's text, once it closed. */
        long length() {
            return count;
        }

        private void unit(char c) {
            if (high != 0 && Character.isLowSurrogate(c)) {
                int cp = Character.toCodePoint((char) high, c);
                high = 0;
                write(new String(Character.toChars(cp)));
            } else if (Character.isHighSurrogate(c)) {
                lone();
                high = c;
            } else {
                lone();
                write(Character.isLowSurrogate(c) ? "?" : String.valueOf(c));
            }
        }

        private void write(String s) {
            for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
                next(b);
            }
        }

        private void lone() {
            if (high != 0) {
                high = 0;
                next((byte) '?');
            }
        }

        private void text(byte b) {
            lone();
            next(b);
        }

        private void next(byte b) {
            count++;
            if (!same || count > length) {
                return;
            }
            if (count <= head.length) {
                same = head[(int) count - 1] == b;
                if (!same) {
                    return;
                }
            }
            if (running == null) {
                running = AnswerCalls.sha256();
            }
            running.update(b);
            if (same && count == length) {
                matched = MessageDigest.isEqual(running.digest(), digest);
            }
        }
    }
}
