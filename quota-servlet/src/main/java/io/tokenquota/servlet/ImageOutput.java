package io.tokenquota.servlet;

import java.util.List;

/**
 * The output tokens an OpenAI image model ({@code gpt-image-1} and its family) writes for one image,
 * by the request's {@code size} and {@code quality}, as OpenAI's price table counts them, plus 100 for
 * each of the {@code partial_images} a stream sends before the image. A stream cut before its
 * {@code image_generation.completed} event, the only one with usage, is charged the estimate: it must
 * count the image the model was asked to draw. Stateless.
 */
final class ImageOutput {
    /** The top-level fields read, in the order {@link #tokens} takes them. */
    static final List<String> FIELDS = List.of("model", "size", "quality");
    static final String PARTIAL_IMAGES = "partial_images";
    private static final String MODELS = "gpt-image";
    private static final long PER_PARTIAL_IMAGE = 100;

    private ImageOutput() {
    }

    /**
     * The output tokens of one image, or 0 when the request is no image model's: a size of
     * {@code auto} or one not in the table counts as the largest, a quality of {@code auto} or none as
     * {@code high}.
     */
    static long tokens(String model, String size, String quality, long partialImages) {
        if (model == null || !model.startsWith(MODELS)) {
            return 0;
        }
        int column = switch (size == null ? "auto" : size) {
            case "1024x1024" -> 0;
            case "1024x1536" -> 1;
            case "1536x1024" -> 2;
            default -> 1;
        };
        long[] row = switch (quality == null ? "high" : quality) {
            case "low" -> new long[] {272, 408, 400};
            case "medium" -> new long[] {1056, 1584, 1568};
            default -> new long[] {4160, 6240, 6208};
        };
        long partial = Math.min(partialImages, 1_000) * PER_PARTIAL_IMAGE;
        return row[column] + partial;
    }
}
