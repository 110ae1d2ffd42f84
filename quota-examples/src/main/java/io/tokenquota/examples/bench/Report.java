package io.tokenquota.examples.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The results as Markdown, printed as they come and rewritten to the output file after every
 * table, so an interrupted run still leaves what it measured. Also keeps the headline ratios for
 * callers (the smoke test). Not thread-safe; the driver thread writes it.
 */
final class Report {
    private final Path out;
    private final StringBuilder text = new StringBuilder();
    private final List<String> headlines = new ArrayList<>();
    private final List<String> failures = new ArrayList<>();
    private final java.util.Map<String, Double> values = new java.util.LinkedHashMap<>();

    Report(Path out) {
        this.out = out;
        if (out != null && out.toAbsolutePath().getParent() != null) {
            try {
                Files.createDirectories(out.toAbsolutePath().getParent());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    void heading(String title) {
        append("\n## " + title + "\n");
    }

    void line(String line) {
        append(line + "\n");
    }

    void table(List<String> header, List<List<String>> rows) {
        StringBuilder b = new StringBuilder("\n");
        b.append("| ").append(String.join(" | ", header)).append(" |\n");
        b.append("|").append("---|".repeat(header.size())).append("\n");
        for (List<String> row : rows) {
            b.append("| ").append(String.join(" | ", row)).append(" |\n");
        }
        append(b.toString());
    }

    /** A key ratio, also listed at the top of the summary. */
    void headline(String text) {
        headlines.add(text);
        append("\n**" + text + "**\n");
    }

    /** Keeps a measured number under a dotted key, for programs that check a run (the smoke test). */
    void record(String key, double value) {
        values.put(key, value);
    }

    java.util.Map<String, Double> values() {
        return java.util.Collections.unmodifiableMap(values);
    }

    /** A part that failed: said in the results (and kept for the smoke test), never silently dropped. */
    void failure(String part, Throwable e) {
        failures.add(part + ": " + e);
        append("\n**FAILED: " + part + ": " + e + "**\n");
        e.printStackTrace();
    }

    List<String> failures() {
        return List.copyOf(failures);
    }

    List<String> headlines() {
        return List.copyOf(headlines);
    }

    String text() {
        return text.toString();
    }

    private void append(String s) {
        System.out.print(s);
        System.out.flush();
        text.append(s);
        if (out != null) {
            try {
                Files.writeString(out, text, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    static String num(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        if (Math.abs(v) >= 100) {
            return String.format(Locale.ROOT, "%,.0f", v);
        }
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String ratio(double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "n/a" : String.format(Locale.ROOT, "%.2fx", v);
    }

    static String pct(double v) {
        return String.format(Locale.ROOT, "%.1f%%", v * 100);
    }
}
