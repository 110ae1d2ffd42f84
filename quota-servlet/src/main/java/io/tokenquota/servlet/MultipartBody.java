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
 * {@link MediaSize} reads of it at that rate, as an inline image does. Other files (images elsewhere,
 * archives) cost the fallback estimate. A part labelled JSON (Spring's {@code @RequestPart} of a
 * request object) is kept apart, to be estimated as a JSON body is: its strings, its budget and its
 * {@code n}. Immutable.
 *
 * @param text         the fields' text, joined
 * @param fields       the values of the parts that are not files, by name (where a budget can be)
 * @param json         the parts labelled JSON, as sent
 * @param audioMillis  the milliseconds of its audio files, added up; -1 when no file is audio
 * @param textTokens   the tokens of the audio files whose text costs more than their duration
 * @param mediaTokens  the tokens of the files {@link MediaSize} measures (images) at the rate asked for,
 *                     added up; 0 when none was asked for
 * @param tooLarge     the parts add up to more than the limit
 * @param unreadable   the container would not parse the parts (no multipart configuration on the
 *                     endpoint, or over its own limits)
 */
record MultipartBody(CharSequence text, Map<String, List<String>> fields, List<byte[]> json, long audioMillis,
                     long textTokens, long mediaTokens, boolean tooLarge, boolean unreadable) {

    /**
     * @param tokens    what a text costs, given a view it must not keep
     * @param imageRate the rate files are measured at as the model's input images, or {@code null} to
     *                  leave them to the fallback
     */
    static MultipartBody read(HttpServletRequest request, long limit, Charset charset, ToLongFunction<CharSequence> tokens,
                              MediaSize.Rate imageRate) throws IOException {
        StringBuilder text = new StringBuilder();
        Map<String, List<String>> fields = new LinkedHashMap<>();
        List<byte[]> json = new ArrayList<>();
        long audioMillis = -1;
        long textTokens = 0;
        long mediaTokens = 0;
        long size = 0;
        try {
            for (Part part : request.getParts()) {
                size += Math.max(0, part.getSize());
                if (size > limit) {
                    return new MultipartBody(null, null, null, -1, 0, 0, true, false);
                }
                if (isJson(part.getContentType())) {
                    // Spring binds such a part (file or field) as it binds a JSON body
                    try (InputStream in = part.getInputStream()) {
                        json.add(in.readAllBytes());
                    }
                } else if (part.getSubmittedFileName() == null || isText(part.getContentType())) {
                    String value;
                    try (InputStream in = part.getInputStream()) {
                        value = new String(in.readAllBytes(), charset);
                    }
                    text.append(value).append('\n');
                    if (part.getSubmittedFileName() == null) {
                        fields.computeIfAbsent(part.getName(), k -> new ArrayList<>()).add(value);
                    }
                } else {
                    // the label does not say text: the content decides, by the rule a body is judged by
                    CharSequence content = null;
                    try (InputStream in = part.getInputStream()) {
                        byte[] head = in.readNBytes(AudioDuration.HEAD);
                        if (AudioDuration.isAudio(part.getContentType(), head)) {
                            // audio: what the model hears, and the text a summariser reading the file would
                            // get, both read as the file streams past; the larger counts
                            BodyText.Tally asText = new BodyText.Tally(charset, tokens);
                            long millis = AudioDuration.millis(head, in, asText);
                            long textual = asText.tokens();
                            if (textual > AudioDuration.inputTokens(millis)) {
                                textTokens = AudioDuration.saturatingAdd(textTokens, textual);
                            } else {
                                audioMillis = AudioDuration.saturatingAdd(Math.max(0, audioMillis), millis);
                            }
                        } else {
                            byte[] rest = in.readAllBytes();
                            byte[] whole = java.util.Arrays.copyOf(head, head.length + rest.length);
                            System.arraycopy(rest, 0, whole, head.length, rest.length);
                            content = BodyText.text(whole, charset, BodyText.isMedia(part.getContentType()));
                            if (imageRate != null) {
                                mediaTokens = AudioDuration.saturatingAdd(mediaTokens, media(whole, part.getContentType(), imageRate));
                            }
                        }
                    }
                    if (content != null) {
                        text.append(content).append('\n');
                    }
                }
            }
        } catch (ServletException | IllegalStateException e) {
            return new MultipartBody(null, null, null, -1, 0, 0, false, true);
        }
        return new MultipartBody(text, fields, json, audioMillis, textTokens, mediaTokens, false, false);
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
