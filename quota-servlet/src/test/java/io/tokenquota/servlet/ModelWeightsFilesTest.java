package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelWeightsFilesTest {
    private static ModelWeights json(String text) throws Exception {
        return ModelWeightsFiles.fromJson(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), "w.json");
    }

    @Test
    void readsJsonAndCsvFiles(@TempDir Path dir) throws Exception {
        Path j = dir.resolve("w.JSON");
        Files.writeString(j, "{\n \"default\": {\"input\": 1, \"cached_input\": 1, \"output\": 4, \"reasoning\": 4},\n"
                + " \"models\": {\"gpt-4o*\": {\"input\": 2.5, \"cached_input\": 1.25, \"output\": 10, \"reasoning\": 10}}\n}");
        ModelWeights w = ModelWeightsFiles.load(j);
        assertEquals(Rates.of("2.5", "1.25", "10", "10"), w.rates("gpt-4o-2024-08-06"));
        assertEquals(Rates.of("1", "1", "4", "4"), w.rates("x"));
        Path c = dir.resolve("w.csv");
        Files.writeString(c, "model,input,cached_input,output,reasoning\no3,2,0.5,8,8\n");
        assertEquals(Rates.of("2", "0.5", "8", "8"), ModelWeightsFiles.load(c).rates("o3"));
    }

    @Test
    void badJsonNamesTheLineAndEntry() {
        assertBad("w.json line 3, entry 'models.o3': the reasoning multiplier is missing",
                "{\"models\": {\n \"a\": {\"input\": 1, \"cached_input\": 1, \"output\": 1, \"reasoning\": 1},\n"
                        + " \"o3\": {\"input\": 1, \"cached_input\": 1, \"output\": 1}}}");
        assertBad("entry 'models.o3'", "{\"models\": {\"o3\": {\"input\": -1, \"cached_input\": 1, \"output\": 1,"
                + " \"reasoning\": 1}}}");
        assertBad("entry 'models.o3'", "{\"models\": {\"o3\": {\"input\": \"lots\", \"cached_input\": 1, \"output\": 1,"
                + " \"reasoning\": 1}}}");
        assertBad("unknown kind", "{\"models\": {\"o3\": {\"inputs\": 1}}}");
        assertBad("w.json line 2: not valid JSON", "{\"models\": {\"o3\": {\"input\": 1,\n \"input\": 2}}}");
        assertBad("given twice", "{\"models\": {\"o3\": {\"input\": 1, \"cached_input\": 1, \"output\": 1, \"reasoning\": 1},"
                + " \"O3\": {\"input\": 1, \"cached_input\": 1, \"output\": 1, \"reasoning\": 1}}}");
        assertBad("unknown field", "{\"model\": {}}");
        assertBad("not valid JSON", "{\"models\": {");
    }

    private static void assertBad(String says, String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> json(text));
        assertTrue(e.getMessage().contains(says), e.getMessage());
    }
}
