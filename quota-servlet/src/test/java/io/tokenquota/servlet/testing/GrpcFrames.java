package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * gRPC's length-prefixed messages, as gRPC, gRPC-Web and Connect frame them (grpc/grpc
 * {@code doc/PROTOCOL-HTTP2.md}: a flags byte, a 4-byte big-endian length, the message; gRPC-Web's
 * {@code doc/PROTOCOL-WEB.md} sets the flags' high bit on its trailer frame, Connect's streaming protocol 0x02
 * on its end-of-stream message), and the protobuf of the Gemini request the rounds send (rounds 356, 380, 381).
 */
public final class GrpcFrames {
    /** gRPC-Web's trailer frame: the flags byte's most significant bit (PROTOCOL-WEB.md). */
    public static final int WEB_TRAILERS = 0x80;
    /** Connect's end-of-stream message (connectrpc.com/docs/protocol, "Streaming-Response"). */
    public static final int CONNECT_END_STREAM = 0x02;

    private GrpcFrames() {
    }

    /** One frame: {@code flags}, the length of {@code message} (4 bytes, big-endian), {@code message}. */
    public static byte[] frame(int flags, byte[] message) {
        ByteArrayOutputStream frame = new ByteArrayOutputStream();
        frame.write(flags);
        frame.write(message.length >>> 24);
        frame.write(message.length >>> 16);
        frame.write(message.length >>> 8);
        frame.write(message.length);
        frame.writeBytes(message);
        return frame.toByteArray();
    }

    /**
     * Gemini's {@code GenerateContentRequest{model, contents: [{role: "user", parts: [{text}]}]}} in protobuf
     * (google/ai/generativelanguage/v1/generative_service.proto: {@code string model = 1; repeated Content
     * contents = 2;}; content.proto: {@code Content {repeated Part parts = 1; string role = 2;}},
     * {@code Part {string text = 2;}}), as one uncompressed gRPC frame.
     */
    public static byte[] generateContent(String model, String text) {
        ByteArrayOutputStream part = new ByteArrayOutputStream();
        field(part, 2, text.getBytes(StandardCharsets.UTF_8));
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        field(content, 1, part.toByteArray());
        field(content, 2, "user".getBytes(StandardCharsets.UTF_8));
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        field(message, 1, model.getBytes(StandardCharsets.UTF_8));
        field(message, 2, content.toByteArray());
        return frame(0, message.toByteArray());
    }

    /** A protobuf length-delimited field (wire type 2). */
    private static void field(ByteArrayOutputStream out, int number, byte[] value) {
        varint(out, (number << 3) | 2);
        varint(out, value.length);
        out.writeBytes(value);
    }

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }
}
