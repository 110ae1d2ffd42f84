package io.tokenquota.estimator;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;

/** The reference tokenizer, loaded once per test JVM. */
final class O200k {
    private static final Encoding ENCODING =
            Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE);

    private O200k() {
    }

    /** Tokens of {@code text} under o200k_base, special-token markers counted as plain text. */
    static int count(String text) {
        return ENCODING.countTokensOrdinary(text);
    }
}
