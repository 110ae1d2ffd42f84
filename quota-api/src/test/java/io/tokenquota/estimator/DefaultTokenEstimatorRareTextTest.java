package io.tokenquota.estimator;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.TokenEstimator;
import java.util.Locale;
import java.util.Random;
import java.util.function.IntSupplier;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Text outside the calibrated languages must not be estimated far below what o200k_base counts: an
 * estimate held for a call is what a client pays when no usage comes back, so a letter the estimator
 * prices at a fraction of its tokens lets a call go mostly unpaid. For each kind of text the estimator
 * prices apart (letters o200k reads byte by byte, the "bold" and "italic" letters of font generators,
 * full-width letters, enclosed letters, control characters, Unicode spaces, runs of punctuation, the prose
 * of languages whose words split more than the calibrated ones), text is held to between 0.9 and 1.6 times
 * o200k_base's count (jtokkit); an over-estimate of rare text is the lesser harm.
 */
class DefaultTokenEstimatorRareTextTest {

    private static final double FLOOR = 0.9;
    private static final double CEILING = 1.6;

    private final TokenEstimator estimator = new DefaultTokenEstimator();

    private static final String POLISH = """
            Wczoraj wieczorem w Krakowie odbyło się spotkanie mieszkańców dzielnicy z przedstawicielami urzędu \
            miasta. Rozmawiano o budowie nowej linii tramwajowej, która ma połączyć centrum z osiedlami na \
            północy. Mieszkańcy pytali, kiedy rozpoczną się prace i jak długo potrwają utrudnienia w ruchu. \
            Urzędnicy wyjaśnili, że przetarg zostanie ogłoszony jesienią, a pierwsze tramwaje pojadą nową trasą \
            za trzy lata. Wiele osób zwracało uwagę na brak miejsc parkingowych i zbyt małą liczbę zieleni w \
            okolicy.""";

    private static final String CZECH = """
            Zápis ze zasedání řídicího výboru, čtrnáctého března. Přítomni byli předseda, pokladník, dva \
            zaměstnanci kanceláře a auditor. Pokladník oznámil, že příjmy v prvním čtvrtletí činily čtyři sta \
            dvanáct tisíc korun oproti rozpočtu tři sta devadesát tisíc, především díky novým školicím kurzům, \
            zatímco náklady překročily plán o osm procent kvůli stěhování kanceláře. Auditor požádal, aby bylo \
            stěhování ve výroční zprávě uvedeno jako jednorázová položka. Předseda navrhl zmrazit přijímání \
            nových zaměstnanců do června, přezkoumat smlouvy s dodavateli úklidu, stravování a tisku a požádat \
            tři firmy o nabídky na nový telefonní systém. Zaměstnanci upozornili na pozdní proplácení cestovních \
            náhrad; pokladník souhlasil, že je od dubna proplatí do deseti pracovních dnů. Výbor schválil jarní \
            zpravodaj, požádal o kratší verzi pro členy žijící v zahraničí a stanovil příští schůzi na \
            jedenáctého dubna v nové kanceláři. Úkoly: pokladník rozešle upravenou prognózu, předseda napíše \
            dodavatelům, zaměstnanci připraví cestovní směrnici a auditor potvrdí způsob zaúčtování nákladů na \
            stěhování před dubnovou schůzí.""";

    private static final String HUNGARIAN = """
            Jegyzőkönyv az irányítóbizottság március tizennegyedikei üléséről. Jelen voltak: az elnök, a \
            pénztáros, a személyzet két tagja és a könyvvizsgáló. A pénztáros beszámolt arról, hogy az első \
            negyedéves bevétel négyszáztizenkétezer forint volt a háromszázkilencvenezres költségvetéssel \
            szemben, főként az új képzéseknek köszönhetően, míg a költségek nyolc százalékkal meghaladták a \
            tervet az iroda költözése miatt. A könyvvizsgáló kérte, hogy a költözést egyszeri tételként mutassák \
            ki az éves beszámolóban. Az elnök javasolta, hogy júniusig függesszék fel a felvételeket, vizsgálják \
            felül a takarítási, étkeztetési és nyomdai szerződéseket, és kérjenek ajánlatot három cégtől az új \
            telefonrendszerre. A munkatársak szóvá tették az utazási költségtérítések késedelmes kifizetését; a \
            pénztáros vállalta, hogy áprilistól tíz munkanapon belül kifizeti azokat. A bizottság jóváhagyta a \
            tavaszi hírlevelet, rövidebb változatot kért a külföldön élő tagok számára, és a következő ülést \
            április tizenegyedikére tűzte ki az új irodában. Feladatok: a pénztáros körbeküldi a módosított \
            előrejelzést, az elnök levelet ír a beszállítóknak, a munkatársak elkészítik az utazási szabályzat \
            tervezetét, a könyvvizsgáló pedig az áprilisi ülés előtt megerősíti a költözési költségek \
            elszámolását.""";

