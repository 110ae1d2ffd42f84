package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;

/** Pictures a model draws, as the rounds on image answers make and bill them. */
public final class Pictures {
    private Pictures() {
    }

    /** OpenAI's table, output tokens by quality (low, medium, high) and size (1024x1024, 1024x1536, 1536x1024). */
    public static long imageTokens(String size, String quality) {
        long[][] table = {{272, 408, 400}, {1056, 1584, 1568}, {4160, 6240, 6208}};
        int c = switch (size) { case "1024x1024" -> 0; case "1536x1024" -> 2; default -> 1; };
        int r = switch (quality) { case "low" -> 0; case "medium" -> 1; default -> 2; };
        return table[r][c];
    }

    /** The string a top-level-looking field {@code name} of {@code json} holds, or {@code otherwise}. */
    public static String field(String json, String name, String otherwise) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        return m.find() ? m.group(1) : otherwise;
    }

    /** A PNG of the given size: signature, IHDR, an IDAT of noise (a picture compresses poorly), IEND. */
    public static byte[] png(int width, int height, int dataBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) 8).put((byte) 2)
                .put((byte) 0).put((byte) 0).put((byte) 0);
        chunk(out, "IHDR", ihdr.array());
        byte[] data = new byte[dataBytes];
        new java.util.Random(31L * width + height).nextBytes(data);
        chunk(out, "IDAT", data);
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }
}
