package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /**
     * Round 495: a page counts once by its object number (its last version: an incremental update
     * rewrites it), its type read with name escapes decoded, behind bytes before the header, and an
     * object stream is read through its filter chain within a bound of its own.
     */
    @Test
    void countsEachPageObjectOnceByItsNumberWhateverItsSpellingOrFilters() {
        String base = "\r\n%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                + "3 0 obj << /Type /Pag#65 /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page >> endobj\n";
        String update = "4 0 obj << /Type /Page /Annots [9 0 R] >> endobj\n9 0 obj << /Type /Annot >> endobj\n";
        byte[] pdf = (base + update).getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(MediaSize.isPdf(pdf));
        assertEquals(2, MediaSize.pdfPages(pdf), "page 3 spelled /Pag#65, page 4 in two versions");
        assertEquals(2 * MediaSize.PDF_PAGE_TOKENS, MediaSize.documentTokens(pdf));
        assertEquals("hello", new String(PdfPages.asciiHex("68 656C6C6F>".getBytes(StandardCharsets.ISO_8859_1)), StandardCharsets.ISO_8859_1));
        assertEquals("hello", new String(PdfPages.ascii85("BOu!rDZ~>".getBytes(StandardCharsets.ISO_8859_1)), StandardCharsets.ISO_8859_1));
        // a stream that decodes to more than its own bound (8 MB at most; 1,100 times its size, more than one Flate
        // layer can give) is not decoded: an object stream past it counts as its /N instead
        Deflater deflater = new Deflater();
        deflater.setInput(" ".repeat(PdfPages.STREAM_DECODED + (1 << 20)).getBytes(StandardCharsets.ISO_8859_1));
        deflater.finish();
        byte[] padded = new byte[1 << 16];
        int n = deflater.deflate(padded);
        assertEquals(null, PdfPages.decode(java.util.List.of("FlateDecode"), padded, 0, n));
    }

    @Test
    void countsAPdfsPagesAlsoInsideCompressedObjectStreams() {
        StringBuilder pdf = new StringBuilder("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                + "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 5 >> endobj\n");
        pdf.append("3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj <</Type/Page/Parent 2 0 R>> endobj\n");
        // the header's pairs (number, offset from /First) place each object where it starts; objects are read by
        // those offsets in any order, so they must be right (this header's offsets were once 40 and 80, past the
        // data, read loosely only while offsets had to increase)
        byte[] objects = "5 0 6 18 7 36 << /Type /Page >> << /Type /Page >> << /Type /Page >>".getBytes(StandardCharsets.ISO_8859_1);
        Deflater deflater = new Deflater();
        deflater.setInput(objects);
        deflater.finish();
        byte[] compressed = new byte[256];
        int n = deflater.deflate(compressed);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(pdf.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.writeBytes("8 0 obj << /Type /ObjStm /N 3 /First 14 /Filter /FlateDecode >>\nstream\n".getBytes(StandardCharsets.ISO_8859_1));
        out.write(compressed, 0, n);
        out.writeBytes("\nendstream\nendobj\n%%EOF\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(5, MediaSize.pdfPages(out.toByteArray()), "two pages in the file, three in its object stream; /Pages is not a page");
        String dataUrl = "data:application/pdf;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
        assertEquals(5 * MediaSize.PDF_PAGE_TOKENS, MediaSize.tokens(dataUrl, MediaSize.Rate.ANY));
    }

    /**
     * A PDF is measured by one rule wherever the request carries it: its bytes (a multipart file, the
     * whole body) cost what the same bytes inline do, told by their magic, not a label (round 491).
     */
    @Test
    void measuresAPdfsBytesAsTheSamePdfInline() {
        StringBuilder pdf = new StringBuilder("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        for (int i = 0; i < 3; i++) {
            pdf.append(3 + i).append(" 0 obj << /Type /Page /Parent 2 0 R >> endobj\n");
        }
        byte[] bytes = pdf.toString().getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(3 * MediaSize.PDF_PAGE_TOKENS, MediaSize.documentTokens(bytes));
        assertEquals(MediaSize.documentTokens(bytes), MediaSize.tokens("data:application/octet-stream;base64,"
                + Base64.getEncoder().encodeToString(bytes), MediaSize.Rate.ANY), "inline, as in a file or a body");
        assertEquals(0, MediaSize.documentTokens("a report about /Type /Page objects".getBytes(StandardCharsets.US_ASCII)),
                "not a PDF by its bytes");
        assertEquals(0, MediaSize.documentTokens(null));
    }
    @Test
    void pricesAVideosPicturesAtGeminisRateAndItsSoundBeyondThem() {
        // 30 s of video and 40 s of sound: Gemini bills 263 a second of video, its sound included, and
        // 32 a second of the sound that plays on
        byte[] mp4 = AudioDurationTest.concat(AudioDurationTest.ftyp("isom"), AudioDurationTest.box("moov", AudioDurationTest.box("mvhd", new byte[100]),
                AudioDurationTest.track("vide", 1_000, 30, 1_000), AudioDurationTest.track("meta", 1_000, 40, 1_000)),
                AudioDurationTest.box("mdat", new byte[1_000]));
        String base64 = Base64.getEncoder().encodeToString(mp4);
        assertEquals(30 * 263 + 10 * 32, MediaSize.tokens(base64, MediaSize.Rate.GEMINI));
        assertEquals(30 * 263 + 10 * 32, MediaSize.tokens(base64, MediaSize.Rate.ANY));
        // OpenAI's chat models read no video: one in an OpenAI-shaped part is another provider's (Vertex AI)
        assertEquals(30 * 263 + 10 * 32, MediaSize.tokens(base64, MediaSize.Rate.OPENAI));
    }

    @Test
    void pricesAVideoSampledAtItsPartsFrameRateByItsFrames() {
        // 30 s of video and 40 s of sound, as above: held 30 x 263 + 10 x 32 sampled once a second
        AudioDuration.Played played = new AudioDuration.Played(40_000, 30_000);
        long once = 30 * 263 + 10 * 32;
        // ten frames a second: 300 frames at 258, and the sound at 32 a second
        assertEquals(300 * 258 + 40 * 32, MediaSize.sampledTokens(played, 10));
        assertEquals(91 * 258 + 40 * 32, MediaSize.sampledTokens(played, 3.01), "a part of a frame is a frame");
        // above Gemini's most, 24, the call is refused: held as at 24
        assertEquals(720 * 258 + 40 * 32, MediaSize.sampledTokens(played, 100));
        assertEquals(720 * 258 + 40 * 32, MediaSize.sampledTokens(played, Double.POSITIVE_INFINITY));
        // one a second with its sound: 258 + 32 a second where both play
        assertEquals(30 * 258 + 40 * 32, MediaSize.sampledTokens(played, 1));
        // a lower rate bills less: the hold stays what one frame a second holds
        assertEquals(once, MediaSize.sampledTokens(played, 0.2));
        assertEquals(once, MediaSize.sampledTokens(played, 0));
        assertEquals(once, MediaSize.sampledTokens(played, Double.NaN));
        assertEquals(Long.MAX_VALUE, MediaSize.sampledTokens(new AudioDuration.Played(0, Long.MAX_VALUE), 24), "saturates");
    }

    @Test
    void pricesBase64AudioByItsDurationAsItDecodes() {
        // 60 s of 8 kHz mu-law (8,000 bytes a second), past the 64 KB head; OpenAI bills 1 token per 100 ms
        byte[] wav = AudioDurationTest.wav(7, 1, 8_000, 8_000, 8, 480_000, 480_000);
        String base64 = Base64.getEncoder().encodeToString(wav);
        assertEquals(600, MediaSize.tokens(base64, MediaSize.Rate.OPENAI));
        // Gemini hears 32 a second, the highest rate: where the provider is not known, that one
        assertEquals(1_920, MediaSize.tokens(base64, MediaSize.Rate.GEMINI));
        assertEquals(1_920, MediaSize.tokens("data:audio/wav;base64," + base64, MediaSize.Rate.ANY));
        assertEquals(600, MediaSize.tokens(Base64.getMimeEncoder().encodeToString(wav), MediaSize.Rate.OPENAI), "line breaks");
        // MP3 frames, URL-safe alphabet: 1,000 frames of 1,152 samples at 44.1 kHz, 26.1 s
        String mp3 = Base64.getUrlEncoder().encodeToString(AudioDurationTest.frames(9, 1_000));
        assertEquals(262, MediaSize.tokens(mp3, MediaSize.Rate.OPENAI));
    }

    @Test
    void aGifIsAsLargeAsItsFirstFrameReachesPastItsScreen() throws IOException {
        // a 1x1 logical screen, a comment extension, then a 1x1 frame at (767, 2047): Pillow opens it 768x2048
        ByteArrayOutputStream gif = new ByteArrayOutputStream();
        gif.writeBytes(new byte[] {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, (byte) 0x80, 0, 0, 0, 0, 0, -1, -1, -1});
        gif.writeBytes(new byte[] {0x21, (byte) 0xFE, 3, 'h', 'i', '!', 0});
        gif.writeBytes(new byte[] {0x2C, (byte) 0xFF, 0x02, (byte) 0xFF, 0x07, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B});
        assertArrayEquals(new long[] {768, 2048}, MediaSize.imageSize(gif.toByteArray()));
        assertEquals(MediaSize.imageTokens(768, 2048, MediaSize.Rate.OPENAI), MediaSize.tokens(
                Base64.getEncoder().encodeToString(gif.toByteArray()), MediaSize.Rate.OPENAI));
        assertArrayEquals(new long[] {300, 200}, MediaSize.imageSize(image("gif", 300, 200)), "a frame within its screen");
        byte[] noFrame = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0, 0x3B};
        assertEquals(null, MediaSize.imageSize(noFrame), "no frame: no decoder opens it");
    }

    @Test
    void walksAJpegsMarkersAsLibjpegDoes() throws IOException {
        byte[] jpeg = image("jpg", 768, 2048);
        ByteArrayOutputStream crafted = new ByteArrayOutputStream();
        crafted.write(jpeg, 0, 2);
        // RST0 and TEM carry no length, fill bytes lead a marker; a fake 1x1 SOF inside APP1's data is skipped
        crafted.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xD0, (byte) 0xFF, 0x01, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
        crafted.writeBytes(new byte[] {(byte) 0xE1, 0, 12, (byte) 0xFF, (byte) 0xC0, 0, 0x11, 8, 0, 1, 0, 1, 3});
        crafted.write(jpeg, 2, jpeg.length - 2);
        assertArrayEquals(new long[] {768, 2048}, MediaSize.imageSize(crafted.toByteArray()));
        assertEquals(MediaSize.imageTokens(768, 2048, MediaSize.Rate.OPENAI), MediaSize.tokens(
                Base64.getEncoder().encodeToString(crafted.toByteArray()), MediaSize.Rate.OPENAI));
        // a second frame header before the scan: libjpeg refuses it, Pillow takes the last; not known
        ByteArrayOutputStream twoFrames = new ByteArrayOutputStream();
        twoFrames.write(jpeg, 0, 2);
        twoFrames.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xC0, 0, 0x11, 8, 0, 1, 0, 1, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1});
        twoFrames.write(jpeg, 2, jpeg.length - 2);
        assertEquals(null, MediaSize.imageSize(twoFrames.toByteArray()));
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS, MediaSize.tokens(Base64.getEncoder().encodeToString(twoFrames.toByteArray()),
                MediaSize.Rate.OPENAI));
    }

    /** A PNG chunk of {@code type} holding {@code data} (its CRC left 0: decoders here do not check it). */
    private static byte[] pngChunk(String type, byte[] data) {
        return java.nio.ByteBuffer.allocate(12 + data.length).putInt(data.length).put(type.getBytes(StandardCharsets.US_ASCII))
                .put(data).putInt(0).array();
    }

    private static byte[] ihdr(int width, int height) {
        return pngChunk("IHDR", java.nio.ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) 8).array());
    }

    private static byte[] png(byte[]... chunks) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        for (byte[] c : chunks) {
            out.writeBytes(c);
        }
        return out.toByteArray();
    }

    @Test
    void aPngIsMeasuredByItsIhdrWhereverItStandsBeforeTheImageData() {
        byte[] idat = pngChunk("IDAT", new byte[16]);
        byte[] iend = pngChunk("IEND", new byte[0]);
        byte[] other = pngChunk("prVw", java.nio.ByteBuffer.allocate(8).putInt(1).putInt(1).array());
        assertArrayEquals(new long[] {512, 1024}, MediaSize.imageSize(png(ihdr(512, 1024), idat, iend)));
        assertArrayEquals(new long[] {512, 1024}, MediaSize.imageSize(png(other, ihdr(512, 1024), idat, iend)),
                "a chunk before IHDR (Apple's CgBI, a private one) is passed over, as Pillow does");
        assertArrayEquals(new long[] {512, 1024}, MediaSize.imageSize(png(other, pngChunk("x".repeat(4), new byte[70_000]),
                ihdr(512, 1024), idat)), "past the first 64 KB");
        assertArrayEquals(new long[] {512, 1024}, MediaSize.imageSize(png(ihdr(512, 1024))), "a header alone");
        assertEquals(null, MediaSize.imageSize(png(other, idat, ihdr(512, 1024), iend)), "no IHDR before the image data");
        assertEquals(null, MediaSize.imageSize(png(ihdr(1, 1), ihdr(512, 1024), idat)), "two IHDRs");
        assertEquals(null, MediaSize.imageSize(png(pngChunk("IHDR", new byte[8]), idat)), "an IHDR short of 13 bytes");
        // inline: measured through the whole payload, an unreadable one held as an unseen image
        String base64 = "data:image/png;base64," + Base64.getEncoder().encodeToString(png(other, pngChunk("x".repeat(4),
                new byte[70_000]), ihdr(512, 1024), idat));
        assertEquals(MediaSize.imageTokens(512, 1024, MediaSize.Rate.OPENAI), MediaSize.tokens(base64, MediaSize.Rate.OPENAI));
        String unread = "data:image/png;base64," + Base64.getEncoder().encodeToString(png(other, idat, ihdr(1, 1)));
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS, MediaSize.tokens(unread, MediaSize.Rate.OPENAI));
    }

    @Test
    void pricesAnImageAtTheRateOfAnOpenAiModelTheRequestNames() {
        var mini = MediaSize.OpenAiImages.of(java.util.List.of("gpt-4o-mini-2024-07-18"));
        assertEquals(java.util.Set.of(MediaSize.OpenAiImages.GPT_4O_MINI), mini);
        // 1024 x 1024 at 768 x 768: four tiles
        assertEquals(2_833 + 4 * 5_667, MediaSize.imageTokens(1024, 1024, MediaSize.Rate.OPENAI, mini));
        assertEquals(2_833 + 8 * 5_667, MediaSize.unseenImageTokens(false, mini));
        assertEquals(2_833, MediaSize.unseenImageTokens(true, mini));
        // patches: 32 x 32 of 1024 x 1024 at 1.62; past 1,536 the cap; detail low changes nothing
        var patches = MediaSize.OpenAiImages.of(java.util.List.of("openai/GPT-4.1-mini"));
        assertEquals(1_659, MediaSize.imageTokens(1024, 1024, MediaSize.Rate.OPENAI, patches));
        assertEquals(2_489, MediaSize.imageTokens(4000, 3000, MediaSize.Rate.OPENAI, patches));
        assertEquals(2_489, MediaSize.unseenImageTokens(true, patches));
        assertEquals(3_779, MediaSize.unseenImageTokens(false, MediaSize.OpenAiImages.of(java.util.List.of("gpt-4.1-nano"))));
        assertEquals(2_642, MediaSize.unseenImageTokens(false, MediaSize.OpenAiImages.of(java.util.List.of("o4-mini"))));
        // a small image on a patch model costs less than gpt-4o's tile: the part's rate stands
        assertEquals(MediaSize.imageTokens(64, 64, MediaSize.Rate.OPENAI), MediaSize.imageTokens(64, 64,
                MediaSize.Rate.OPENAI, patches));
        // a fine-tune bills images as its base model, behind a gateway's prefix too
        assertEquals(mini, MediaSize.OpenAiImages.of(java.util.List.of("ft:gpt-4o-mini-2024-07-18:acme-logistics::A1b2C3d4")));
        assertEquals(mini, MediaSize.OpenAiImages.of(java.util.List.of("openai/FT:gpt-4o-mini:acme:parcels/v2:x")));
        assertEquals(java.util.Set.of(), MediaSize.OpenAiImages.of(java.util.List.of("ft:gpt-4o-2024-08-06:acme::x")));
        assertEquals("gpt-4o-mini", MediaSize.OpenAiImages.baseName(" ft:gpt-4o-mini"));
        // models billed at gpt-4o's rate or below, and unknown ones: today's figures
        var others = MediaSize.OpenAiImages.of(java.util.List.of("gpt-4o", "gpt-4.1", "o3", "claude-sonnet-4", "my-deployment"));
        assertEquals(java.util.Set.of(), others);
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS, MediaSize.unseenImageTokens(false, others));
        assertEquals(MediaSize.LOW_DETAIL_IMAGE_TOKENS, MediaSize.unseenImageTokens(true, others));
    }
}
