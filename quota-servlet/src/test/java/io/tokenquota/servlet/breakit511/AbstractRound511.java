package io.tokenquota.servlet.breakit511;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 511 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"), against round
 * 506's reading of a {@code generated_text} that repeats the prompt. Hugging Face's text generation answers carry no
 * usage, so a whole answer is charged its input plus the text the model wrote when that is more than the hold:
 * <ul>
 *   <li>Hugging Face's Inference API, text generation (huggingface.co/docs/api-inference/detailed_parameters,
 *       "Text Generation task": {@code return_full_text} "(Default: True)"; answer {@code [{"generated_text": …}]}),
 *       transformers' {@code TextGenerationPipeline} the same;</li>
 *   <li>Text Generation Inference's {@code POST /generate} (TGI's OpenAPI: {@code GenerateParameters.return_full_text},
 *       answer {@code GenerateResponse} {@code {"generated_text": …}}; TGI writes {@code inputs} verbatim ahead of
 *       the completion when it is true). The request names no {@code max_new_tokens}: TGI then generates up to the
 *       server's {@code max_total_tokens}.</li>
 * </ul>
 * The scanner keeps a string's first 256 bytes and counts the rest of a longer one at the rate of that kept part.
 * When the answer repeats the prompt, the kept part is the prompt's beginning, which the client wrote, byte for byte:
 * a prompt that opens with 320 spaces (a handful of tokens) makes the model's whole completion count at the rate of
 * blanks. Found (Jetty and Tomcat alike): a 4,366-token completion after such a prompt is charged its hold, 1,010
 * (should be at least 4,376); the
 * same completion without the prompt repeated (return_full_text false) is charged its input plus its text. The client
 * chooses the rate its model's output is counted at. Likely cause: StreamText#afterPrompt (and #scaled before it),
 * which scales the completion by the kept part's rate, and the kept part is the echoed prompt, not model output.
 *
 * <p>Controls (pass): the same padded prompt with {@code return_full_text: false} (the completion alone, kept part the
 * model's text), and an ordinary prose prompt repeated ahead of the same completion: both charged input plus text.
 */
abstract class AbstractRound511 extends ShapedAnswerRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** More than the 256 bytes the scanner keeps of a string, all blanks: a few tokens by any tokenizer. */
    static final String PAD = " ".repeat(320);
    /** The client's prompt: the padding, then its instruction. */
    static final String PADDED = PAD + "Continue the following report at length.\n";
    /** An ordinary prompt (control): prose longer than the kept part, then the instruction. */
    static final String PLAIN = TEXT.substring(10_000, 10_600) + "\nContinue the report at length.\n";

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // HF Inference API / transformers pipeline, return_full_text true: the prompt, then the completion
            case "hf-pad-full" -> "[{\"generated_text\":" + q(PADDED + TEXT) + "}]";
            // TGI /generate with return_full_text true
            case "tgi-pad-full" -> "{\"generated_text\":" + q(PADDED + TEXT) + "}";
            // controls: the completion alone (return_full_text false)
            case "hf-pad-new" -> "[{\"generated_text\":" + q(TEXT) + "}]";
            case "tgi-pad-new" -> "{\"generated_text\":" + q(TEXT) + "}";
            // control: an ordinary prompt repeated ahead of the same completion
            case "hf-plain-full" -> "[{\"generated_text\":" + q(PLAIN + TEXT) + "}]";
            case "tgi-plain-full" -> "{\"generated_text\":" + q(PLAIN + TEXT) + "}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    static String prompt(String shape) {
        return shape.contains("-plain-") ? PLAIN : PADDED;
    }

    static String request(String shape) {
        return "{\"inputs\":" + q(prompt(shape)) + ",\"parameters\":{\"return_full_text\":" + shape.endsWith("-full")
                + "}}";
    }

    /**
     * Posts the shape's call: it must be charged its input plus the completion's text, within the request's JSON and
     * the few per cent by which the filter's count of a long string strays.
     */
    private void assertChargedInputPlusText(String shape) {
        String s = "r511-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, request(shape));
        long input = TOKENS.estimate(prompt(shape));
        long text = TOKENS.estimate(TEXT);
        long least = input + text;
        // a long string's rest is counted at the rate of its first 256 bytes, a few per cent off the whole's
        long most = least + input / 4 + text / 20 + 100;
        assertTrue(used >= least && used <= most, kind() + " " + shape + ": charged " + used + ", should be between "
                + least + " and " + most + " (input " + input + " plus the " + text + " tokens the model wrote; the "
                + "repeated prompt counts nothing, its completion all of its text); " + ledger(s));
    }

    /**
     * Found: the prompt opens with 320 blanks, so the answer's kept part (its first 256 bytes) is blanks, and the
     * model's 4,400-token completion after the repeated prompt is counted at their rate: charged about the hold.
     */
    @ParameterizedTest
    @ValueSource(strings = {"hf-pad-full", "tgi-pad-full"})
    void aCompletionAfterARepeatedPromptIsNotCountedAtThePromptsRate(String shape) {
        assertChargedInputPlusText(shape);
    }

    /** Controls: the same completion alone, and after an ordinary prompt repeated, charged input plus text. */
    @ParameterizedTest
    @ValueSource(strings = {"hf-pad-new", "tgi-pad-new", "hf-plain-full", "tgi-plain-full"})
    void theSameCompletionAloneOrAfterAProsePromptIsChargedItsText(String shape) {
        assertChargedInputPlusText(shape);
    }
}
