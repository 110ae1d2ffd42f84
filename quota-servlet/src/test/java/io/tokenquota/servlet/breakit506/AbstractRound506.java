package io.tokenquota.servlet.breakit506;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 506 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"), the other
 * direction of the whole-answer rule (docs/decisions.md, "A stream whose client asked for no usage", rounds 270 and
 * 503): a whole answer without usage is charged its estimate, or its input plus the text the model wrote when that is
 * more. Hugging Face's text generation answer carries no usage, and its {@code generated_text} holds the prompt
 * followed by the completion whenever {@code return_full_text} is true:
 * <ul>
 *   <li>Hugging Face's Inference API, text generation (huggingface.co/docs/api-inference/detailed_parameters,
 *       "Text Generation task": {@code return_full_text} "(Default: True). Bool. If set to False, the return results
 *       will not contain the original query"; answer {@code [{"generated_text": …}]}); transformers'
 *       {@code TextGenerationPipeline}, what a Python sidecar serving a model returns, has the same default
 *       ({@code return_full_text (bool, optional, defaults to True)}) and the same answer shape;</li>
 *   <li>Text Generation Inference's {@code POST /generate} (TGI's OpenAPI: {@code GenerateParameters.return_full_text},
 *       default false, here set by the client; answer {@code GenerateResponse} {@code {"generated_text": …}}, no
 *       counts without {@code details}).</li>
 * </ul>
 * Found (Jetty and Tomcat alike): charged 9,054 where the hold, 4,866, is owed: the prompt ({@link #PROMPT}, 4,366
 * tokens, counted in the input already) is counted a second time as output beside the 312-token completion. The request
 * names {@code max_new_tokens: 500} and the model wrote {@link #COMPLETION} (fewer), so the call owes its hold, the
 * input plus 500; it is charged the input plus the prompt plus the completion. A client who sends its prompt with
 * {@code return_full_text} pays for it twice, and an operator relaying a pipeline with its default pays so on every
 * call. The filter has what it needs to tell: the request's {@code return_full_text}, or the answer's text starting
 * with the request's {@code inputs}. Likely cause: StreamText's {@code GENERATED} (Settlement's text estimate of a
 * whole answer) counts all of {@code generated_text}, with no regard to the request.
 *
 * <p>Controls (pass): the same calls with {@code return_full_text: false}, the answer the completion alone, charged
 * their hold; and a long completion without the prompt, charged the input plus its text.
 */
abstract class AbstractRound506 extends ShapedAnswerRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** The prompt: a document to continue, about 4,300 tokens (other prose than the completion). */
    static final String PROMPT = Prose.english(60_000).substring(30_000, 30_000 + TEXT.length());
    /** What the model wrote: about 300 tokens, under the request's 500. */
    static final String COMPLETION = TEXT.substring(0, 2_000);

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // HF Inference API / transformers pipeline, return_full_text true (their default): prompt + completion
            case "hf-full" -> "[{\"generated_text\":" + q(PROMPT + COMPLETION) + "}]";
            // TGI /generate with return_full_text true
            case "tgi-full" -> "{\"generated_text\":" + q(PROMPT + COMPLETION) + "}";
            // controls: return_full_text false, the completion alone
            case "hf-new" -> "[{\"generated_text\":" + q(COMPLETION) + "}]";
            case "tgi-new" -> "{\"generated_text\":" + q(COMPLETION) + "}";
            // control: a long completion (the whole TEXT, more than the 500 asked: an endpoint that ignores it)
            case "hf-long" -> "[{\"generated_text\":" + q(TEXT) + "}]";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    static String request(String shape) {
        boolean full = shape.endsWith("-full");
        return "{\"inputs\":" + q(PROMPT) + ",\"parameters\":{\"max_new_tokens\":500,\"return_full_text\":" + full
                + "}}";
    }

    /** Posts the shape's call; asserts the charge is within [least, most]. */
    private void assertCharged(String shape, long least, long most, String why) {
        String s = "r506-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, request(shape));
        assertTrue(used >= least && used <= most, kind() + " " + shape + ": charged " + used + ", should be between "
                + least + " and " + most + " (" + why + "); " + ledger(s));
    }

    /** The input as the filter holds it: the request's estimate less its 500-token output budget. */
    private long prompt() {
        return TOKENS.estimate(PROMPT);
    }

    /**
     * Found: the answer repeats the prompt ahead of a 300-token completion; the call owes the input plus at most the
     * 500 asked (the hold, about 4,300 + 500), and is charged the prompt twice (about 4,300 + 4,300 + 300). The upper
     * bound leaves room for the request's JSON around the prompt: a quarter of the prompt.
     */
    @ParameterizedTest
    @ValueSource(strings = {"hf-full", "tgi-full"})
    void aGeneratedTextThatRepeatsThePromptIsNotChargedThePromptTwice(String shape) {
        long p = prompt();
        assertCharged(shape, p, p + 500 + p / 4, "input " + p + " plus at most the 500 tokens asked; the completion is "
                + TOKENS.estimate(COMPLETION) + " tokens, the prompt is not output");
    }

    /** Controls: the completion alone is charged the hold (input plus 500). */
    @ParameterizedTest
    @ValueSource(strings = {"hf-new", "tgi-new"})
    void theCompletionAloneIsChargedTheHold(String shape) {
        long p = prompt();
        assertCharged(shape, p, p + 500 + p / 4, "the hold");
    }

    /** Control: a completion longer than the hold is still charged its text on top of the input. */
    @ParameterizedTest
    @ValueSource(strings = {"hf-long"})
    void aLongCompletionIsChargedItsText(String shape) {
        long p = prompt();
        long text = TOKENS.estimate(TEXT);
        assertCharged(shape, p + text, p + text + p / 4, "input plus its text, " + text);
    }
}
