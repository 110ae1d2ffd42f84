package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** What a model's raw text counts, with an estimator of one token per character. */
final class RawTextTest {
    private static long tokens(String text) {
        RawText raw = new RawText(CharSequence::length, StandardCharsets.UTF_8);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        raw.feed(bytes, 0, bytes.length);
        raw.endPiece();
        return raw.tokens();
    }

    @Test
    void base64IsPassedOverButUrlSafeBase64AndWordsJoinedByHyphensOrUnderscoresCount() {
        byte[] image = new byte[600];
        new Random(7).nextBytes(image);
        String base64 = Base64.getEncoder().encodeToString(image);
        String urlSafe = Base64.getUrlEncoder().encodeToString(image);
        assertEquals(4, tokens("see " + base64), "a base64 image is no text");
        assertEquals(("see " + urlSafe).length(), tokens("see " + urlSafe),
                "URL-safe base64 counts: random ids in its alphabet are a model's, files come in base64");
        String kebab = "the-supplier-may-end-this-agreement-on-thirty-days-notice-".repeat(10);
        String snake = "The_Supplier_May_End_This_Agreement_On_Thirty_Days_Notice_".repeat(10);
        assertEquals(kebab.length(), tokens(kebab), "words a model joined by hyphens");
        assertEquals(snake.length(), tokens(snake), "or by underscores");
    }

    @Test
    void wordsRunTogetherCount() {
        String pascal = "TheSupplierMayEndThisAgreementOnThirtyDaysNotice".repeat(10);
        String camel = "the" + pascal;
        String query = "the+supplier+may+end+this+agreement+on+thirty+days+notice+".repeat(10);
        String path = "the/supplier/may/end/this/agreement/on/thirty/days/notice/".repeat(10);
        for (String words : new String[] {pascal, camel, query, path}) {
            assertEquals(words.length(), tokens(words), words.substring(0, 20));
        }
    }

    @Test
    void textWrittenInBase64OrHexCountsAsWritten() {
        byte[] story = "The supplier may end this agreement on thirty days notice. ".repeat(10)
                .getBytes(StandardCharsets.UTF_8);
        String base64 = Base64.getEncoder().encodeToString(story);
        String lines = Base64.getMimeEncoder().encodeToString(story);
        StringBuilder hex = new StringBuilder();
        for (byte b : story) {
            hex.append(String.format("%02x", b));
        }
        for (String encoded : new String[] {base64, lines, hex.toString()}) {
            assertEquals(encoded.length(), tokens(encoded), encoded.substring(0, 20));
        }
    }

    @Test
    void base64InLinesIsPassedOverButWordsOnLinesOfTheirOwnCount() {
        byte[] attachment = new byte[3_000];
        new Random(11).nextBytes(attachment);
        String mime = Base64.getMimeEncoder().encodeToString(attachment);
        assertEquals("see \nBest regards".length(), tokens("see " + mime + "\nBest regards"),
                "MIME's lines of 76 characters are encoded data; its last, shorter line ends it");
        String list = "apple\nbanana\ncherry\ndate\nelderberry\nfig\ngrape\n".repeat(10);
        assertEquals(list.length(), tokens(list), "a word on each line");
    }

    @Test
    void shortLinesEndARunAndSequencesCount() {
        StringBuilder numbers = new StringBuilder();
        for (int i = 2; numbers.length() < 2_000; i++) {
            numbers.append(i).append('\n');
        }
        String capitals = "THE\nSUPPLIER\nMAY\nEND\nTHIS\nAGREEMENT\n".repeat(20);
        String uuids = (java.util.UUID.nameUUIDFromBytes(new byte[] {1}) + "\n").repeat(20);
        String fasta = ("ACGTTGCAAGCTTGACCTGAAGTCCGTAACGGATCCGATTACGGCTAGCTAGGCTAACGT".substring(0, 60) + "\n").repeat(20);
        for (String text : new String[] {numbers.toString(), capitals, uuids, fasta}) {
            assertEquals(text.length(), tokens(text), text.substring(0, 12));
        }
    }

    @Test
    void longRunsOfAnyAlphabetButAFilesBase64Count() {
        String protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUAIGSANQYIYLGPSLKGELGAIRRGDQDGGMHYL";
        String gapped = "ACGT-ACGTTGCA--AGCTTGACCTGAAGTCCGTAACGGATCCGATTRCGGCTAGCTAGGCTAACGYACGTTG".repeat(5);
        StringBuilder binary = new StringBuilder();
        for (byte b : "The supplier may end this agreement.".getBytes(StandardCharsets.UTF_8)) {
            binary.append(String.format("%8s", Integer.toBinaryString(b & 0xFF)).replace(' ', '0'));
        }
        String base32 = "KRUGKIDTOVYHA3DJMVZCA3LBPEQGK3TEEB2GQ2LTEBQWO4TFMVWWK3TUEBXW4IDUNBUXE5DZEBSGC6LTEBXG65DJMNSS4IA=".repeat(4);
        for (String text : new String[] {protein + "\n" + protein, gapped, binary.toString(), base32}) {
            assertEquals(text.length(), tokens(text), text.substring(0, 12));
        }
    }

