package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.ModelWeights;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Loads a {@link ModelWeights} table from a file: CSV ({@link ModelWeights#fromCsv}) or JSON, chosen by
 * the file name's extension. It lives here rather than in quota-api because JSON is read with jackson,
 * which the framework-free core does not depend on. Stateless.
 *
 * <p>The JSON form, every multiplier a number or a decimal string:
 * <pre>{@code
 * {
 *   "default": {"input": 1, "cached_input": 1, "output": 4, "reasoning": 4},
 *   "models": {
 *     "gpt-4o*":      {"input": 2.5, "cached_input": 1.25, "output": 10, "reasoning": 10},
 *     "gpt-4o-mini*": {"input": 0.15, "cached_input": 0.075, "output": 0.6, "reasoning": 0.6}
 *   }
 * }
 * }</pre>
 * A missing kind, an unknown field, a repeated key, a negative or non-numeric multiplier or broken JSON
 * fails the load with an {@link IllegalArgumentException} naming the file, the entry and the line.
 */
public final class ModelWeightsFiles {
    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    private static final String[] KINDS = {"input", "cached_input", "output", "reasoning"};

    private ModelWeightsFiles() {
    }

    /**
     * The table in {@code file}: JSON when its name ends in {@code .json}, else CSV.
     *
     * @throws IllegalArgumentException for a bad table, naming the line and entry
     * @throws UncheckedIOException     when the file cannot be read
     */
    public static ModelWeights load(Path file) {
        String name = file.getFileName() == null ? file.toString() : file.getFileName().toString();
        try (InputStream in = Files.newInputStream(file)) {
            if (name.toLowerCase(Locale.ROOT).endsWith(".json")) {
                return fromJson(in, file.toString());
            }
            try (Reader reader = new java.io.InputStreamReader(in, StandardCharsets.UTF_8)) {
                return ModelWeights.fromCsv(reader, file.toString());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the model weights file " + file, e);
        }
    }

    /** The table in a JSON document (see the class comment). */
    public static ModelWeights fromJson(InputStream json, String source) throws IOException {
        Map<String, String> rows = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(json)) {
            expect(p, p.nextToken(), JsonToken.START_OBJECT, source, "the document");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                if ("default".equals(field)) {
                    rows.put("*", rates(p, source, "default"));
                } else if ("models".equals(field)) {
                    expect(p, p.nextToken(), JsonToken.START_OBJECT, source, "models");
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String pattern = p.currentName();
                        if (rows.containsKey(pattern) || ("*".equals(pattern) && rows.containsKey("*"))) {
                            throw bad(p, source, "models." + pattern, "the pattern is given twice");
                        }
                        rows.put(pattern, rates(p, source, "models." + pattern));
                    }
                } else {
                    throw bad(p, source, field, "unknown field (expected \"default\" and \"models\")");
                }
            }
            if (p.nextToken() != null) {
                throw bad(p, source, "the document", "content after the table");
            }
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + " line " + e.getLocation().getLineNr() + ": not valid JSON: "
                    + e.getOriginalMessage(), e);
        }
        // the rows' own checks (negative, too precise, duplicate ignoring case...) name the entry
        return ModelWeights.fromMap(rows, source);
    }

    /** One entry's four multipliers, as the "input,cached,output,reasoning" row {@link ModelWeights#fromMap} reads. */
    private static String rates(JsonParser p, String source, String entry) throws IOException {
        expect(p, p.nextToken(), JsonToken.START_OBJECT, source, entry);
        Map<String, String> kinds = new LinkedHashMap<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String kind = p.currentName();
            if (!java.util.List.of(KINDS).contains(kind)) {
                throw bad(p, source, entry, "unknown kind \"" + kind + "\" (expected input, cached_input, output,"
                        + " reasoning)");
            }
            JsonToken value = p.nextToken();
            if (value != JsonToken.VALUE_NUMBER_INT && value != JsonToken.VALUE_NUMBER_FLOAT
                    && value != JsonToken.VALUE_STRING) {
                throw bad(p, source, entry, kind + " is not a number");
            }
            String text = p.getText().strip();
            if (text.contains(",")) {
                throw bad(p, source, entry, kind + " '" + text + "' is not a decimal number");
            }
            kinds.put(kind, text);
        }
        StringBuilder row = new StringBuilder();
        for (String kind : KINDS) {
            if (!kinds.containsKey(kind)) {
                throw bad(p, source, entry, "the " + kind + " multiplier is missing");
            }
            row.append(row.length() == 0 ? "" : ",").append(kinds.get(kind));
        }
        try {
            ModelWeights.Rates.parse(row.toString());
        } catch (IllegalArgumentException e) {
            throw bad(p, source, entry, e.getMessage());
        }
        return row.toString();
    }

    private static void expect(JsonParser p, JsonToken got, JsonToken expected, String source, String entry) {
        if (got != expected) {
            throw bad(p, source, entry, "expected a JSON object");
        }
    }

    private static IllegalArgumentException bad(JsonParser p, String source, String entry, String why) {
        return new IllegalArgumentException(source + " line " + p.currentLocation().getLineNr() + ", entry '" + entry
                + "': " + why);
    }
}
