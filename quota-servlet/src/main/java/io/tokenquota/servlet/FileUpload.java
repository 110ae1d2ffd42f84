package io.tokenquota.servlet;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A request that uploads a file to the provider (OpenAI's Files and Uploads APIs, Anthropic's Files API,
 * Gemini's resumable uploads) through a protected
 * path: no model runs, and an OpenAI batch's requests are the lines of such a file, named later by
 * {@code input_file_id}. An upload answered with the provider's object for its step, alone and without
 * usage, is released ({@link Settlement}); the requests of a batch's input file are estimated as it
 * passes and remembered by the file's id ({@link ProviderState#uploaded}), for the batch that names it.
 *
 * @param step     which request of an upload this is
 * @param uploadId the multi-part upload the path names ({@code /uploads/{id}/parts}, {@code …/complete}),
 *                 or {@code null}
 * @param figure   what the requests of the batch input file it carries may cost, or what the model reads
 *                 of the file (or of the part) it carries when it is no batch's; -1 when not measured (a
 *                 batch part's requests are counted from {@code part}); for {@link Step#CREATE}, 0 when it
 *                 begins a batch's input file
 * @param part     the bytes of a batch upload's part, or of a PDF upload's ({@code null} for any other
 *                 step), which may start and end inside a line or an object: a multi-part upload splits its
 *                 file anywhere
 * @param lines    what the requests of a batch part's whole lines cost ({@code null} for a PDF's part)
 * @param pdf      for {@link Step#CREATE}: the upload says it is a PDF ({@code mime_type}), so its parts are
 *                 pieces of one, measured by the pages each holds
 */
record FileUpload(Step step, String uploadId, long figure, byte[] part, java.util.function.ToLongFunction<byte[]> lines,
                  boolean pdf) {
    enum Step {
        /** {@code POST …/files}: a multipart body of the file and its purpose; answered with the file object. */
        FILE,
        /**
         * Gemini's resumable upload to {@code …/files} (its request says {@code X-Goog-Upload-Command}):
         * answered with {@code X-Goog-Upload-Status}, and once finalized with the file ({@code file.name}).
         */
        GEMINI,
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

    /**
     * The upload a request to {@code path} may be: a step of a multi-part upload (with its upload's id),
     * Gemini's resumable upload ({@code resumable}: the request names an {@code X-Goog-Upload-Command}),
     * or a multipart upload to a files path ({@code multipart}); {@code null} for any other request.
     */
    static FileUpload of(String path, boolean multipart, boolean resumable) {
        Matcher m = STEP.matcher(path);
        if (m.find()) {
            return new FileUpload("parts".equals(m.group(2)) ? Step.PART : Step.COMPLETE, m.group(1), -1, null, null, false);
        }
        if (path.endsWith("/uploads")) {
            return new FileUpload(Step.CREATE, null, -1, null, null, false);
        }
        if (!path.endsWith("/files")) {
            return null;
        }
        return resumable ? new FileUpload(Step.GEMINI, null, -1, null, null, false)
                : multipart ? new FileUpload(Step.FILE, null, -1, null, null, false) : null;
    }

    /** The Gemini upload protocol's request header naming the step, and its answer's status header. */
    static final String GEMINI_COMMAND = "X-Goog-Upload-Command";
    static final String GEMINI_STATUS = "X-Goog-Upload-Status";

    FileUpload withFigure(long tokens) {
        return new FileUpload(step, uploadId, tokens, part, lines, pdf);
    }

    /** An upload's creation that says it is a PDF. */
    FileUpload ofPdf() {
        return new FileUpload(step, uploadId, figure, part, lines, true);
    }

    FileUpload withPart(byte[] bytes, java.util.function.ToLongFunction<byte[]> wholeLines) {
        return new FileUpload(step, uploadId, figure, bytes, wholeLines, pdf);
    }

    /**
     * Whether {@code answer} (the answer's only JSON document, {@code null} when it is none) and its
     * {@code uploadStatus} header ({@link #GEMINI_STATUS}) are the provider's for this step, so that no
     * model was called; what it learnt is remembered in {@code state}.
     */
    boolean answered(JsonDocumentScanner.Document answer, String uploadStatus, ProviderState state) {
        if (step == Step.GEMINI) {
            // the start and every chunk answer with the status alone; the finalized upload with the file
            return uploadStatus != null && (answer == null || answer.fileId() != null);
        }
        if (answer == null) {
            return false;
        }
        switch (step) {
            case FILE -> {
                // OpenAI's file object (or a container's file), or Anthropic's file metadata ("type": "file")
                if (!("file".equals(answer.object()) || "container.file".equals(answer.object())
                        || answer.object() == null && "file".equals(answer.type())) || answer.fileId() == null) {
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
                } else if (pdf) {
                    state.pdfUploadStarted(answer.id());
                }
            }
            case PART -> {
                if (!"upload.part".equals(answer.object())) {
                    return false;
                }
                if (part != null && lines != null) {
                    state.uploadPart(uploadId, part, lines);
                } else {
                    if (part != null) {
                        state.pdfPiece(uploadId, part);
                    }
                    if (figure >= 0) {
                        state.uploadMeasured(uploadId, figure);
                    }
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
