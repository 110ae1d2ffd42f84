package io.tokenquota.servlet;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * A {@code multipart/form-data} body, read through the container's own part parser so the endpoint
 * behind the filter still gets its parts ({@code getParts()} answers from the container's cache).
 * The text of the fields and of the files that are text is what the estimate counts, so a document
 * uploaded for summarising costs what its text costs: a file labelled {@code text/*} or JSON, and a
 * file whose content decodes as text whatever its label says (none, {@code application/octet-stream},
 * as many clients send any file; the endpoint may read any part as text). An audio file (see
 * {@link AudioDuration#isAudio}: labelled audio or video, or audio by its structure whatever its
 * label) costs the larger of what the model hears, its duration, and what an endpoint reading it as
 * text would get, its text: both read as it streams past, never held whole, so a text file dressed
 * as audio (an ID3 header in front of prose) costs its text at a summariser. Where the caller names
 * an image rate (an image endpoint: an edit's images are the model's input), an image file costs what
 * {@link MediaSize} reads of it at that rate, as an inline image does. A PDF (told by its bytes,
 * {@code %PDF-}, whatever its label, as a file or a field) costs its pages wherever it is, as an inline
 * PDF does ({@link #document}): its content streams are deflated, so it never reads as text. Other
 * files (images elsewhere, archives) cost the fallback estimate. A part labelled JSON (Spring's
 * {@code @RequestPart} of a request object) is kept apart, to be estimated as a JSON body is: its strings, its budget and its
 * {@code n}, in every charset its label names. The text of a file is also handed out by its part's name, read for a budget as a field's
 * value is: an endpoint may parse a file as its JSON request whatever its label ({@code curl -F
 * request=@chat.json} labels it {@code application/octet-stream}).
 *
 * <p>A field (and a file labelled text) is read in the request's charset, and also in the charset
 * its part's {@code Content-Type} names (RFC 7578 section 4.4); a field is also read in the one a
 * {@code _charset_} field names (the HTML form convention, which names the charset of the form's
 * fields, never of a file's bytes): Jetty decodes a field in those, Tomcat in the request's, so every
 * reading is a value of the field (a budget counts at its largest) and the text counts at its
 * costliest reading. Immutable.
 *
 * @param text         the fields' text, joined
 * @param fields       the values of the parts that are not files, by name (where a budget can be), each
 *                     in every charset a container may read it in
 * @param files        the text of the files that read as text, by name (where a JSON request can be)
 * @param json         the parts labelled JSON, as sent, each with the charsets it may be read in
 * @param audioMillis  the milliseconds of its audio files, added up; -1 when no file is audio
 * @param videoMillis  the milliseconds of pictures those files play (their video tracks), added up
 * @param textTokens   the tokens of the audio files whose text costs more than their duration
 * @param mediaTokens  the tokens of the files {@link MediaSize} measures, added up: PDFs by their pages
 *                     always, images only at the rate asked for
 * @param tooLarge     the parts add up to more than the limit
 * @param unreadable   the container would not parse the parts (no multipart configuration on the
 *                     endpoint, or over its own limits)
 * @param pdfPiece     read with {@code pdfPieces}: its files' bytes, joined (a piece of one PDF, counted
 *                     with the pieces before and after it); {@code null} otherwise
 * @param size         the bytes of the parts read, added up (what a token count's answer is held to)
 */
record MultipartBody(CharSequence text, Map<String, List<String>> fields, Map<String, List<String>> files,
                     List<JsonPart> json, long audioMillis, long videoMillis, long textTokens, long mediaTokens, boolean tooLarge,
                     boolean unreadable, byte[] pdfPiece, long size) {
    /** The HTML form convention's field naming the charset of the form's fields (HTML, 4.10.22.4). */
    private static final String CHARSET_FIELD = "_charset_";

    /**
     * @param tokens    what a text costs, given a view it must not keep
     * @param imageRate the rate files are measured at as the model's input images, or {@code null} to
     *                  leave them to the fallback
     */
    static MultipartBody read(HttpServletRequest request, long limit, Charset charset, ToLongFunction<CharSequence> tokens,
                              MediaSize.Rate imageRate) throws IOException {
        return read(request, limit, charset, tokens, imageRate, false);
    }

    /**
     * As {@link #read(HttpServletRequest, long, Charset, ToLongFunction, MediaSize.Rate)}; with
     * {@code pdfPieces} its files are pieces of one PDF (the parts of a multi-part upload, cut anywhere),
     * kept as {@link #pdfPiece} and not read as text or media: a piece's pages are counted with the
     * pieces beside it.
     */
    static MultipartBody read(HttpServletRequest request, long limit, Charset charset, ToLongFunction<CharSequence> tokens,
                              MediaSize.Rate imageRate, boolean pdfPieces) throws IOException {
        StringBuilder text = new StringBuilder();
        Map<String, List<String>> fields = new LinkedHashMap<>();
        Map<String, List<String>> files = new LinkedHashMap<>();
        List<JsonPart> json = new ArrayList<>();
        java.io.ByteArrayOutputStream pieces = new java.io.ByteArrayOutputStream();
        // the parts read as text, decoded once every _charset_ field is known (it may come last)
        List<TextPart> texts = new ArrayList<>();
        List<Charset> formCharsets = new ArrayList<>();
        long audioMillis = -1;
        long videoMillis = 0;
        long textTokens = 0;
        long mediaTokens = 0;
        long size = 0;
        try {
            for (Part part : request.getParts()) {
                size += Math.max(0, part.getSize());
                if (size > limit) {
                    return new MultipartBody(null, null, null, null, -1, 0, 0, 0, true, false, null, size);
                }
                if (BinaryJson.names(part.getContentType())) {
                    // a CBOR or Smile part, which Spring's @RequestPart binds as JSON (BinaryJson): a document that
                    // is the whole part is read as that JSON alone; one followed by more bytes is read by its
                    // content below as well (text labelled so, which an endpoint reading a file gets whole)
                    BinaryJson.Reading asJson;
                    try (InputStream in = part.getInputStream()) {
                        asJson = BinaryJson.read(in.readAllBytes(), part.getContentType());
                    }
                    if (asJson != null) {
                        json.add(new JsonPart(asJson.json(), List.of()));
                        if (asJson.whole()) {
                            continue;
                        }
                    }
                }
                if (isJson(part.getContentType())) {
                    // Spring binds such a part (file or field) as it binds a JSON body, in the charset its label
                    // names (RFC 7578 section 4.4) where that is not UTF-8/16/32: round 369, a part labelled
                    // charset=IBM037 kept as bytes alone hid its max_tokens (charged 1,921 for 12,800)
                    try (InputStream in = part.getInputStream()) {
                        byte[] bytes = in.readAllBytes();
                        json.add(new JsonPart(bytes, BodyText.readings(charset, BodyText.labelled(part.getContentType()))));
                        mediaTokens = AudioDuration.saturatingAdd(mediaTokens, document(bytes, pdfPieces));
                    }
                } else if (part.getSubmittedFileName() == null || isText(part.getContentType())) {
                    byte[] value;
                    try (InputStream in = part.getInputStream()) {
                        value = in.readAllBytes();
                    }
                    boolean field = part.getSubmittedFileName() == null;
                    if (field && CHARSET_FIELD.equals(part.getName())) {
                        charsetNamed(new String(value, charset)).filter(c -> !formCharsets.contains(c))
                                .ifPresent(formCharsets::add);
                    }
                    texts.add(new TextPart(part.getName(), field, value, BodyText.labelled(part.getContentType())));
                    mediaTokens = AudioDuration.saturatingAdd(mediaTokens, document(value, pdfPieces));
                } else {
                    // the label does not say text: the content decides, by the rule a body is judged by
                    CharSequence content = null;
                    try (InputStream in = part.getInputStream()) {
                        byte[] head = in.readNBytes(AudioDuration.HEAD);
                        if (AudioDuration.isAudio(part.getContentType(), head)) {
                            // audio: what the model hears, and the text a summariser reading the file would
                            // get, both read as the file streams past; the larger counts
                            BodyText.Tally asText = new BodyText.Tally(charset, tokens);
                            AudioDuration.Played played = AudioDuration.played(head, in, asText);
                            long millis = played.sound();
                            long textual = asText.tokens();
                            if (textual > MediaSize.playedTokens(played, AudioDuration.AUDIO_TOKENS_PER_SECOND)) {
                                textTokens = AudioDuration.saturatingAdd(textTokens, textual);
                            } else {
                                audioMillis = AudioDuration.saturatingAdd(Math.max(0, audioMillis), millis);
                                videoMillis = AudioDuration.saturatingAdd(videoMillis, played.video());
                            }
                        } else {
                            byte[] rest = in.readAllBytes();
                            byte[] whole = java.util.Arrays.copyOf(head, head.length + rest.length);
                            System.arraycopy(rest, 0, whole, head.length, rest.length);
                            if (pdfPieces) {
                                pieces.writeBytes(whole);
                                continue;
                            }
                            content = BodyText.text(whole, charset, BodyText.isMedia(part.getContentType()));
                            // a document is measured wherever it rides (document); an image only where the
                            // caller names its rate, and media() reads a document as the inline item it is
                            mediaTokens = AudioDuration.saturatingAdd(mediaTokens, imageRate != null
                                    ? media(whole, part.getContentType(), imageRate) : document(whole, pdfPieces));
                        }
                    }
                    if (content != null) {
                        text.append(content).append('\n');
                        files.computeIfAbsent(part.getName(), k -> new ArrayList<>()).add(content.toString());
                    }
                }
            }
        } catch (ServletException | IllegalStateException e) {
            return new MultipartBody(null, null, null, null, -1, 0, 0, 0, false, true, null, size);
        }
        for (TextPart part : texts) {
            // the request's charset (Tomcat's), the part's own and, for a field, the form's (Jetty's): each
            // reading a value. _charset_ names the charset the browser encoded the form's fields in; a
            // file's bytes are sent as they are on disk and no container decodes them in it
            List<Charset> named = new ArrayList<>(part.labelled());
            if (part.field()) {
                named.addAll(formCharsets);
            }
            List<Charset> charsets = BodyText.readings(charset, named);
            List<String> readings = new ArrayList<>();
            String costliest = null;
            long most = -1;
            for (Charset c : charsets) {
                String reading = new String(part.value(), c);
                if (readings.contains(reading)) {
                    continue;
                }
                readings.add(reading);
                long cost = charsets.size() == 1 ? 0 : tokens.applyAsLong(reading);
                if (cost > most) {
                    most = cost;
                    costliest = reading;
                }
            }
            text.append(costliest).append('\n');
            (part.field() ? fields : files).computeIfAbsent(part.name(), k -> new ArrayList<>()).addAll(readings);
        }
        return new MultipartBody(text, fields, files, json, audioMillis, videoMillis, textTokens, mediaTokens, false, false,
                pdfPieces ? pieces.toByteArray() : null, size);
    }

    /**
     * A part labelled JSON: its bytes, and the charsets it is read in besides its bytes' own (the request's,
     * then those its label names, bounded by {@link BodyText#readings}), as a JSON body is read.
     */
    record JsonPart(byte[] bytes, List<Charset> charsets) {
    }

    /** A part read as text: a field, or a file labelled text; its bytes and the charsets its label names. */
    private record TextPart(String name, boolean field, byte[] value, List<Charset> labelled) {
    }

    /** The charset a {@code _charset_} field's value names, if the JVM knows it. */
    private static java.util.Optional<Charset> charsetNamed(String value) {
        try {
            return java.util.Optional.of(Charset.forName(value.strip()));
        } catch (IllegalArgumentException unknown) {
            // IllegalCharsetNameException and UnsupportedCharsetException both extend it
            return java.util.Optional.empty();
        }
    }

    /**
     * What a part's bytes cost as a document the model reads ({@link MediaSize#documentTokens}: a PDF by
     * its pages), whatever its label says, text or JSON included, and a file or a field alike ({@code curl
     * -F 'file=<report.pdf'} sends the file as a field): a PDF writer deflates its content streams, so its
     * text is never there to count (round 491: a 40-page PDF uploaded to a summariser was held at the
     * fallback). 0 for the pieces of one PDF uploaded in parts, which are counted together
     * ({@link #pdfPiece}).
     */
    private static long document(byte[] bytes, boolean pdfPieces) {
        return pdfPieces ? 0 : MediaSize.documentTokens(bytes);
    }

    /**
     * What {@link MediaSize} reads of a file, as it reads an inline item: a file labelled as an image
     * whose size it cannot read is held as an image it cannot see.
     */
    private static long media(byte[] file, String contentType, MediaSize.Rate rate) {
        boolean image = contentType != null && contentType.toLowerCase(java.util.Locale.ROOT).startsWith("image/");
        String url = (image ? "data:image/unknown;base64," : "data:application/octet-stream;base64,")
                + java.util.Base64.getEncoder().encodeToString(file);
        return MediaSize.tokens(url, rate);
    }

    private static boolean isText(String contentType) {
        if (contentType == null) {
            return false;
        }
        return contentType.toLowerCase(java.util.Locale.ROOT).startsWith("text/");
    }

    private static boolean isJson(String contentType) {
        if (contentType == null) {
            return false;
        }
        String type = contentType.toLowerCase(java.util.Locale.ROOT);
        return type.startsWith("application/json") || type.contains("+json");
    }
}