    private static final String ROMANIAN = """
            Procesul-verbal al ședinței comitetului de conducere din paisprezece martie. Au fost prezenți \
            președintele, trezorierul, doi membri ai personalului și auditorul. Trezorierul a raportat că \
            veniturile din primul trimestru au fost de patru sute doisprezece mii de lei față de un buget de \
            trei sute nouăzeci de mii, în principal datorită noilor cursuri de formare, în timp ce costurile au \
            depășit planul cu opt la sută din cauza mutării biroului. Auditorul a cerut ca mutarea să fie \
            prezentată ca element unic în situațiile financiare anuale. Președintele a propus înghețarea \
            angajărilor până în iunie, revizuirea contractelor cu furnizorii de curățenie, catering și tipărire \
            și solicitarea de oferte de la trei firme pentru noul sistem telefonic. Personalul a semnalat plata \
            întârziată a decontărilor de călătorie; trezorierul a fost de acord să le plătească în termen de \
            zece zile lucrătoare începând din aprilie. Comitetul a aprobat buletinul de primăvară, a cerut o \
            versiune mai scurtă pentru membrii din străinătate și a stabilit următoarea ședință pentru \
            unsprezece aprilie la noul birou. Sarcini: trezorierul va transmite prognoza revizuită, președintele \
            va scrie furnizorilor, personalul va redacta politica de călătorie, iar auditorul va confirma \
            tratamentul costurilor de mutare înainte de ședința din aprilie.""";

