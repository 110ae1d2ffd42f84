package io.tokenquota.servlet.testing;

/** Text for request bodies of a known size: English prose, about one o200k token per 4.5 characters. */
public final class Prose {
    private static final String[] WORDS = ("the committee reviewed quarterly results and noted that revenue in"
            + " northern regions grew while costs for logistics shipping and warehousing rose sharply because fuel"
            + " prices climbed during winter months so management proposed new contracts with regional carriers")
            .split(" ");

    private Prose() {
    }

    /** English prose of at least {@code chars} characters (ASCII, so as many UTF-8 bytes), sentences of 17 words. */
    public static String english(int chars) {
        StringBuilder sb = new StringBuilder(chars + 16);
        int i = 0;
        while (sb.length() < chars) {
            sb.append(WORDS[i % WORDS.length]);
            i++;
            sb.append(i % 17 == 0 ? ". " : " ");
        }
        return sb.toString();
    }
}
