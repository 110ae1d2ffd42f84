package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The KServe v2 binary tensor data extension (Triton; {@code tritonclient.http} sends every input
 * this way by default): a JSON header of {@code Inference-Header-Content-Length} bytes whose inputs
 * name their {@code parameters.binary_data_size}, then the tensors' bytes in the inputs' order. The
 * estimator reads JSON, so the request is read as the JSON it stands for: each binary input gets the
 * {@code data} its bytes hold (a BYTES element is a 4-byte little-endian length and its bytes; numbers
 * are little-endian). Only for the estimate: the body goes to the endpoint as it came. Stateless.
 */
final class KserveBinary {
    /** The request header giving the JSON header's length. */
    static final String HEADER = "Inference-Header-Content-Length";

    private KserveBinary() {
    }

    /** One input of the header: its datatype and how many bytes of the binary section are its. */
    private record Input(String datatype, long size) {
    }

    /**
     * The request as one JSON document, or {@code null} when it is not a binary tensor request this
     * class reads (a header length outside the body, broken JSON, sizes past the body): it is then
     * estimated as it came.
     */
    static byte[] asJson(byte[] body, String headerLength) {
        int length;
        try {
            length = Integer.parseInt(headerLength.trim());
        } catch (NumberFormatException e) {
            return null;
        }
        if (length <= 0 || length > body.length) {
            return null;
        }
        try {
            List<Input> inputs = inputs(body, length);
            if (inputs == null) {
                return null;
            }
            return rewritten(body, length, inputs);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The header's inputs in order; {@code null} when their binary sizes do not fit the body. */
    private static List<Input> inputs(byte[] body, int length) throws IOException {
        List<Input> inputs = new ArrayList<>();
        long total = 0;
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body, 0, length)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                t = p.nextToken();
                if (!"inputs".equals(field) || t != JsonToken.START_ARRAY) {
                    p.skipChildren();
                    continue;
                }
                while (p.nextToken() == JsonToken.START_OBJECT) {
                    Input input = input(p);
                    inputs.add(input);
                    total += input.size();
                }
            }
        }
        return total <= body.length - length ? inputs : null;
    }

    /** One input object, the parser on its start; leaves the parser on its end. */
    private static Input input(JsonParser p) throws IOException {
        String datatype = null;
        long size = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken t = p.nextToken();
            if ("datatype".equals(field) && t == JsonToken.VALUE_STRING) {
                datatype = p.getText();
            } else if ("parameters".equals(field) && t == JsonToken.START_OBJECT) {
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    JsonToken v = p.nextToken();
                    if ("binary_data_size".equals(name) && v == JsonToken.VALUE_NUMBER_INT) {
                        size = Math.max(0, p.getLongValue());
                    } else {
                        p.skipChildren();
                    }
                }
            } else {
                p.skipChildren();
            }
        }
        return new Input(datatype, size);
    }

    /** The header copied, each binary input given the {@code data} its bytes hold. */
    private static byte[] rewritten(byte[] body, int length, List<Input> inputs) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(body.length * 2);
        int at = length;
        int index = 0;
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body, 0, length);
             JsonGenerator g = Json.REQUEST_SCAN.createGenerator(out)) {
            int depth = 0;
            boolean inInputs = false;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t == JsonToken.START_ARRAY && depth == 1 && "inputs".equals(p.currentName())) {
                    inInputs = true;
                }
                if (t == JsonToken.END_OBJECT && inInputs && depth == 3 && index < inputs.size()) {
                    Input input = inputs.get(index++);
                    if (input.size() > 0) {
                        g.writeFieldName("data");
                        writeData(g, body, at, (int) input.size(), input.datatype());
                        at += (int) input.size();
                    }
                }
                if (t == JsonToken.END_ARRAY && inInputs && depth == 2) {
                    inInputs = false;
                }
                g.copyCurrentEvent(p);
                if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
                    depth++;
                } else if (t == JsonToken.END_OBJECT || t == JsonToken.END_ARRAY) {
                    depth--;
                }
            }
        }
        return out.toByteArray();
    }

    private static void writeData(JsonGenerator g, byte[] body, int offset, int size, String datatype) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(body, offset, size).order(ByteOrder.LITTLE_ENDIAN);
        String type = datatype == null ? "" : datatype;
        g.writeStartArray();
        switch (type) {
            case "BYTES" -> {
                while (b.remaining() >= 4) {
                    int n = b.getInt();
                    if (n < 0 || n > b.remaining()) {
                        break;
                    }
                    g.writeString(new String(body, b.position(), n, StandardCharsets.UTF_8));
                    b.position(b.position() + n);
                }
            }
            case "INT8", "UINT8", "BOOL" -> {
                while (b.hasRemaining()) {
                    g.writeNumber(type.equals("INT8") ? b.get() : b.get() & 0xFF);
                }
            }
            case "INT16", "UINT16" -> {
                while (b.remaining() >= 2) {
                    short v = b.getShort();
                    g.writeNumber(type.equals("INT16") ? v : v & 0xFFFF);
                }
            }
            case "INT32", "UINT32" -> {
                while (b.remaining() >= 4) {
                    int v = b.getInt();
                    g.writeNumber(type.equals("INT32") ? v : v & 0xFFFFFFFFL);
                }
            }
            case "INT64", "UINT64" -> {
                while (b.remaining() >= 8) {
                    long v = b.getLong();
                    // an unsigned value past 63 bits asks for more than any budget: the largest
                    g.writeNumber(type.equals("UINT64") && v < 0 ? Long.MAX_VALUE : v);
                }
            }
            default -> {
                // floating point and other types hold no budget or text: left empty
            }
        }
        g.writeEndArray();
    }
}
