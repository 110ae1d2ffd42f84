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
 * <p>The first {@link #EXACT} bytes of the rest are counted whole, in pieces of about {@link #PIECE} bytes cut at a
 * space (the estimator counts a word after a space as it does in the whole text): some 16,000 tokens of prose, most
 * completions whole. Past them (a picture's or a recording's base64, megabytes) one piece is counted in each group of
 * pieces, picked by a hash of where the group starts, so that the pieces read are spread unevenly through the string
 * and the same answer is always counted the same (an accounting figure must not vary from run to run), the groups
 * doubling each time
 * the rest's length does: the estimator reads about {@code EXACT / 2} bytes more each time the string's length doubles,
 * and the rest of those bytes count at the rate of the pieces read among them. Per byte of the rest: a count, and
 * while a piece is read a copy into a buffer of {@link #PIECE} bytes. Not thread-safe.
 */
final class StringRest {
    /** The bytes of the rest counted whole. */
    static final long EXACT = 64 * 1024;
    /** The bytes of one piece handed to the estimator. */
    static final int PIECE = 8192;

    private final TokenEstimator estimator;
    /** The piece being read: raw JSON string contents, escapes and all; allocated by the first long string. */
    private byte[] piece;
    private int length;
    /** Where in {@link #piece} the last space (a character of its own) is; -1: none. */
    private int space;
    /** Bytes of the rest so far, and of them those counted whole, with their tokens. */
    private long bytes;
    private long exactBytes;
    private long exactTokens;
    /** The pieces counted past {@link #EXACT}: their bytes and tokens. */
    private long sampledBytes;
    private long sampledTokens;
    /** Past {@link #EXACT}: pieces a group, the piece of the current group that is read, the current one's index. */
    private long group;
    private long pick;
    private long index;
    /** Bytes of the current piece, read or not. */
    private long inPiece;
    /** When the groups next double: the bytes read by then. */
    private long doubling;

    StringRest(TokenEstimator estimator) {
        this.estimator = estimator;
    }

    /** The rest of a string starts, its first byte next. */
    void start() {
        length = 0;
        space = -1;
        bytes = 0;
        exactBytes = 0;
        exactTokens = 0;
        sampledBytes = 0;
        sampledTokens = 0;
        group = 0;
        inPiece = 0;
    }

    /** A byte of the rest, as the answer wrote it; {@code boundary}: it starts a character (or an escape). */
    void accept(byte b, boolean boundary) {
        bytes++;
        if (group == 0) {
            // counted whole: a piece ends at a space when one is in its second half, so no word is cut in two
            if (boundary && length >= PIECE) {
                int cut = space >= PIECE / 2 ? space : length;
                exactTokens = StreamText.plus(exactTokens, counted(cut));
                System.arraycopy(piece, cut, piece, 0, length - cut);
                length -= cut;
                space = -1;
                if (bytes - 1 - length >= EXACT) {
                    // the rest past EXACT is sampled: what is buffered counts whole, then the first group starts
                    exactTokens = StreamText.plus(exactTokens, counted(length));
                    exactBytes = bytes - 1;
                    length = 0;
                    group = 2;
                    doubling = 2 * EXACT;
                    nextGroup();
                }
            }
            if (group == 0) {
                keep(b, boundary);
                return;
            }
        }
        if (boundary && inPiece >= PIECE) {
            if (index == pick) {
                sampledTokens = StreamText.plus(sampledTokens, counted(length));
                sampledBytes += length;
                length = 0;
            }
            inPiece = 0;
            if (++index == group) {
                if (bytes > doubling) {
                    group *= 2;
                    doubling *= 2;
                }
                nextGroup();
            }
        }
        inPiece++;
        if (index == pick) {
            keep(b, boundary);
        }
    }

    private void nextGroup() {
        index = 0;
        pick = Long.remainderUnsigned(mix(bytes), group);
    }

    /** SplitMix64's finalizer: neighbouring offsets pick unrelated pieces. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private void keep(byte b, boolean boundary) {
        if (piece == null) {
            piece = new byte[PIECE + 8];
        } else if (length == piece.length) {
            // a character longer than a piece's slack (never in UTF-8 or JSON's escapes): counted as it stands
            if (group == 0) {
                exactTokens = StreamText.plus(exactTokens, counted(length));
            } else {
                sampledTokens = StreamText.plus(sampledTokens, counted(length));
                sampledBytes += length;
            }
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
        if (bytes == 0) {
            return 0;
        }
        if (group == 0) {
            return StreamText.plus(exactTokens, count(0, length));
        }
        long read = sampledBytes;
        long tokens = sampledTokens;
        if (index == pick && length > 0) {
            read += length;
            tokens = StreamText.plus(tokens, count(0, length));
        }
        if (read == 0) {
            // no piece past EXACT read yet (the string ended before the group's pick): at the rate of those before
            read = exactBytes;
            tokens = exactTokens;
        }
        double rest = (double) tokens * (bytes - exactBytes) / Math.max(1, read);
        return StreamText.plus(exactTokens, rest >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) Math.ceil(rest));
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
