package io.tokenquota.estimator;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The accuracy corpus under {@code src/test/resources/corpus}, listed in its manifest. */
final class Corpus {

    /** One corpus file: its category, whether its counts tuned the estimator, its text. */
    record Document(String category, boolean fit, String path, String text) {
    }

    private Corpus() {
    }

    static List<Document> load() {
        List<Document> documents = new ArrayList<>();
        for (String line : read("manifest.tsv").split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] fields = line.split("\t");
            if (fields.length != 3 || !(fields[1].equals("fit") || fields[1].equals("check"))) {
                throw new IllegalStateException("bad manifest line: " + line);
            }
            documents.add(new Document(fields[0], fields[1].equals("fit"), fields[2], read(fields[2])));
        }
        return documents;
    }

    private static String read(String path) {
        try (InputStream in = Corpus.class.getResourceAsStream("/corpus/" + path)) {
            if (in == null) {
                throw new IllegalStateException("missing corpus file " + path);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
