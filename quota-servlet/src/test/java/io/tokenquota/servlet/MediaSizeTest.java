package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class MediaSizeTest {
    private static byte[] image(String format, int width, int height) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB), format, out);
        return out.toByteArray();
    }

    @Test
    void readsTheSizeOfPngJpegAndGifHeaders() throws IOException {
        assertArrayEquals(new long[] {2048, 1024}, MediaSize.imageSize(image("png", 2048, 1024)));
        assertArrayEquals(new long[] {640, 480}, MediaSize.imageSize(image("jpg", 640, 480)));
        assertArrayEquals(new long[] {300, 200}, MediaSize.imageSize(image("gif", 300, 200)));
        assertEquals(null, MediaSize.imageSize("not an image at all, just text".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void followsAJpegsSegmentsPastLongMetadataAndHoldsAnUnreadableImageAsUnseen() throws IOException {
        byte[] jpeg = image("jpg", 1024, 768);
        ByteArrayOutputStream padded = new ByteArrayOutputStream();
        padded.write(jpeg, 0, 2);
        for (int i = 0; i < 3; i++) {
            // 3 x 64 KB of APP1 metadata before the frame header
            padded.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xE1, (byte) 0xFF, (byte) 0xFF});
            padded.writeBytes(new byte[0xFFFF - 2]);
        }
        padded.write(jpeg, 2, jpeg.length - 2);
        String url = "data:image/jpeg;base64," + Base64.getEncoder().encodeToString(padded.toByteArray());
        assertEquals(MediaSize.imageTokens(1024, 768, MediaSize.Rate.OPENAI), MediaSize.tokens(url, MediaSize.Rate.OPENAI));
        byte[] noFrame = new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE0, 0, 4, 0, 0, (byte) 0xFF, (byte) 0xD9};
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS, MediaSize.tokens(Base64.getEncoder().encodeToString(noFrame),
                MediaSize.Rate.OPENAI), "a JPEG without a frame header");
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS, MediaSize.tokens("data:image/heic;base64,"
                + Base64.getEncoder().encodeToString(new byte[96]), MediaSize.Rate.OPENAI), "an image format not read");
    }

    @Test
    void readsTheSizeOfAWebpHeader() {
        // RIFF, size, WEBP, a VP8X chunk: flags, reserved, then width-1 and height-1 as 24-bit little endian
        byte[] webp = new byte[30];
        System.arraycopy("RIFF".getBytes(StandardCharsets.US_ASCII), 0, webp, 0, 4);
        System.arraycopy("WEBPVP8X".getBytes(StandardCharsets.US_ASCII), 0, webp, 8, 8);
        webp[24] = (byte) 0xFF; webp[25] = 0x03; // 1023 + 1 = 1024
        webp[27] = (byte) 0xFF; webp[28] = 0x01; // 511 + 1 = 512
        assertArrayEquals(new long[] {1024, 512}, MediaSize.imageSize(webp));
    }

    @Test
    void pricesAnImageAtItsProvidersPublishedRates() {
        // OpenAI: 2048 x 2048 scaled to 768 x 768, four 512-pixel tiles: 85 + 4 x 170
        assertEquals(765, MediaSize.imageTokens(2048, 2048, MediaSize.Rate.OPENAI));
        // Anthropic: 1000 x 1000 / 750
        assertEquals(1334, MediaSize.imageTokens(1000, 1000, MediaSize.Rate.ANTHROPIC));
        // Gemini: within 384 pixels one tile; 1000 x 1000 two by two tiles of 768
        assertEquals(258, MediaSize.imageTokens(300, 300, MediaSize.Rate.GEMINI));
        assertEquals(1032, MediaSize.imageTokens(1000, 1000, MediaSize.Rate.GEMINI));
        assertEquals(1334, MediaSize.imageTokens(1000, 1000, MediaSize.Rate.ANY), "the largest when the provider is not known");
    }

    @Test
    void countsAPdfsPagesAlsoInsideCompressedObjectStreams() {
        StringBuilder pdf = new StringBuilder("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 5 >> endobj\n");
        pdf.append("3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj <</Type/Page/Parent 2 0 R>> endobj\n");
        byte[] objects = "5 0 6 40 7 80 << /Type /Page >> << /Type /Page >> << /Type /Page >>".getBytes(StandardCharsets.ISO_8859_1);
        Deflater deflater = new Deflater();
        deflater.setInput(objects);
        deflater.finish();
        byte[] compressed = new byte[256];
        int n = deflater.deflate(compressed);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(pdf.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.writeBytes("8 0 obj << /Type /ObjStm /N 3 /First 12 /Filter /FlateDecode >>\nstream\n".getBytes(StandardCharsets.ISO_8859_1));
        out.write(compressed, 0, n);
        out.writeBytes("\nendstream\nendobj\n%%EOF\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(5, MediaSize.pdfPages(out.toByteArray()), "two pages in the file, three in its object stream; /Pages is not a page");
        String dataUrl = "data:application/pdf;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
        assertEquals(5 * MediaSize.PDF_PAGE_TOKENS, MediaSize.tokens(dataUrl, MediaSize.Rate.ANY));
    }
    @Test
    void pricesBase64AudioByItsDurationAsItDecodes() {
        // 60 s of 8 kHz mu-law (8,000 bytes a second), past the 64 KB head; OpenAI bills 1 token per 100 ms
        byte[] wav = AudioDurationTest.wav(7, 1, 8_000, 8_000, 8, 480_000, 480_000);
        String base64 = Base64.getEncoder().encodeToString(wav);
        assertEquals(600, MediaSize.tokens(base64, MediaSize.Rate.OPENAI));
        assertEquals(600, MediaSize.tokens("data:audio/wav;base64," + base64, MediaSize.Rate.ANY));
        assertEquals(600, MediaSize.tokens(Base64.getMimeEncoder().encodeToString(wav), MediaSize.Rate.OPENAI), "line breaks");
        // MP3 frames, URL-safe alphabet: 1,000 frames of 1,152 samples at 44.1 kHz, 26.1 s
        String mp3 = Base64.getUrlEncoder().encodeToString(AudioDurationTest.frames(9, 1_000));
        assertEquals(262, MediaSize.tokens(mp3, MediaSize.Rate.OPENAI));
    }
}
