package io.tokenquota.servlet;

/**
 * Whether the bytes an endpoint wrote under a 2xx are an answer, for the settlement of a call that
 * then ends in an exception or a timeout. A model answered when the endpoint wrote content, not a
 * preamble: white space, event-stream comment lines ({@code : connecting}) and the fields that
 * dispatch no event ({@code retry:}, {@code id:}, {@code event:} lines) are what a relay writes, and
 * often flushes, before it has reached the model. Any other text is content, down to one word
 * ({@code yes}, a JSON {@code false}).
 *
 * <p>Content that was not sent yet is an answer once it is whole. The exceptions are what an endpoint
 * writes before it calls the model: a JSON object is whole once it closes (an envelope opened first,
 * {@code {"conversation_id":"c1","reply":}, is not), a JSON array once its first element is written
 * (a stream of chunks, as Gemini's, cut after its first), and a page that starts as a document
 * ({@code <!DOCTYPE} or {@code <html}) once its {@code </body>} or {@code </html>} is written (a
 * server-rendered page writes its head before the fragment that asks the model); any other markup (an
 * htmx fragment, a reasoning model's {@code <think>}) is text. Not thread-safe: the response feeds it
 * under its own lock.
 */
final class AnswerStart {
    /** The longest field name that dispatches no event ({@code retry}), plus one. */
    private static final int FIELD_NAME_LIMIT = 6;
    private static final String[] PAGE_STARTS = {"<!doctype", "<html"};

    private boolean content;
    private boolean whole;
    /** At a preamble line's start: the letters read so far (a field name, or a word), and whether the line is skipped. */
    private final StringBuilder field = new StringBuilder(FIELD_NAME_LIMIT);
    private boolean skipLine;
    /** A JSON value: its first character, its nesting depth, whether the scan is inside a string. */
    private int json;
    private int depth;
    private boolean inString;
    private boolean escaped;
    /** Markup: its first characters, lower-cased, until they tell a page; a page's last ones. */
    private StringBuilder markupStart;
    private StringBuilder pageTail;

    /** Whether content (not a preamble) was written. */
    boolean content() {
        return content || word();
    }

    /** Whether a whole answer was written (markup too short to tell a document counts as text). */
    boolean whole() {
        return whole || word() || markupStart != null;
    }

    /** Letters that ended without the colon of a field: a word of text. */
    private boolean word() {
        return !content && !skipLine && field.length() > 0;
    }

    void feed(byte[] b, int off, int len) {
        for (int i = off; i < off + len && !whole; i++) {
            int c = b[i] & 0xFF;
            if (!content) {
                preamble(c);
            } else if (json != 0) {
                json(c);
            } else if (markupStart != null) {
                markupStart(c);
            } else {
                pageEnd(c);
            }
        }
    }

    private void preamble(int c) {
        if (skipLine) {
            skipLine = c != '\n' && c != '\r';
        } else if (c == ':' && isSilentField(field)) {
            skipLine = true;
            field.setLength(0);
        } else if (c >= 'a' && c <= 'z' && field.length() < FIELD_NAME_LIMIT) {
            field.append((char) c);
        } else if (field.length() == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xEF
                || c == 0xBB || c == 0xBF)) {
            // white space (a byte order mark's bytes among it) between preamble lines
        } else {
            // content: the word read so far (a "data" line's field name, a word of text) or this byte starts it
            content = true;
            int first = field.length() > 0 ? field.charAt(0) : c;
            if (first == '{' || first == '[') {
                json = first;
                depth = 1;
            } else if (first == '<') {
                markupStart = new StringBuilder("<");
            } else {
                whole = true;
            }
        }
    }

    private static boolean isSilentField(StringBuilder name) {
        String n = name.toString();
        return n.isEmpty() || n.equals("retry") || n.equals("id") || n.equals("event");
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
        } else if (c == '}' || c == ']') {
            depth--;
            // an object when it closes; an array when it closes or its first element does
            whole = depth == 0 || (json == '[' && depth == 1);
        } else if (c == ',' && depth == 1 && json == '[') {
            // the first element of an array, a number or a word, is written
            whole = true;
        }
    }

    private void markupStart(int c) {
        markupStart.append(Character.toLowerCase((char) c));
        String start = markupStart.toString();
        for (String page : PAGE_STARTS) {
            if (start.equals(page)) {
                markupStart = null;
                pageTail = new StringBuilder(8);
                return;
            }
            if (page.startsWith(start)) {
                return;
            }
        }
        // not a document: a fragment, or text in angle brackets
        whole = true;
    }

    private void pageEnd(int c) {
        if (pageTail.length() == 7) {
            pageTail.deleteCharAt(0);
        }
        pageTail.append(Character.toLowerCase((char) c));
        String last = pageTail.toString();
        whole = last.equals("</html>") || last.endsWith("</body>");
    }
}
