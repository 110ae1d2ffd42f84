package io.tokenquota.servlet;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A request that uploads a file to the provider (OpenAI's Files and Uploads APIs, Anthropic's Files API) through a protected
 * path: no model runs, and an OpenAI batch's requests are the lines of such a file, named later by
 * {@code input_file_id}. An upload answered with the provider's object for its step, alone and without
 * usage, is released ({@link Settlement}); the requests of a batch's input file are estimated as it
 * passes and remembered by the file's id ({@link ProviderState#uploaded}), for the batch that names it.
 *
 * @param step     which request of an upload this is
 * @param uploadId the multi-part upload the path names ({@code /uploads/{id}/parts}, {@code …/complete}),
 *                 or {@code null}
 * @param figure   what the requests of the batch input file it carries may cost; -1 when it carries no
 *                 batch's requests (a part's are counted from {@code part})
 * @param part     the bytes of a batch upload's part ({@code null} for any other step), which may start and
 *                 end inside a line: a multi-part upload splits its file anywhere
 * @param lines    what the requests of whole lines cost ({@code null} with no {@code part})
 */
record FileUpload(Step step, String uploadId, long figure, byte[] part, java.util.function.ToLongFunction<byte[]> lines) {
    enum Step {
        /** {@code POST /files}: a multipart body of the file and its purpose; answered with the file object. */
        FILE,
        /** {@code POST /uploads}: a JSON body naming the purpose; answered with the upload object. */
        CREATE,
        /** {@code POST /uploads/{id}/parts}: a multipart body of one part's bytes; answered with the part object. */
        PART,
        /** {@code POST /uploads/{id}/complete}: answered with the upload object holding the file object. */
        COMPLETE
    }

    /** The purpose of a file that is a batch's input, as the upload names it. */
    static final String BATCH = "batch";
    private static final Pattern STEP = Pattern.compile("/uploads/([^/]+)/(parts|complete)$");

    /** The step of a multi-part upload {@code path} names, with its upload's id, or {@code null}. */
    static FileUpload ofPath(String path) {
        Matcher m = STEP.matcher(path);
        if (m.find()) {
            return new FileUpload("parts".equals(m.group(2)) ? Step.PART : Step.COMPLETE, m.group(1), -1, null, null);
        }
        return path.endsWith("/uploads") ? new FileUpload(Step.CREATE, null, -1, null, null) : null;
    }

    FileUpload withFigure(long tokens) {
        return new FileUpload(step, uploadId, tokens, part, lines);
    }

    FileUpload withPart(byte[] bytes, java.util.function.ToLongFunction<byte[]> wholeLines) {
        return new FileUpload(step, uploadId, figure, bytes, wholeLines);
    }

    /**
     * Whether {@code answer} (the answer's only JSON document) is the provider's object for this step,
     * so that no model was called; what it learnt is remembered in {@code state}.
     */
    boolean answered(JsonDocumentScanner.Document answer, ProviderState state) {
        if (answer == null) {
            return false;
        }
        switch (step) {
            case FILE -> {
                // OpenAI's file object, or Anthropic's file metadata ("type": "file")
                if (!("file".equals(answer.object()) || answer.object() == null && "file".equals(answer.type()))
                        || answer.fileId() == null) {
                    return false;
                }
                if (figure >= 0) {
                    state.uploaded(answer.fileId(), figure);
                }
            }
            case CREATE -> {
                if (!"upload".equals(answer.object()) || answer.id() == null) {
                    return false;
                }
                if (figure >= 0) {
                    state.uploadStarted(answer.id());
                }
            }
            case PART -> {
                if (!"upload.part".equals(answer.object())) {
                    return false;
                }
                if (part != null) {
                    state.uploadPart(uploadId, part, lines);
                }
            }
            case COMPLETE -> {
                if (!"upload".equals(answer.object()) || answer.fileId() == null) {
                    return false;
                }
                state.uploadCompleted(uploadId, answer.fileId(), lines);
            }
            default -> throw new IllegalStateException(step.name());
        }
        return true;
    }
}
