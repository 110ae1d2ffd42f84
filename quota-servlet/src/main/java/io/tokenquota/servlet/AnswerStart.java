package io.tokenquota.servlet;

/**
 * Whether the bytes an endpoint wrote under a 2xx are an answer, for the settlement of a call that
 * then ends in an exception, a timeout or a 5xx. A model answered when the endpoint wrote content, not a
 * preamble: white space, event-stream comment lines ({@code : connecting}) and the fields that
 * dispatch no event ({@code retry:}, {@code id:}, {@code event:} lines) are what a relay writes, and
 * often flushes, before it has reached the model. Any other byte is content, down to one word
 * ({@code yes}, a JSON {@code false}), sent yet or not: the filter cannot tell a page's head or a JSON
 * envelope an application opened before it called the model from the model's answer it is wrapping,
 * and where unsure it charges. Not thread-safe: the response feeds it under its own lock.
 */
final class AnswerStart {
    /** The longest field name that dispatches no event ({@code retry}), plus one. */
    private static final int FIELD_NAME_LIMIT = 6;

    private boolean content;
    /** At a preamble line's start: the letters read so far (a field name, or a word), and whether the line is skipped. */
    private final StringBuilder field = new StringBuilder(FIELD_NAME_LIMIT);
    private boolean skipLine;

    /** Whether content (not a preamble) was written: letters that ended without a field's colon are a word. */
    boolean content() {
        return content || (!skipLine && field.length() > 0);
    }

    void feed(byte[] b, int off, int len) {
        for (int i = off; i < off + len && !content; i++) {
            int c = b[i] & 0xFF;
            if (skipLine) {
                skipLine = c != '\n' && c != '\r';
            } else if (c == ':' && isSilentField(field)) {
                skipLine = true;
                field.setLength(0);
            } else if (c >= 'a' && c <= 'z' && field.length() < FIELD_NAME_LIMIT) {
                field.append((char) c);
            } else if (field.length() > 0 || !(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xEF
                    || c == 0xBB || c == 0xBF)) {
                // anything but white space (a byte order mark's bytes among it) between preamble lines
                content = true;
            }
        }
    }

    private static boolean isSilentField(StringBuilder name) {
        String n = name.toString();
        return n.isEmpty() || n.equals("retry") || n.equals("id") || n.equals("event");
    }
}
