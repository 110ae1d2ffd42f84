package io.tokenquota.servlet.breakit192;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 192 of issue 11: text written in a script without blanks (Chinese, Japanese) where the estimator
 * takes "no blank" for "not text". A translation endpoint ({@code POST /ai/translate}) takes the text to
 * translate and the customer's glossary, a map from source terms to the customer's preferred
 * translations (as DeepL's and most translation tools' glossaries are sent), and writes both into the
 * prompt. It answers with the translation alone, no usage: the call is charged its estimate, which must
 * count what the model reads. The same endpoint also gets a Chinese product document as a product's
 * {@code name}, and a fund's daily returns as fractions (a list the estimator takes for an embedding).
 */
abstract class AbstractRound192 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    static final DefaultTokenEstimator ESTIMATOR = new DefaultTokenEstimator();

    static String subject() {
        return "u192-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("translate", new Translate(), "/ai/translate")
                .onStartup(filter::registerByServletName);
    }

    /** Puts the text and the glossary into the prompt, calls the model, answers with the translation only. */
    class Translate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"translation\":\"The supplier may terminate the agreement.\"}"
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String[] CLAUSES = {
        "本协议项下的任何争议应提交中国国际经济贸易仲裁委员会仲裁解决",
        "供应商应在收到买方书面通知后三十日内纠正任何违约行为",
        "未经另一方事先书面同意任何一方不得转让本协议项下的权利和义务",
        "因不可抗力导致的延迟履行不视为违约但受影响方应及时通知对方",
        "买方有权在验收不合格的情况下拒收货物并要求供应商承担退货费用",
        "双方应对在履行本协议过程中获知的商业秘密承担保密义务",
    };

    /** {@code n} distinct Chinese clauses, as a contract's translation memory holds them. */
    static String[] terms(int n) {
        String[] t = new String[n];
        for (int i = 0; i < n; i++) {
            t[i] = "第" + (i + 1) + "条，" + CLAUSES[i % CLAUSES.length] + "。";
        }
        return t;
    }

    static String glossaryBody(String[] terms) {
        StringBuilder b = new StringBuilder("{\"text\":\"供应商可以终止本协议。\",\"source_lang\":\"zh\",\"target_lang\":\"en\",\"glossary\":{");
        for (int i = 0; i < terms.length; i++) {
            b.append(i == 0 ? "" : ",").append('"').append(terms[i]).append("\":\"Clause ").append(i + 1).append('"');
        }
        return b.append("}}").toString();
    }

    static long textOf(String[] terms) {
        return ESTIMATOR.estimate(String.join("\n", terms));
    }

    /**
     * The attack: a glossary of 300 Chinese clauses (about 8,000 tokens of Chinese the model reads) sent as
     * the glossary's keys. The answer has no usage: the call must be charged at least the glossary's text.
     */
    @Test
    void aGlossaryKeyedByChineseClausesIsCharged() {
        String s = subject();
        String[] terms = terms(300);
        long glossary = textOf(terms);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/translate"), s, glossaryBody(terms));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= glossary, "a glossary of 300 Chinese clauses (" + glossary + " tokens by the filter's own estimator)"
                + " written into the prompt is charged at least that, charged " + used + ": " + ledger(s));
    }

    /** Control: the same glossary keyed by English clauses (blanks in them) is charged its text. */
    @Test
    void theSameGlossaryKeyedByEnglishClausesIsCharged() {
        String s = subject();
        String[] terms = new String[300];
        for (int i = 0; i < terms.length; i++) {
            terms[i] = "Article " + (i + 1) + ", any dispute under this agreement shall be submitted to arbitration.";
        }
        long glossary = textOf(terms);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/translate"), s, glossaryBody(terms));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= glossary, "glossary " + glossary + ", charged " + used + ": " + ledger(s));
    }

    /** A product's Chinese description, as a marketplace listing's title and selling points run together. */
    static String productName() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            b.append("【第").append(i + 1).append("款】").append(CLAUSES[i % CLAUSES.length].substring(0, 12))
                    .append("，纯棉透气舒适，适合春夏秋季日常通勤与户外运动穿着。");
        }
        return b.toString();
    }

    /**
     * The attack: a listing writer ({@code POST /ai/translate} again: it writes the body into the prompt)
     * sent a product whose {@code name} is its long Chinese title and description (about 2,000 characters,
     * no blank in them, as Chinese is written). The docs say a document sent as a product's {@code name}
     * counts; charged without it, the call costs the fallback.
     */
    @Test
    void aChineseDocumentSentAsAProductsNameIsCharged() {
        String s = subject();
        String name = productName();
        long text = ESTIMATOR.estimate(name);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/translate"), s,
                "{\"name\":\"" + name + "\",\"target_lang\":\"en\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= text, "a product name of " + name.length() + " Chinese characters (" + text
                + " tokens by the filter's own estimator) is charged at least that, charged " + used + ": " + ledger(s));
    }

    /** Control: the same description with a blank between its sentences is charged its text. */
    @Test
    void theSameDocumentWithBlanksIsCharged() {
        String s = subject();
        String name = productName().replace("。", "。 ");
        long text = ESTIMATOR.estimate(name);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/translate"), s,
                "{\"name\":\"" + name + "\",\"target_lang\":\"en\"}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= text, "text " + text + ", charged " + used + ": " + ledger(s));
    }

    /** Four years of a fund's daily returns as fractions (0.0123 is 1.23 %), or as percentages. */
    static String returns(boolean percent) {
        StringBuilder b = new StringBuilder();
        java.util.Random random = new java.util.Random(192);
        for (int i = 0; i < 1_000; i++) {
            double r = Math.round(random.nextGaussian() * 120) / 10_000.0;
            b.append(i == 0 ? "" : ",").append(percent ? String.format(java.util.Locale.ROOT, "%.2f", r * 100)
                    : String.format(java.util.Locale.ROOT, "%.4f", r));
        }
        return b.toString();
    }

    /**
     * The attack: a fund report writer sends 1,000 daily returns as fractions (every one within [-1, 1]) for
     * the model to analyse; the endpoint writes them into the prompt. The docs exempt such a list as an
     * embedding vector "which no model reads", but here the model reads every number.
     */
    @Test
    void dailyReturnsAsFractionsAreCharged() {
        String s = subject();
        String series = returns(false);
        long text = ESTIMATOR.estimate(series);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/translate"), s,
                "{\"prompt\":\"Summarise the volatility and the drawdowns of this fund.\",\"daily_returns\":[" + series + "]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= text, "1,000 daily returns (" + text + " tokens by the filter's own estimator of their text)"
                + " read by the model are charged at least that, charged " + used + ": " + ledger(s));
    }

    /** Control: the same returns as percentages are charged their text. */
    @Test
    void dailyReturnsAsPercentagesAreCharged() {
        String s = subject();
        String series = returns(true);
        long text = ESTIMATOR.estimate(series);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/translate"), s,
                "{\"prompt\":\"Summarise the volatility and the drawdowns of this fund.\",\"daily_returns\":[" + series + "]}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= text, "text " + text + ", charged " + used + ": " + ledger(s));
    }
}
