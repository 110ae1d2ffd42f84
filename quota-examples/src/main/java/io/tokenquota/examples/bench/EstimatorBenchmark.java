package io.tokenquota.examples.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.tokenquota.TokenEstimator;
import io.tokenquota.estimator.DefaultTokenEstimator;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.io.IOException;
import java.nio.file.Path;

/**
 * JMH: one estimate of a whole category of the corpus (all its files joined), by our default
 * estimator and by jtokkit's exact o200k_base tokenizer. Throughput in ops/s times the text's UTF-8
 * size gives MB/s. The corpus folder comes from the {@code tq.corpus} system property.
 */
@State(Scope.Benchmark)
public class EstimatorBenchmark {
    @Param({"english", "german", "french", "russian", "korean", "japanese", "chinese", "code", "json"})
    public String category;

    private String text;
    private TokenEstimator estimator;
    private Encoding o200k;

    @Setup
    public void setUp() throws IOException {
        text = Corpus.load(Path.of(System.getProperty("tq.corpus", "quota-api/src/test/resources/corpus")))
                .joined(category);
        estimator = new DefaultTokenEstimator();
        o200k = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.O200K_BASE);
    }

    @Benchmark
    public long defaultEstimator() {
        return estimator.estimate(text);
    }

    @Benchmark
    public int jtokkitO200k() {
        return o200k.countTokensOrdinary(text);
    }
}
