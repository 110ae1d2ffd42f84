package io.tokenquota.servlet.breakit212;

import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 212 of issue 11: a model's text answered raw ({@code text/plain}, Spring AI's {@code call().content()}
 * returned as a String, no usage). Since round 207 a run of base64's characters goes on across line breaks,
 * and a run of more than 256 of them is passed over as encoded data unless it is joined words, words run
 * together (at most 3 in 10 letters upper case, at most one digit in 32) or base64/hex of text. A model's
 * answer made of short lines of digits only (a list of numbers) or of upper-case letters only (a DNA or
 * protein sequence, words in capitals one a line) is none of these: the whole answer is one "run" and
 * counts nothing.
 */
abstract class AbstractRound212 extends RawTextRound {
    /** "List the first 3,000 prime numbers, one per line, nothing else." */
    static final String PRIMES;
    /** "Design a 30 kb synthetic plasmid; answer in FASTA." */
    static final String FASTA;
    /** "Answer in capital letters, one word per line, no punctuation." */
    static final String CAPS;
    /** Control: the same words in lower case, one per line. */
    static final String LOWER;
    /** "Give me 400 random UUIDs for my test fixtures, one per line." */
    static final String UUIDS;

    static {
        StringBuilder p = new StringBuilder();
        int found = 0;
        for (int n = 2; found < 3000; n++) {
            boolean prime = true;
            for (int d = 2; (long) d * d <= n; d++) {
                if (n % d == 0) {
                    prime = false;
                    break;
                }
            }
            if (prime) {
                p.append(n).append('\n');
                found++;
            }
        }
        PRIMES = p.toString();
        StringBuilder f = new StringBuilder(">pSYN-212 synthetic cloning vector, 30000 bp\n");
        Random r = new Random(212);
        String bases = "ACGT";
        for (int i = 0; i < 30000; i++) {
            f.append(bases.charAt(r.nextInt(4)));
            if (i % 60 == 59) {
                f.append('\n');
            }
        }
        FASTA = f.toString();
        StringBuilder u = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            u.append(new UUID(r.nextLong(), r.nextLong())).append('\n');
        }
        UUIDS = u.toString();
        String words = Prose.english(20_000).replaceAll("[^A-Za-z ]", "").replaceAll(" +", "\n");
        CAPS = words.toUpperCase(java.util.Locale.ROOT);
        LOWER = words.toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/primes" -> PRIMES;
            case "/fasta" -> FASTA;
            case "/caps" -> CAPS;
            case "/uuids" -> UUIDS;
            default -> LOWER;
        };
    }

    @Test
    void aListOfNumbersOnePerLineIsChargedItsText() {
        assertChargedTheText("/ai/text/primes", "List the first 3000 prime numbers, one per line, nothing else.");
    }

    @Test
    void aDnaSequenceInFastaIsChargedItsText() {
        assertChargedTheText("/ai/text/fasta", "Design a 30 kb synthetic cloning vector. Answer in FASTA only.");
    }

    @Test
    void wordsInCapitalsOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/caps", "Write a long story. Capital letters only, one word per line, no punctuation.");
    }

    @Test
    void uuidsOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/uuids", "Give me 400 random UUIDs for my test fixtures, one per line, nothing else.");
    }

    /** Ten such lists on a 20,000 allowance: each is about 8,800 tokens of text. */
    @Test
    void numberListsAreNotServedPastTheAllowance() {
        long text = TOKENS.estimate(PRIMES);
        assertNotServedPastTheAllowance("/ai/text/primes", "The first 3000 primes again, one per line.", 10, text * 9 / 10,
                text + " tokens by the default estimator");
    }

    @Test
    void controlWordsInLowerCaseOnePerLineAreChargedTheirText() {
        assertChargedTheText("/ai/text/lower", "Write a long story. One word per line, no punctuation.");
    }
}
