package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The image an image model is asked to draw, by its model's name or by the endpoint it goes to. */
final class ImageOutputTest {

    @Test
    void anImageEndpointDrawsWhateverModelItNames() {
        assertTrue(ImageOutput.drawsAt("/ai/v1/images/generations"));
        assertTrue(ImageOutput.drawsAt("/openai/deployments/img/images/edits"));
        assertTrue(ImageOutput.drawsAt("/v1/images/edits/"));
        assertFalse(ImageOutput.drawsAt("/v1/chat/completions"));
        assertFalse(ImageOutput.drawsAt(null));
        assertEquals(0, ImageOutput.tokens("chatgpt-image-latest", false, "1024x1024", "high", 2));
        assertEquals(4_360, ImageOutput.tokens("chatgpt-image-latest", true, "1024x1024", "high", 2));
        assertEquals(4_360, ImageOutput.tokens("gpt-image-1", false, "1024x1024", "high", 2));
        assertEquals(6_240, ImageOutput.tokens(null, true, null, null, 0), "auto size and quality: the largest");
        assertEquals(272, ImageOutput.tokens("dall-e-2", true, "1024x1024", "low", -3));
    }

    @Test
    void formFieldsCountTheirDearestReading() {
        Map<String, List<String>> fields = Map.of("model", List.of("gpt-image-1"), "size", List.of("1024x1024"),
                "quality", List.of("high"), "partial_images", List.of("2"));
        assertEquals(4_360, ImageOutput.tokens(fields, false));
        assertEquals(4_360, ImageOutput.tokens(Map.of("model", List.of("some-new-image-model"), "size",
                List.of("1024x1024"), "quality", List.of("high"), "partial_images", List.of("2")), true));
        assertEquals(0, ImageOutput.tokens(Map.of("model", List.of("whisper-1")), false));
        assertEquals(6_240 + 300, ImageOutput.tokens(Map.of("model", List.of("x"), "size", List.of("1024x1024", "auto"),
                "quality", List.of("low", "high"), "partial_images", List.of("1", "3", "lots")), true));
        assertEquals(6_240, ImageOutput.tokens(Map.of(), true), "no fields: the largest image");
    }

    @Test
    void aDrawnPictureCostsItsShapesFigureWhateverItsPixels() {
        assertEquals(6_240, ImageOutput.drawn(1024, 1536, null), "portrait, no quality named: high");
        assertEquals(1_568, ImageOutput.drawn(1536, 1024, "medium"));
        assertEquals(272, ImageOutput.drawn(1024, 1024, "low"));
        assertEquals(4_160, ImageOutput.drawn(256, 256, "high"), "drawn at 1024 and resized after");
        assertEquals(4_160, ImageOutput.drawn(2048, 2048, "high"));
        assertEquals(6_240, ImageOutput.drawn(0, 0, "high"), "an unknown size: the largest");
    }

    @Test
    void aPicturesSizeIsReadFromTheFirstBytesOfItsBase64() {
        byte[] png = io.tokenquota.servlet.testing.Pictures.png(1536, 1024, 400);
        String b64 = java.util.Base64.getEncoder().encodeToString(png);
        String kept = b64.substring(0, Math.min(256, b64.length()));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {1536, 1024}, ImageOutput.base64Picture(kept));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {1536, 1024},
                ImageOutput.base64Picture("data:image/png;base64," + kept));
        org.junit.jupiter.api.Assertions.assertNull(ImageOutput.base64Picture("VGhlIGxpZ2h0aG91c2Uga2VlcGVy"), "base64 text is no picture");
        org.junit.jupiter.api.Assertions.assertNull(ImageOutput.base64Picture("not base64 at all!"));
        assertEquals(6_208 + 2 * 4_160, ImageOutput.drawn(new long[] {2, 0, 1}, "high"));
    }
}
