package io.tokenquota.servlet.testing;

/**
 * Hugging Face TGI's {@code POST /generate} as rounds 320 and 321 call it: a question without
 * {@code max_new_tokens}, with and without {@code best_of}, and TGI's {@code GenerateResponse} with its
 * {@code details} (text-generation-inference {@code router/src/lib.rs}: {@code GenerateResponse}, {@code Details},
 * {@code BestOfSequence}, {@code Token}; {@code router/src/infer/mod.rs} {@code generate_best_of} answers every
 * sequence but the best in {@code details.best_of_sequences}).
 */
public final class TgiGenerate {
    private TgiGenerate() {
    }

    /** Tokens each sequence writes: more than the filter's default output budget (1,000), as TGI allows. */
    public static final int BEST = 2_400;
    public static final int OTHER = 2_600;

    /** A question with no {@code max_new_tokens}: TGI lets each sequence write to the context's end. */
    public static final String ASK_ONE = "{\"inputs\":\"Write the full notice clause for a commercial lease.\","
            + "\"parameters\":{\"do_sample\":true,\"temperature\":0.8,\"details\":true}}";
    public static final String ASK_TWO = "{\"inputs\":\"Write the full notice clause for a commercial lease.\","
            + "\"parameters\":{\"best_of\":2,\"do_sample\":true,\"temperature\":0.8,\"details\":true}}";

    /** {@code n} tokens as TGI's {@code Token}s, and their text. */
    private static String[] tokens(int n, int firstId) {
        StringBuilder list = new StringBuilder("[");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < n; i++) {
            String word = i % 2 == 0 ? " tenant" : " notice";
            list.append(i == 0 ? "" : ",").append("{\"id\":").append(firstId + (i % 2)).append(",\"text\":\"")
                    .append(word).append("\",\"logprob\":-0.42,\"special\":false}");
            text.append(word);
        }
        return new String[] {list.append(']').toString(), text.toString()};
    }

    /** A {@code GenerateResponse} with {@code details}, and {@code best_of_sequences} when {@code other > 0}. */
    public static String generateResponse(int best, int other) {
        String[] b = tokens(best, 26380);
        String sequences = "";
        if (other > 0) {
            String[] o = tokens(other, 5650);
            sequences = ",\"best_of_sequences\":[{\"generated_text\":\"" + o[1] + "\",\"finish_reason\":\"length\","
                    + "\"generated_tokens\":" + other + ",\"seed\":4471208353129367381,\"prefill\":[],\"tokens\":" + o[0] + "}]";
        }
        return "{\"generated_text\":\"" + b[1] + "\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":" + best
                + ",\"seed\":16329582306418617245,\"prefill\":[],\"tokens\":" + b[0] + sequences + "}}";
    }
}
