package io.tokenquota.servlet.breakit189;

/**
 * The two prompts of round 189, and what {@code o200k_base} counts for them (jtokkit 1.1.0,
 * {@code countTokensOrdinary}, measured on these very strings).
 */
final class Prompts189 {
    private Prompts189() {
    }

    /** A founder's posts, as they were written: eight short posts, each shared four times in a thread. */
    static final String[] POSTS = {
        "Big news: after three years of late nights, our team just shipped version 4.0 of the scheduling app that 12,000 clinics use every day.",
        "Here is what I learned about hiring: look for people who ask better questions than you do, and give them room to be wrong in public.",
        "We cut our cloud bill by 38% in one quarter. No magic, just boring work: right-sizing instances, deleting old snapshots, and turning off what nobody used.",
        "Customer success is not a department. It is the sum of every promise the product keeps when nobody from sales is in the room.",
        "Five habits that changed my year: write before reading email, walk after lunch, say no twice a week, ship small, and thank someone every Friday.",
        "Our intern rewrote the onboarding flow in two weeks and sign-ups went up by a fifth. Give junior people real problems and get out of the way.",
        "Remote work did not kill our culture. Unclear goals did, and fixing the goals fixed most of what we blamed on working from home.",
        "If your roadmap has forty items, you do not have a roadmap. You have a wish list with dates, and everyone on the team knows it.",
    };

    /** The thread in plain letters. */
    static final String THREAD = thread();

    /**
     * The same thread as LinkedIn and X posts are often written: in "bold" letters from a Unicode text
     * generator, the Mathematical Sans-Serif Bold letters and digits (U+1D5D4.., U+1D5EE.., U+1D7EC..).
     */
    static final String BOLD_THREAD = bold(THREAD);

    /** What {@code o200k_base} counts for {@link #THREAD}. */
    static final long THREAD_TOKENS = 973;

    /** What {@code o200k_base} counts for {@link #BOLD_THREAD}: every bold letter is a 4-byte code point. */
    static final long BOLD_THREAD_TOKENS = 8_636;

    /** Minutes of a board meeting and a briefing, in Amharic (Ge'ez script). */
    static final String[] AMHARIC = {
        "አዲስ አበባ የኢትዮጵያ ዋና ከተማ ስትሆን የአፍሪካ ህብረት መቀመጫም ናት። ከተማዋ በ1879 ዓ.ም. በአፄ ምኒልክ እና በእቴጌ ጣይቱ ተመሠረተች። ዛሬ ከአምስት ሚሊዮን በላይ ሰዎች ይኖሩባታል።",
        "የኢትዮጵያ ኢኮኖሚ በዋናነት በግብርና ላይ የተመሠረተ ነው። ቡና ከሀገሪቱ ዋና የወጪ ንግድ ምርቶች አንዱ ሲሆን በዓለም ገበያ ከፍተኛ ተቀባይነት አለው። ገበሬዎች ጤፍ፣ በቆሎ፣ ስንዴ እና ገብስ ያመርታሉ።",
        "ትምህርት ለሀገር እድገት መሠረት ነው። መንግሥት በየአመቱ አዳዲስ ትምህርት ቤቶችን እና ዩኒቨርሲቲዎችን ይገነባል። ወጣቶች በሳይንስ እና በቴክኖሎጂ ዘርፍ እንዲሰለጥኑ ይበረታታሉ።",
        "የታላቁ የኢትዮጵያ ህዳሴ ግድብ በአባይ ወንዝ ላይ የተገነባ ሲሆን ለሚሊዮኖች የኤሌክትሪክ ኃይል ያቀርባል። ግንባታው በ2003 ዓ.ም. ተጀምሮ ብዙ ዓመታት ፈጅቷል።",
        "የስብሰባው ቃለ ጉባኤ፦ የቦርዱ አባላት የሩብ ዓመቱን ሪፖርት ገምግመዋል። ገቢ በአስራ ሁለት በመቶ አድጓል፣ ወጪ ቀንሷል፣ እና አዲስ ቅርንጫፍ በባህር ዳር ለመክፈት ተወስኗል። ቀጣዩ ስብሰባ በሚቀጥለው ወር ይካሄዳል።",
    };

    /** The Amharic document: its paragraphs, eight sections of them. */
    static final String AMHARIC_DOCUMENT = amharic();

    /** What {@code o200k_base} counts for {@link #AMHARIC_DOCUMENT}. */
    static final long AMHARIC_TOKENS = 8_680;

    private static String thread() {
        StringBuilder b = new StringBuilder();
        for (int r = 0; r < 4; r++) {
            for (int i = 0; i < POSTS.length; i++) {
                b.append(POSTS[(i + r * 3) % POSTS.length]).append(r % 2 == 0 ? "\n\n" : " ");
            }
        }
        return b.toString();
    }

    private static String amharic() {
        StringBuilder b = new StringBuilder();
        for (int r = 0; r < 8; r++) {
            b.append(r + 1).append(". ");
            for (int i = 0; i < AMHARIC.length; i++) {
                b.append(AMHARIC[(i + r * 2) % AMHARIC.length]).append(i % 2 == 0 ? "\n" : " ");
            }
            b.append('\n');
        }
        return b.toString();
    }

    static String bold(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c >= 'A' && c <= 'Z') {
                b.appendCodePoint(0x1D5D4 + c - 'A');
            } else if (c >= 'a' && c <= 'z') {
                b.appendCodePoint(0x1D5EE + c - 'a');
            } else if (c >= '0' && c <= '9') {
                b.appendCodePoint(0x1D7EC + c - '0');
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** {@code text} as a JSON string's contents (quotes, backslashes and line breaks escaped). */
    static String json(String text) {
        return text.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
