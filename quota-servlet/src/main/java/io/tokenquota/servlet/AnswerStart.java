package io.tokenquota.servlet;

/**
 * Whether the bytes an endpoint wrote under a 2xx are an answer, for the settlement of a call that
 * then ends in an exception or a timeout. A model answered when the endpoint wrote content, not a
 * preamble: white space, event-stream comment lines ({@code : connecting}) and the fields that
 * dispatch no event ({@code retry:}, {@code id:}, {@code event:} lines) are what a relay writes, and
 * often flushes, before it has reached the model. Content that was not sent yet is an answer only
 * once it is whole: a JSON value closed (an envelope opened before the model call, {@code
 * {"conversation_id":"c1","reply":}, is not one), a page whose {@code </body>} or {@code </html>} was
 * written (a server-rendered page writes its head before the fragment that asks the model), or any
 * other text. Not thread-safe: the response feeds it under its own lock.
 */
final class AnswerStart {
    /** The longest field name that dispatches no event ({@code retry}), plus one. */
    private static final int FIELD_NAME_LIMIT = 6;

    private boolean content;
    private boolean whole;
    /** Within a preamble line: the field name read so far, and whether the line is one to skip. */
    private final StringBuilder field = new StringBuilder(FIELD_NAME_LIMIT);
    private boolean skipLine;
    /** A JSON value's nesting depth, and whether the scan stands inside one of its strings. */
    private int depth;
    private boolean inString;
    private boolean escaped;
    /** Markup: the last bytes written, lower-cased, to find the page's closing tag. */
    private boolean markup;
    private final StringBuilder tail = new StringBuilder(8);

    /** Whether content (not a preamble) was written. */
    boolean content() {
        return content;
    }

    /** Whether a whole answer was written: a JSON value closed, or text of any other kind. */
    boolean whole() {
        return whole;
    }

    void feed(byte[] b, int off, int len) {
        for (int i = off; i < off + len && !whole; i++) {
            int c = b[i] & 0xFF;
            if (content && markup) {
                markup(c);
            } else if (content) {
                json(c);
            } else {
                preamble(c);
            }
        }
    }

    private void preamble(int c) {
        if (c == '\n' || c == '\r') {
            field.setLength(0);
            skipLine = false;
        } else if (skipLine || (field.length() == 0 && (c == ' ' || c == '\t' || c == 0xEF || c == 0xBB || c == 0xBF))) {
            // a skipped line's text, or white space (a byte order mark's bytes among it) between lines
        } else if (c == ':' && isSilentField(field)) {
            skipLine = true;
        } else if (c >= 'a' && c <= 'z' && field.length() < FIELD_NAME_LIMIT) {
            field.append((char) c);
        } else {
            // content: the field name (a "data" line's, a word of text) or the value starts here
            content = true;
            int first = field.length() > 0 ? field.charAt(0) : c;
            if (first == '{' || first == '[') {
                depth = 1;
            } else if (first == '<') {
                markup = true;
                tail.append('<');
            } else {
                whole = true;
            }
        }
    }

    private static boolean isSilentField(StringBuilder name) {
        String n = name.toString();
        return n.isEmpty() || n.equals("retry") || n.equals("id") || n.equals("event");
    }

    private void markup(int c) {
        if (tail.length() == 7) {
            tail.deleteCharAt(0);
        }
        tail.append(Character.toLowerCase((char) c));
        String last = tail.toString();
        whole = last.equals("</html>") || last.endsWith("</body>");
    }

    private void json(int c) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            whole = true;
        }
    }
}
