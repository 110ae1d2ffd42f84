package io.tokenquota.servlet;

import java.util.List;
import java.util.Map;

/**
 * The output tokens an OpenAI image model ({@code gpt-image-1} and its family) writes for one image,
 * by the request's {@code size} and {@code quality}, as OpenAI's price table counts them, plus 100 for
 * each of the {@code partial_images} a stream sends before the image. A stream cut before its
 * {@code image_generation.completed} event, the only one with usage, is charged the estimate: it must
 * count the image the model was asked to draw. A request is an image model's when its model is named
 * so, or when it goes to an image endpoint ({@link #drawsAt}) whatever model it names: OpenAI names
 * new image models as it pleases ({@code chatgpt-image-latest}), and the table's figures are the most
 * a model of OpenAI's image family bills for a size and quality. Stateless.
 */
final class ImageOutput {
    /** The top-level fields read, in the order {@link #tokens} takes them. */
    static final List<String> FIELDS = List.of("model", "size", "quality");
    static final String PARTIAL_IMAGES = "partial_images";
    private static final String MODELS = "gpt-image";
    /** OpenAI's image endpoints (also under Azure's {@code /openai/deployments/{name}/}). */
    private static final List<String> ENDPOINTS = List.of("/images/generations", "/images/edits");
    private static final long PER_PARTIAL_IMAGE = 100;
    private static final long MOST_PARTIAL_IMAGES = 1_000;

    private ImageOutput() {
    }

    /** Whether a request to {@code path} is an image model's whatever model it names: an image endpoint's. */
    static boolean drawsAt(String path) {
        if (path == null) {
            return false;
        }
        String p = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        return ENDPOINTS.stream().anyMatch(p::endsWith);
    }

    /**
     * The output tokens of one image, or 0 when the request is no image model's (neither named so
     * nor sent to an image endpoint, {@code imageEndpoint}): a size of {@code auto} or one not in the
     * table counts as the largest, a quality of {@code auto} or none as {@code high}.
     */
    static long tokens(String model, boolean imageEndpoint, String size, String quality, long partialImages) {
        if (!imageEndpoint && (model == null || !model.startsWith(MODELS))) {
            return 0;
        }
        return TABLE[row(quality)][column(size)] + Math.min(Math.max(0, partialImages), MOST_PARTIAL_IMAGES) * PER_PARTIAL_IMAGE;
    }

    /**
     * {@link #tokens} for a request whose fields are form or multipart parameters (an image edit as
     * OpenAI's SDKs send it), each name possibly repeated: the dearest reading of them, as an
     * endpoint may take any of the copies.
     */
    static long tokens(Map<String, List<String>> fields, boolean imageEndpoint) {
        List<String> models = fields.getOrDefault("model", List.of());
        boolean named = models.stream().anyMatch(m -> m != null && m.startsWith(MODELS));
        if (!imageEndpoint && !named) {
            return 0;
        }
        // each distinct reading once: a field repeated many times names at most three columns and rows
        java.util.Set<Integer> columns = new java.util.HashSet<>();
        orNone(fields.get("size")).forEach(size -> columns.add(column(size)));
        java.util.Set<Integer> rows = new java.util.HashSet<>();
        orNone(fields.get("quality")).forEach(quality -> rows.add(row(quality)));
        long most = 0;
        for (int r : rows) {
            for (int c : columns) {
                most = Math.max(most, TABLE[r][c]);
            }
        }
        long partials = 0;
        for (String value : fields.getOrDefault(PARTIAL_IMAGES, List.of())) {
            partials = Math.max(partials, Math.min(RequestEstimator.count(value), MOST_PARTIAL_IMAGES));
        }
        return most + partials * PER_PARTIAL_IMAGE;
    }

    /**
     * The output tokens of a picture of {@code width} by {@code height} pixels a model drew, answered as an
     * image ({@code image/png}...) with no usage: the table's figure for the {@code quality} the request named
     * (none: {@code high}) and the size of its shape (square, portrait, landscape), whatever its pixels (a
     * picture model draws at 1,024 pixels a side or more: a smaller picture was drawn so and resized after,
     * round 241); an unknown size ({@code 0}) counts as the largest.
     */
    static long drawn(long width, long height, String quality) {
        return TABLE[row(quality)][shape(width, height)];
    }

    /** The table's column of a picture's shape: square, portrait, landscape; an unknown size ({@code 0}) the largest. */
    static int shape(long width, long height) {
        return width <= 0 || height <= 0 ? 1 : width == height ? 0 : height > width ? 1 : 2;
    }

    /** Pictures counted by kind: OpenAI's by {@link #shape} (0 to 2), and Gemini's ({@link #GEMINI}). */
    static final int KINDS = 4;
    /** Gemini's image model's pictures ({@code inlineData}), billed {@link #GEMINI_IMAGE} each up to 1024x1024. */
    static final int GEMINI = 3;
    /** Google's figure for one output image of Gemini's image model, up to 1024x1024 (its image-generation pricing). */
    static final long GEMINI_IMAGE = 1_290;

    /**
     * The output tokens of pictures counted by kind ({@link #KINDS}): OpenAI's by {@link #shape} ({@link #drawn}
     * each, at the {@code quality} named), Gemini's at {@link #GEMINI_IMAGE} (round 284).
     */
    static long drawn(long[] byKind, String quality) {
        long total = 0;
        for (int c = 0; c < byKind.length; c++) {
            // a count is at most one a document: far below what would overflow
            total = UsageKinds.add(total, byKind[c] * (c == GEMINI ? GEMINI_IMAGE : TABLE[row(quality)][c]));
        }
        return total;
    }

    /**
     * {@code {width, height}} of the picture whose base64 (or {@code data:} URL) starts {@code text}
     * ({@code {0, 0}} when its first bytes do not tell), or {@code null} when it is no picture.
     */
    static long[] base64Picture(String text) {
        String b64 = text;
        int comma = text.startsWith("data:") ? text.indexOf(',') : -1;
        if (comma > 0) {
            b64 = text.substring(comma + 1);
        }
        // MIME's base64 breaks its lines every 76 characters (Java's getMimeEncoder, Python's encodebytes:
        // round 245), which decoders skip
        b64 = b64.replaceAll("[\\s]", "");
        int usable = Math.min(b64.length(), 344) & ~3;
        byte[] head;
        try {
            head = java.util.Base64.getDecoder().decode(b64.substring(0, usable));
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (!MediaSize.isImage(head)) {
            return null;
        }
        long[] size = MediaSize.imageSize(head);
        return size != null ? size : new long[] {0, 0};
    }

    /** A field's values, or one {@code null} (its default) when it is not sent. */
    private static List<String> orNone(List<String> values) {
        return values == null || values.isEmpty() ? java.util.Collections.singletonList(null) : values;
    }

    /** OpenAI's table: output tokens by quality (low, medium, high) and size (1024x1024, 1024x1536, 1536x1024). */
    private static final long[][] TABLE = {{272, 408, 400}, {1056, 1584, 1568}, {4160, 6240, 6208}};

    private static int column(String size) {
        return switch (size == null ? "auto" : size) {
            case "1024x1024" -> 0;
            case "1024x1536" -> 1;
            case "1536x1024" -> 2;
            default -> 1;
        };
    }

    private static int row(String quality) {
        return switch (quality == null ? "high" : quality.toLowerCase(java.util.Locale.ROOT)) {
            case "low" -> 0;
            case "medium" -> 1;
            default -> 2;
        };
    }
}
