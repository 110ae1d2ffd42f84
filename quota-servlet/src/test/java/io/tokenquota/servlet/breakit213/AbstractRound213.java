package io.tokenquota.servlet.breakit213;

import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Round 213 of issue 11: a model's text answered raw (Spring AI's {@code call().content()} returned as a String,
 * {@code text/plain}, no usage). A run of more than 256 of base64's characters is passed over as encoded data
 * unless its first 256 characters read as joined words, words run together, base64/hex of text, or a
 * nucleotide sequence. Real answers that are none of these: protein sequences (the 20 amino-acid letters,
 * upper case) written on one line each as a model writes them, or in the 70/80-column lines NCBI and most tools
 * use; an aligned nucleotide FASTA (gaps {@code -}, one line per sequence); and a hostile client's prompt that
 * the answer be written in binary or base32, decoded at its end.
 */
abstract class AbstractRound213 extends RawTextRound {
    static final String AMINO = "ACDEFGHIKLMNPQRSTVWY";

    /** Forty designed proteins of 1,000 residues, FASTA with each sequence on one line (as chat models write it). */
    static final String PROTEIN_ONE_LINE = proteins(0);
    /** The same, wrapped at 80 columns. */
    static final String PROTEIN_80 = proteins(80);
    /** The same, wrapped at 70 columns (NCBI's FASTA). */
    static final String PROTEIN_70 = proteins(70);
    /** Control: the same, wrapped at 60 columns (UniProt's FASTA): short lines end each run. */
    static final String PROTEIN_60 = proteins(60);
    /** A multiple sequence alignment of 24 nucleotide sequences, 1,500 columns, one line each, with gaps. */
    static final String ALIGNMENT;
    /** Eight assembled contigs of 4,000 bp on one line each, with IUPAC ambiguity codes (R, Y, K, M, S, W) at 0.5%. */
    static final String IUPAC;
    /** "Write the story in binary, 8 bits a character, no spaces, 64 digits a line." */
    static final String BINARY;
    /** "Write the story base32-encoded (RFC 4648)." */
    static final String BASE32;

    static String proteins(int width) {
        Random r = new Random(213);
        StringBuilder f = new StringBuilder();
        for (int p = 0; p < 40; p++) {
            f.append(">design_").append(p + 1).append(" de novo binder candidate, 1000 aa\n");
            StringBuilder seq = new StringBuilder("M");
            while (seq.length() < 1000) {
                seq.append(AMINO.charAt(r.nextInt(AMINO.length())));
            }
            f.append(wrap(seq.toString(), width));
        }
        return f.toString();
    }

    static String wrap(String seq, int width) {
        if (width <= 0) {
            return seq + "\n";
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < seq.length(); i += width) {
            b.append(seq, i, Math.min(seq.length(), i + width)).append('\n');
        }
        return b.toString();
    }

    static {
        Random r = new Random(2130);
        StringBuilder a = new StringBuilder();
        StringBuilder base = new StringBuilder();
        for (int i = 0; i < 1500; i++) {
            base.append("ACGT".charAt(r.nextInt(4)));
        }
        for (int s = 0; s < 24; s++) {
            a.append(">isolate_").append(s + 1).append('\n');
            for (int i = 0; i < 1500; i++) {
                int roll = r.nextInt(100);
                a.append(roll < 8 ? '-' : roll < 14 ? "ACGT".charAt(r.nextInt(4)) : base.charAt(i));
            }
            a.append('\n');
        }
        ALIGNMENT = a.toString();
        StringBuilder g = new StringBuilder();
        for (int s = 0; s < 8; s++) {
            g.append(">contig_").append(s + 1).append(" assembled region, IUPAC codes where reads disagree\n");
            for (int i = 0; i < 4000; i++) {
                int roll = r.nextInt(1000);
                g.append(roll < 5 ? "RYKMSW".charAt(r.nextInt(6)) : "ACGT".charAt(r.nextInt(4)));
            }
            g.append('\n');
        }
        IUPAC = g.toString();
        byte[] story = Prose.english(8_000).getBytes(StandardCharsets.UTF_8);
        StringBuilder bits = new StringBuilder();
        for (byte b : story) {
            String s = Integer.toBinaryString(b & 0xff);
            bits.append("0".repeat(8 - s.length())).append(s);
        }
        BINARY = wrap(bits.toString(), 64);
        BASE32 = wrap(base32(story), 64);
    }

    static String base32(byte[] data) {
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        StringBuilder out = new StringBuilder();
        int buffer = 0;
        int bits = 0;
        for (byte b : data) {
            buffer = (buffer << 8) | (b & 0xff);
            bits += 8;
            while (bits >= 5) {
                out.append(alphabet.charAt((buffer >> (bits - 5)) & 31));
                bits -= 5;
            }
        }
        if (bits > 0) {
            out.append(alphabet.charAt((buffer << (5 - bits)) & 31));
        }
        while (out.length() % 8 != 0) {
            out.append('=');
        }
        return out.toString();
    }

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/protein1" -> PROTEIN_ONE_LINE;
            case "/protein80" -> PROTEIN_80;
            case "/protein70" -> PROTEIN_70;
            case "/protein60" -> PROTEIN_60;
            case "/alignment" -> ALIGNMENT;
            case "/iupac" -> IUPAC;
            case "/binary" -> BINARY;
            case "/base32" -> BASE32;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Test
    void proteinSequencesOnOneLineEachAreChargedTheirText() {
        assertChargedTheText("/ai/text/protein1", "Design 40 de novo binders of 1000 residues for PD-L1. FASTA only.");
    }

    @Test
    void proteinSequencesIn80ColumnsAreChargedTheirText() {
        assertChargedTheText("/ai/text/protein80", "Design 40 de novo binders of 1000 residues. FASTA, 80 columns.");
    }

    @Test
    void proteinSequencesIn70ColumnsAreChargedTheirText() {
        assertChargedTheText("/ai/text/protein70", "Design 40 de novo binders of 1000 residues. FASTA as NCBI writes it.");
    }

    @Test
    void controlProteinSequencesIn60ColumnsAreChargedTheirText() {
        assertChargedTheText("/ai/text/protein60", "Design 40 de novo binders of 1000 residues. FASTA, 60 columns.");
    }

    @Test
    void anAlignedFastaWithGapsIsChargedItsText() {
        assertChargedTheText("/ai/text/alignment", "Align these 12 isolates; answer as aligned FASTA.");
    }

    @Test
    void contigsWithAmbiguityCodesAreChargedTheirText() {
        assertChargedTheText("/ai/text/iupac", "Assemble these reads into contigs; FASTA, IUPAC codes where reads disagree.");
    }

    @Test
    void aStoryWrittenInBinaryIsChargedItsText() {
        assertChargedTheText("/ai/text/binary", "Write a long story in binary, 8 bits a character, no spaces.");
    }

    @Test
    void aStoryWrittenInBase32IsChargedItsText() {
        assertChargedTheText("/ai/text/base32", "Write a long story encoded in base32 (RFC 4648).");
    }

    /** Ten protein designs on a 20,000 allowance. */
    @Test
    void proteinDesignsAreNotServedPastTheAllowance() {
        long text = TOKENS.estimate(PROTEIN_ONE_LINE);
        assertNotServedPastTheAllowance("/ai/text/protein1", "Forty more binder designs, FASTA only.", 10, text * 9 / 10,
                text + " tokens by the default estimator");
    }
}
