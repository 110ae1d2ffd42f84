package io.tokenquota.examples.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The estimator corpus of quota-api's tests, read from the file system: one folder per category
 * (english, german, french, russian, korean, japanese, chinese, code, json) and a
 * {@code manifest.tsv} that marks each file "fit" (used to tune the estimator) or "check" (held
 * out). Immutable.
 */
record Corpus(Map<String, List<Doc>> byCategory) {

    record Doc(String category, String split, String name, String text) {
    }

    static final List<String> CATEGORIES =
            List.of("english", "german", "french", "russian", "korean", "japanese", "chinese", "code", "json");

    static Corpus load(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IOException("no corpus at " + root.toAbsolutePath()
                    + " (run from the repository root, or pass --corpus=<dir>)");
        }
        Map<String, String> splits = new LinkedHashMap<>();
        Path manifest = root.resolve("manifest.tsv");
        if (Files.exists(manifest)) {
            for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
                String[] f = line.split("\t");
                if (f.length == 3 && !line.startsWith("#")) {
                    splits.put(f[2], f[1]);
                }
            }
        }
        Map<String, List<Doc>> byCategory = new LinkedHashMap<>();
        for (String category : CATEGORIES) {
            Path dir = root.resolve(category);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            List<Doc> docs = new ArrayList<>();
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file : files.filter(Files::isRegularFile).sorted().toList()) {
                    String rel = category + "/" + file.getFileName();
                    docs.add(new Doc(category, splits.getOrDefault(rel, "unlisted"), rel,
                            Files.readString(file, StandardCharsets.UTF_8)));
                }
            }
            byCategory.put(category, List.copyOf(docs));
        }
        return new Corpus(byCategory);
    }

    /** All of a category's files, concatenated: the text the throughput runs estimate over and over. */
    String joined(String category) {
        StringBuilder b = new StringBuilder();
        for (Doc d : byCategory.getOrDefault(category, List.of())) {
            b.append(d.text()).append('\n');
        }
        return b.toString();
    }
}