    private static final String POLYTONIC_GREEK = """
            Ἐν ἀρχῇ ἐποίησεν ὁ θεὸς τὸν οὐρανὸν καὶ τὴν γῆν. ἡ δὲ γῆ ἦν ἀόρατος καὶ ἀκατασκεύαστος, καὶ σκότος \
            ἐπάνω τῆς ἀβύσσου, καὶ πνεῦμα θεοῦ ἐπεφέρετο ἐπάνω τοῦ ὕδατος. καὶ εἶπεν ὁ θεός Γενηθήτω φῶς. καὶ \
            ἐγένετο φῶς. καὶ εἶδεν ὁ θεὸς τὸ φῶς ὅτι καλόν. Ἄνδρα μοι ἔννεπε, Μοῦσα, πολύτροπον, ὃς μάλα πολλὰ \
            πλάγχθη, ἐπεὶ Τροίης ἱερὸν πτολίεθρον ἔπερσε· πολλῶν δ᾽ ἀνθρώπων ἴδεν ἄστεα καὶ νόον ἔγνω, πολλὰ δ᾽ \
            ὅ γ᾽ ἐν πόντῳ πάθεν ἄλγεα ὃν κατὰ θυμόν. Πάντες ἄνθρωποι τοῦ εἰδέναι ὀρέγονται φύσει. σημεῖον δ᾽ ἡ \
            τῶν αἰσθήσεων ἀγάπησις· καὶ γὰρ χωρὶς τῆς χρείας ἀγαπῶνται δι᾽ αὑτάς.""";

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "mathematical bold, 1D400, 1D433",
        "mathematical italic, 1D434, 1D467",
        "mathematical sans-serif bold, 1D5D4, 1D607",
        "mathematical monospace, 1D670, 1D6A3",
        "full-width Latin, FF21, FF5A",
        "Ethiopic (Amharic), 1200, 135A",
        "Tibetan, 0F40, 0FBC",
        "Cherokee, 13A0, 13F5",
        "Mongolian, 1820, 1878",
        "Gothic, 10330, 1034A",
    })
    void wordsOfLettersAreNotUnderEstimated(String name, String first, String last) {
        int[] letters = IntStream.rangeClosed(Integer.parseInt(first, 16), Integer.parseInt(last, 16))
                .filter(cp -> Character.isLetter(cp) || Character.getType(cp) == Character.NON_SPACING_MARK
                        || Character.getType(cp) == Character.COMBINING_SPACING_MARK)
                .toArray();
        Random random = new Random(name.hashCode());
        String text = text(random, 2, 9, () -> letters[random.nextInt(letters.length)]);
        assertRatio(name, text);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "mathematical bold digits, 1D7CE, 1D7D7",
        "mathematical monospace digits, 1D7F6, 1D7FF",
    })
    void numbersInOtherDigitsAreNotUnderEstimated(String name, String first, String last) {
        int from = Integer.parseInt(first, 16);
        int count = Integer.parseInt(last, 16) - from + 1;
        Random random = new Random(name.hashCode());
        assertRatio(name, text(random, 1, 6, () -> from + random.nextInt(count)));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"C0 and DEL, 0", "C1, 1"})
    void controlCharactersAreNotUnderEstimated(String name, int c1) {
        int[] controls = c1 == 1 ? IntStream.range(0x80, 0xA0).filter(cp -> cp != 0x85).toArray()
                : IntStream.concat(IntStream.range(0, 0x20), IntStream.of(0x7F))
                        .filter(cp -> cp != '\t' && cp != '\n' && cp != '\r' && cp != 0x0B && cp != 0x0C).toArray();
        Random random = new Random(name.hashCode());
        assertRatio(name, text(random, 1, 8, () -> controls[random.nextInt(controls.length)]));
    }

    @ParameterizedTest(name = "runs of {0} to {1}")
    @CsvSource({"3, 6", "3, 16", "8, 40"})
    void runsOfAsciiPunctuationAreNotUnderEstimated(int shortest, int longest) {
        String marks = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        Random random = new Random(shortest * 100 + longest);
        assertRatio("punctuation", text(random, shortest, longest, () -> marks.charAt(random.nextInt(marks.length()))));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "parenthesized small letters, 249C, 24B5",
        "circled capitals, 24B6, 24CF",
        "circled small letters, 24D0, 24E9",
        "squared capitals, 1F130, 1F149",
        "negative circled capitals, 1F150, 1F169",
        "negative squared capitals, 1F170, 1F189",
    })
    void wordsOfEnclosedLettersAreNotUnderEstimated(String name, String first, String last) {
        int from = Integer.parseInt(first, 16);
        int count = Integer.parseInt(last, 16) - from + 1;
        Random random = new Random(name.hashCode());
        assertRatio(name, text(random, 2, 9, () -> from + random.nextInt(count)));
    }

    @ParameterizedTest(name = "U+{0}")
    @CsvSource({"000B", "000C", "0085", "2028", "2029"})
    void controlsOfLineLayoutAreNotUnderEstimated(String code) {
        int cp = Integer.parseInt(code, 16);
        Random random = new Random(cp);
        assertRatio("U+" + code, text(random, 1, 8, () -> cp));
    }

    /** English words joined by one Unicode space (as pasted from a word processor), every eleventh a run of 20 to 200 of it. */
    @ParameterizedTest(name = "U+{0}")
    @CsvSource({"00A0", "1680", "2002", "2003", "2009", "202F", "205F", "3000"})
    void spacesOtherThanTheAsciiSpaceAreNotUnderEstimated(String code) {
        int space = Integer.parseInt(code, 16);
        String[] words = ("the committee met on friday and agreed that income for the first quarter was above budget while"
                + " costs ran over plan because of the office move").split(" ");
        Random random = new Random(space);
        StringBuilder b = new StringBuilder();
        for (int w = 0; w < 400; w++) {
            if (w > 0) {
                b.appendCodePoint(space);
            }
            if (w % 11 == 10) {
                b.append(Character.toString(space).repeat(20 + random.nextInt(181)));
            }
            b.append(words[w % words.length]);
        }
        assertRatio("U+" + code, b.toString());
    }

    /** Runs of one mark repeated: o200k merges most marks by 2 to 8 at most, non-ASCII ones not at all. */
    @ParameterizedTest(name = "runs of {0}")
    @CsvSource(value = {"\"", "'", "|", "&", "{", "`", "?", "!",
        "\u00b6", "\u00ab", "\u00a7", "\u20ac", "\u00d7", "\u203b", "\u201c"}, quoteCharacter = '~')
    void runsOfOneRepeatedMarkAreNotUnderEstimated(String mark) {
        Random random = new Random(mark.hashCode());
        assertRatio("runs of " + mark, text(random, 8, 60, () -> mark.codePointAt(0)));
    }

    @ParameterizedTest(name = "runs of {0}")
    @CsvSource({"\u00ab\u00bb\u00a7\u00b6\u20ac\u00a3\u00b0\u00b1\u00d7\u203c\u203b\u2030\u00bf"})
    void runsOfMixedNonAsciiMarksAreNotUnderEstimated(String marks) {
        int[] cps = marks.codePoints().toArray();
        Random random = new Random(marks.hashCode());
        assertRatio("mixed marks", text(random, 3, 16, () -> cps[random.nextInt(cps.length)]));
    }

    /**
     * Latin prose of languages whose words split far more than English ones (the same minutes of a meeting
     * in each, written for this test) and polytonic Greek (Genesis, the Odyssey, Aristotle).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"Polish", "Czech", "Hungarian", "Romanian", "polytonic Greek"})
    void proseOfOtherLanguagesIsNotUnderEstimated(String language) {
        String text = switch (language) {
            case "Polish" -> POLISH;
            case "Czech" -> CZECH;
            case "Hungarian" -> HUNGARIAN;
            case "Romanian" -> ROMANIAN;
            default -> POLYTONIC_GREEK;
        };
        assertRatio(language, text);
    }

    /** 400 words of {@code min} to {@code max} code points, separated by spaces, a full stop after some. */
    private static String text(Random random, int min, int max, IntSupplier codePoint) {
        StringBuilder b = new StringBuilder();
        for (int w = 0; w < 400; w++) {
            if (w > 0) {
                b.append(w % 11 == 0 ? ". " : " ");
            }
            int length = min + random.nextInt(max - min + 1);
            for (int k = 0; k < length; k++) {
                b.appendCodePoint(codePoint.getAsInt());
            }
        }
        return b.toString();
    }

    private void assertRatio(String name, String text) {
        int reference = O200k.count(text);
        long estimate = estimator.estimate(text);
        double ratio = estimate / (double) reference;
        assertTrue(ratio >= FLOOR && ratio <= CEILING, () -> String.format(Locale.ROOT,
                "%s: estimated %d vs o200k %d (%.2fx)", name, estimate, reference, ratio));
    }
}
