package io.tokenquota.servlet.breakit320;

import static io.tokenquota.servlet.testing.TgiGenerate.ASK_ONE;
import static io.tokenquota.servlet.testing.TgiGenerate.ASK_TWO;
import static io.tokenquota.servlet.testing.TgiGenerate.BEST;
import static io.tokenquota.servlet.testing.TgiGenerate.OTHER;
import static io.tokenquota.servlet.testing.TgiGenerate.generateResponse;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.CannedProviderRound;
import org.junit.jupiter.api.Test;

/**
 * Round 320 of issue 11: Hugging Face TGI's {@code /generate} asked for {@code best_of} sequences.
 *
 * <p>Shapes from huggingface/text-generation-inference's router: {@code router/src/lib.rs}
 * ({@code GenerateParameters.best_of}, "Generate best_of sequences and return the one if the highest token
 * logprobs"; {@code GenerateResponse} {@code {generated_text, details}}; {@code Details} {@code {finish_reason,
 * generated_tokens, seed, prefill, tokens, best_of_sequences}}; {@code BestOfSequence} {@code {generated_text,
 * finish_reason, generated_tokens, seed, prefill, tokens}}; {@code Token} {@code {id, text, logprob, special}}),
 * {@code router/src/infer/mod.rs} ({@code generate_best_of}: every sequence is generated, the best one is
 * {@code remove}d from the list and the rest returned, which {@code server.rs} answers as
 * {@code details.best_of_sequences}) and {@code router/src/validation.rs} ({@code best_of > 1} needs sampling;
 * without {@code max_new_tokens} a sequence may write up to {@code max_total_tokens - input_length}; the
 * launcher's {@code --max-best-of} defaults to 2).
 */
abstract class AbstractRound320 extends CannedProviderRound {
    AbstractRound320() {
        super(path -> path.endsWith("/generate"));
    }

    /**
     * Finding: TGI generated two sequences (2,400 and 2,600 tokens) and answered the best one, the other in
     * {@code details.best_of_sequences}; the model wrote 5,000 tokens. The filter reads only
     * {@code details.generated_tokens} (2,400) and adds its input estimate, so the second sequence is free.
     */
    @Test
    void aTgiBestOfAnswerIsChargedEverySequenceItGenerated() {
        String one = subject();
        provider.answer(one, "POST", "/ai/tgi/generate", generateResponse(BEST, 0));
        long single = post(one, "/ai/tgi/generate", ASK_ONE);
        String s = subject();
        provider.answer(s, "POST", "/ai/tgi/generate", generateResponse(BEST, OTHER));
        long used = post(s, "/ai/tgi/generate", ASK_TWO);
        assertEquals(1, calls.of(s));
        // every sequence's generated tokens are charged, and nothing beyond the one-sequence call plus the other
        // sequence: the one-sequence charge (2,485) is the reported 2,400 floored by the filter's count of the
        // answer's text and the input estimate, a floor the two-sequence charge already passes
        assertAll(() -> assertTrue(used >= BEST + OTHER, "one sequence charged " + single + ", two " + used
                        + ": the other's 2,600 must be charged too; " + ledger(s)),
                () -> assertTrue(used <= single + OTHER, "two sequences charged " + used + ", more than one ("
                        + single + ") plus the other's " + OTHER + "; " + ledger(s)));
    }

    /**
     * Control: the same call with one sequence, 2,400 tokens written: charged its 2,400 and the input the filter
     * adds (2,485 here: today's figure for this request, the finding's baseline), never less than 2,400. Round 511:
     * the text's count, which floors the charge, was 2,494 at the rate of its first 256 bytes, now 2,475 by its own.
     */
    @Test
    void aTgiAnswerOfOneSequenceIsChargedItsGeneratedTokens() {
        String s = subject();
        provider.answer(s, "POST", "/ai/tgi/generate", generateResponse(BEST, 0));
        long used = post(s, "/ai/tgi/generate", ASK_ONE);
        assertEquals(1, calls.of(s));
        assertEquals(BEST + 85, used, "2,400 + the input the filter adds; " + ledger(s));
    }
}
