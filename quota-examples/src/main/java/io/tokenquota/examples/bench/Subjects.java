package io.tokenquota.examples.bench;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * How a load run picks the subject of each operation: uniform over {@code n} subjects, Zipf over
 * {@code n} (a few heavy users, a long tail), or one hot subject. Immutable and thread-safe
 * (each caller brings its own random).
 */
final class Subjects {
    private final String label;
    private final String[] names;
    private final double[] cumulative; // null: uniform

    private Subjects(String label, String[] names, double[] cumulative) {
        this.label = label;
        this.names = names;
        this.cumulative = cumulative;
    }

    static String name(int i) {
        return "u" + i;
    }

    static String[] names(int n) {
        String[] names = new String[n];
        for (int i = 0; i < n; i++) {
            names[i] = name(i);
        }
        return names;
    }

    static Subjects uniform(int n) {
        return new Subjects("uniform/" + n, names(n), null);
    }

    /** Zipf with exponent {@code s}: subject {@code i} (0-based) is picked with weight {@code 1/(i+1)^s}. */
    static Subjects zipf(int n, double s) {
        double[] cumulative = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += 1.0 / Math.pow(i + 1, s);
            cumulative[i] = sum;
        }
        for (int i = 0; i < n; i++) {
            cumulative[i] /= sum;
        }
        return new Subjects("zipf(" + s + ")/" + n, names(n), cumulative);
    }

    static Subjects hot() {
        return new Subjects("hot/1", new String[] {name(0)}, null);
    }

    String label() {
        return label;
    }

    int size() {
        return names.length;
    }

    /** The share of operations that go to the most picked subject. */
    double topShare() {
        return cumulative == null ? 1.0 / names.length : cumulative[0];
    }

    String pick(SplittableRandom random) {
        if (cumulative == null) {
            return names.length == 1 ? names[0] : names[random.nextInt(names.length)];
        }
        int i = Arrays.binarySearch(cumulative, random.nextDouble());
        return names[Math.min(names.length - 1, i >= 0 ? i : -i - 1)];
    }
}