    @Test
    void hexCountsAsTheModelsText() {
        byte[] bytecode = new byte[600];
        new Random(13).nextBytes(bytecode);
        String hex = "0x" + java.util.HexFormat.of().formatHex(bytecode);
        assertEquals(hex.length(), tokens(hex), "a contract's bytecode a model wrote");
        String upper = hex.substring(2).toUpperCase(java.util.Locale.ROOT);
        assertEquals(upper.length(), tokens(upper), "in upper case too");
    }

    @Test
    void idsAndSecretsOnePerLineCountWhateverTheirWidth() {
        Random r = new Random(17);
        StringBuilder hexKeys = new StringBuilder();
        StringBuilder secrets = new StringBuilder();
        StringBuilder env = new StringBuilder();
        String alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 0; i < 20; i++) {
            byte[] key = new byte[64];
            r.nextBytes(key);
            hexKeys.append(java.util.HexFormat.of().formatHex(key)).append('\n');
            secrets.append(Base64.getEncoder().encodeToString(key)).append('\n');
            env.append("JWT_SECRET_").append(i).append('=');
            for (int j = 0; j < 80; j++) {
                env.append(alnum.charAt(r.nextInt(alnum.length())));
            }
            env.append('\n');
        }
        for (String text : new String[] {hexKeys.toString(), secrets.toString(), env.toString()}) {
            assertEquals(text.length(), tokens(text), text.substring(0, 12));
        }
    }

    @Test
    void silenceInAFilesBase64IsPassedOverButSequencesOfOneLetterCount() {
        byte[] speech = new byte[60_000];
        Random r = new Random(19);
        for (int i = 0; i < speech.length; i++) {
            // two clips of speech joined by digital silence, and a quiet tail
            boolean silent = i >= 20_000 && i < 40_000 || i >= 55_000;
            speech[i] = silent ? (byte) (i >= 55_000 ? r.nextInt(3) - 1 : 0) : (byte) r.nextInt();
        }
        String wav = Base64.getEncoder().encodeToString(speech);
        assertEquals("see ".length(), tokens("see " + wav), "audio's silence is part of the file");
        byte[] silenceFirst = new byte[30_000];
        new Random(23).nextBytes(silenceFirst);
        java.util.Arrays.fill(silenceFirst, 0, 10_000, (byte) 0);
        assertEquals("see ".length(), tokens("see " + Base64.getEncoder().encodeToString(silenceFirst)),
                "silence ahead of the file's data too");
        String polyA = "ACGTTGCAAGCTTGACCTGAAGTCCGTAACGG" + "A".repeat(600) + "ACGTTGCAAGCTTGACC";
        assertEquals(polyA.length(), tokens(polyA), "a sequence's run of one letter is text");
    }

    @Test
    void anImagesMetadataIsTheImagesButTextAfterANonceCounts() {
        Random r = new Random(29);
        byte[] image = new byte[120_000];
        r.nextBytes(image);
        byte[] workflow = ("{\"prompt\":{\"3\":{\"class_type\":\"KSampler\",\"inputs\":{\"seed\":42,\"steps\":30}}},"
                + "\"workflow\":\"a long graph of nodes\"}").repeat(80).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(workflow, 0, image, 1_000, workflow.length);
        assertEquals("see ".length(), tokens("see " + Base64.getEncoder().encodeToString(image)),
                "a PNG's text chunks are the image's");
        byte[] nonce = new byte[300];
        r.nextBytes(nonce);
        String story = Base64.getEncoder().encodeToString(nonce).replace("=", "")
                + Base64.getEncoder().encodeToString("The supplier may end this agreement on thirty days notice. "
                        .repeat(60).getBytes(StandardCharsets.UTF_8));
        long counted = tokens(story);
        assertTrue(counted >= story.length() - 512, "a story's base64 after a nonce: " + counted + " of "
                + story.length());
    }

    @Test
    void base64OfUtf16TextAndRandomLettersAndDigitsCount() {
        String script = "Get-ChildItem -Path $env:TEMP -Recurse | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-7) }"
                + " | Remove-Item -Force -ErrorAction SilentlyContinue; ";
        String encoded = Base64.getEncoder().encodeToString(script.repeat(20).getBytes(StandardCharsets.UTF_16LE));
        String command = "powershell.exe -NoProfile -EncodedCommand " + encoded;
        assertEquals(command.length(), tokens(command), "PowerShell's -EncodedCommand is base64 of UTF-16LE text");
        Random r = new Random(31);
        String alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder random = new StringBuilder();
        for (int i = 0; i < 6_000; i++) {
            random.append(alnum.charAt(r.nextInt(alnum.length())));
        }
        assertEquals(random.length(), tokens(random.toString()), "a random string of letters and digits a model wrote");
    }
}
