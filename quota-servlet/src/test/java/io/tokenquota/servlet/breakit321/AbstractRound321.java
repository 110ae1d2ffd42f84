package io.tokenquota.servlet.breakit321;

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
 * Round 321 of issue 11: round 320's TGI {@code best_of} answer and a Transformers pipeline's several sequences, each
 * answered as a JSON <b>list</b> of generations, the shape Hugging Face's serverless Inference API answers and its
 * own client accepts (huggingface/huggingface_hub, {@code src/huggingface_hub/inference/_client.py},
 * {@code InferenceClient.text_generation}: "Data can be a single element (dict) or an iterable of dicts where we
 * select the first element of. if isinstance(data, list): data = data[0]"). No gap found: both controls pass.
 *
 * <p>Round 320's notes on TGI's shapes follow.
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
abstract class AbstractRound321 extends CannedProviderRound {
    AbstractRound321() {
        super(path -> path.endsWith("/generate") || path.contains("/models/"));
    }

    /** A text of {@code words} repeated words, as a JSON string. */
    static String seq(int words, String w) {
        return "\"" + (" " + w).repeat(words) + "\"";
    }

    /**
     * Control: TGI's {@code best_of} answer (2,400 and 2,600 generated tokens) wrapped in a one-element list as the
     * serverless Inference API answers {@code /models/{id}}: every sequence charged (today 5,010: both sequences and
     * the input the filter adds).
     */
    @Test
    void aTgiBestOfAnswerInAListIsChargedEverySequence() {
        String s = subject();
        provider.answer(s, "POST", "/ai/tgi/generate", "[" + generateResponse(BEST, OTHER) + "]");
        long used = post(s, "/ai/tgi/generate", ASK_TWO);
        assertEquals(1, calls.of(s));
        assertTrue(used >= BEST + OTHER, "a listed best_of answer charged " + used + "; " + ledger(s));
        assertEquals(5_010, used, ledger(s));
    }

    /**
     * Control: a Transformers {@code text-generation} pipeline served by the Inference API, asked for
     * {@code num_return_sequences: 3} (transformers {@code TextGenerationPipeline.__call__}: generate kwargs such as
     * {@code num_return_sequences}, "Returns: A list or a list of lists of dict: ... generated_text"), answers three
     * {@code {"generated_text"}} objects and no usage: held and charged for the three (4,510), three times the one
     * sequence's 1,510.
     */
    @Test
    void aPipelineAnswerOfThreeSequencesWithoutUsageIsChargedAllThree() {
        String ask3 = "{\"inputs\":\"Write the full notice clause for a commercial lease.\",\"parameters\":"
                + "{\"max_new_tokens\":1500,\"num_return_sequences\":3,\"do_sample\":true}}";
        String ask1 = "{\"inputs\":\"Write the full notice clause for a commercial lease.\",\"parameters\":"
                + "{\"max_new_tokens\":1500,\"do_sample\":true}}";
        String s = subject();
        provider.answer(s, "POST", "/ai/hf/models/gpt2", "[{\"generated_text\":" + seq(1500, "tenant")
                + "},{\"generated_text\":" + seq(1500, "notice") + "},{\"generated_text\":" + seq(1500, "landlord") + "}]");
        long used = post(s, "/ai/hf/models/gpt2", ask3);
        String t = subject();
        provider.answer(t, "POST", "/ai/hf/models/gpt2", "[{\"generated_text\":" + seq(1500, "tenant") + "}]");
        long one = post(t, "/ai/hf/models/gpt2", ask1);
        assertEquals(1, calls.of(s));
        assertEquals(1_510, one, ledger(t));
        assertEquals(4_510, used, ledger(s));
    }
}
