package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class KserveBinaryTest {
    @Test
    void binaryTensorsAreReadAsTheJsonTheyStandFor() {
        byte[] text = "Write a story.".getBytes(StandardCharsets.UTF_8);
        ByteBuffer tensors = ByteBuffer.allocate(4 + text.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        tensors.putInt(text.length).put(text).putInt(8000);
        byte[] header = ("{\"inputs\":[{\"name\":\"text_input\",\"datatype\":\"BYTES\",\"shape\":[1],\"parameters\":"
                + "{\"binary_data_size\":" + (4 + text.length) + "}},{\"name\":\"max_tokens\",\"datatype\":\"INT32\","
                + "\"shape\":[1],\"parameters\":{\"binary_data_size\":4}}]}").getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(header);
        body.writeBytes(tensors.array());
        String json = new String(KserveBinary.asJson(body.toByteArray(), Integer.toString(header.length)), StandardCharsets.UTF_8);
        assertEquals("{\"inputs\":[{\"name\":\"text_input\",\"datatype\":\"BYTES\",\"shape\":[1],\"parameters\":"
                + "{\"binary_data_size\":18},\"data\":[\"Write a story.\"]},{\"name\":\"max_tokens\",\"datatype\":\"INT32\","
                + "\"shape\":[1],\"parameters\":{\"binary_data_size\":4},\"data\":[8000]}]}", json);
        assertEquals(8000, new RequestEstimator(CharSequence::length).estimate(json.getBytes(StandardCharsets.UTF_8)).outputBudget());
    }

    @Test
    void aHeaderThatDoesNotFitTheBodyIsNotRead() {
        byte[] body = "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":99}}]}"
                .getBytes(StandardCharsets.UTF_8);
        assertNull(KserveBinary.asJson(body, Integer.toString(body.length)), "sizes past the body");
        assertNull(KserveBinary.asJson(body, Integer.toString(body.length + 1)), "a header longer than the body");
        assertNull(KserveBinary.asJson(body, "twelve"), "not a length");
    }
}
