package io.tokenquota.servlet;

import io.tokenquota.TokenEstimator;
import java.nio.charset.StandardCharsets;

/**
 * The text of a long JSON string past what {@link JsonDocumentScanner} keeps of it
 * ({@link JsonDocumentScanner#KEPT_STRING_BYTES}), counted from its own bytes as they stream by, never kept: no part
 * of a string is priced at another part's rate. Round 511: the rest of a string was counted at the rate of its first
 * 256 bytes, and when a {@code generated_text} repeats the prompt those are the client's own (320 blanks made a
 * 4,366-token completion count as a few tokens); a model asked to open its answer with blanks or a banner did the same.
 *
 * <p>Every byte of the rest is counted, in pieces of about {@link #PIECE} bytes cut at a space (the estimator counts
 * a word after a space as it does in the whole text), each piece the text goes on after one token more (an estimator
 * rounds each count). Round 527: past the first 64 KB one piece in each group was read, picked by a hash of where the
 * group starts, and the rest priced at the read pieces' rate; a pick fixed by offsets (any rule an answer can know) is
 * known before the answer is written, so blanks laid in the pieces read and digits between them counted a 49,654-token
 * text as some 23,000 (the mirror over-charged two thirds). Counting it all has no pick to lay out against and gives
 * the same figure for the same answer; it costs the estimator's pass over every byte (docs/decisions.md, round 511's
 * entry: this class alone some 17 ms per MB of prose, 25 of base64, about 12 and 21 more than sampling; through the
 * whole sniffer a few tens of ms per MB more at worst), paid only by strings longer
 * than the kept part. Per byte of the rest: a copy into a buffer of {@link #PIECE} bytes. Not thread-safe.
 */
final class StringRest {
    /** The bytes of one piece handed to the estimator. */
    static final int PIECE = 8192;

    private final TokenEstimator estimator;
    /** The piece being read: raw JSON string contents, escapes and all; allocated by the first long string. */
    private byte[] piece;
    private int length;
    /** Where in {@link #piece} the last space (a character of its own) is; -1: none. */
    private int space;
    /** Bytes of the rest so far, and the tokens of the pieces counted of it. */
    private long bytes;
    private long tokens;

    StringRest(TokenEstimator estimator) {
        this.estimator = estimator;
    }

    /** The rest of a string starts, its first byte next. */
    void start() {
        length = 0;
        space = -1;
        bytes = 0;
        tokens = 0;
    }

    /** A byte of the rest, as the answer wrote it; {@code boundary}: it starts a character (or an escape). */
    void accept(byte b, boolean boundary) {
        bytes++;
        // a piece ends at a space when one is in its second half, so no word is cut in two
        if (boundary && length >= PIECE) {
            int cut = space >= PIECE / 2 ? space : length;
            tokens = StreamText.plus(tokens, counted(cut));
            System.arraycopy(piece, cut, piece, 0, length - cut);
            length -= cut;
            space = -1;
        }
        keep(b, boundary);
    }

    private void keep(byte b, boolean boundary) {
        if (piece == null) {
            piece = new byte[PIECE + 8];
        } else if (length == piece.length) {
            // a character longer than a piece's slack (never in UTF-8 or JSON's escapes): counted as it stands
            tokens = StreamText.plus(tokens, counted(length));
            length = 0;
            space = -1;
        }
        if (boundary && b == ' ') {
            space = length;
        }
        piece[length++] = b;
    }

    /** The tokens of the rest, from its start (or its last {@link #start}) to the string's end. */
    long tokens() {
        return bytes == 0 ? 0 : StreamText.plus(tokens, count(0, length));
    }

    /** The tokens of the piece's bytes {@code [from, to)}, decoded as JSON string contents. */
    private long count(int from, int to) {
        return to <= from ? 0 : Math.max(0, estimator.estimate(decode(piece, from, to)));
    }

    /**
     * {@link #count} of a piece the text goes on after, and one more: an estimator rounds each count to the nearest
     * token (the default one), and the pieces' counts are not to add up to less than the whole text's.
     */
    private long counted(int to) {
        return StreamText.plus(count(0, to), 1);
    }

    /**
     * JSON string contents as text: escapes decoded, UTF-8 read; what is malformed (a piece is cut where a character
     * or an escape starts, so only an answer's own errors) read as it stands.
     */
    static String decode(byte[] raw, int from, int to) {
        StringBuilder sb = new StringBuilder(to - from);
        int plain = from;
        int i = from;
        while (i < to) {
            if (raw[i] != '\\') {
                i++;
                continue;
            }
            sb.append(new String(raw, plain, i - plain, StandardCharsets.UTF_8));
            if (i + 1 >= to) {
                plain = i;
                break;
            }
            byte e = raw[i + 1];
            if (e == 'u' && i + 6 <= to) {
                int u = 0;
                boolean hex = true;
                for (int k = i + 2; k < i + 6; k++) {
                    int d = Character.digit(raw[k], 16);
                    hex &= d >= 0;
                    u = u << 4 | (d & 0xF);
                }
                sb.append(hex ? (char) u : '?');
                i += 6;
            } else {
                sb.append(switch (e) {
                    case 'n' -> '\n';
                    case 't' -> '\t';
                    case 'r' -> '\r';
                    case 'b' -> '\b';
                    case 'f' -> '\f';
                    default -> (char) (e & 0xFF);
                });
                i += 2;
            }
            plain = i;
        }
        sb.append(new String(raw, plain, to - plain, StandardCharsets.UTF_8));
        return sb.toString();
    }
}
