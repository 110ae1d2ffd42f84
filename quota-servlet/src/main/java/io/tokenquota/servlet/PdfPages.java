package io.tokenquota.servlet;

import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A PDF's page objects, counted from its bytes as a reader's lexer reads them (ISO 32000-1 7.2-7.3), by
 * hand rather than with PDFBox (decisions.md, "PDF pages, read by hand"). The objects are those the
 * file's cross-reference data places, each lexed at its offset (round 505), or, when that data is missing
 * or broken, those read in file order as below; an object the page tree names that the data frees or does
 * not place is its last {@code N G obj} read in file order, as PDFBox finds it (round 514). White space
 * and comments ({@code %} to the end of the line) separate tokens, a literal string ({@code (...)}, nested, with
 * backslash escapes) and a hex string ({@code <...>}) are one token each, names are read with their
 * {@code #xx} escapes decoded, and {@code N G obj ... endobj}, {@code <<...>>}, {@code [...]} and
 * {@code N G R} are parsed as such, so nothing in a comment or a string is ever read as structure
 * (round 498: object headers in comments and strings replaced the pages, and {@code stream} in a
 * string hid them). {@code stream} is a keyword only after an object's dictionary; its data is skipped
 * by its {@code /Length} when {@code endstream} follows there (so an uncompressed PDF attached to another
 * is data, not the other's objects: round 498), else scanned to the next {@code endstream}.
 *
 * <p>Pages are counted as readers find them: an object whose {@code /Type} is {@code /Page}, and a page
 * of the page tree, whose walk of the document's tree follows Apache PDFBox 3's {@code PDPageTree} and its
 * {@code PageIterator} (round 536; {@link Tree}): a kid is a dictionary a {@code /Kids} names or holds in
 * place, a node one with {@code /Kids} or {@code /Type /Pages}, any other kid a page whatever its
 * {@code /Type}, as PDFBox's {@code getPage(i)}, pdf.js and pdfium render one; the trailer's {@code /Root}
 * is the catalog whatever its own {@code /Type}, and its {@code /Pages} a reference or a dictionary in
 * place. Each object number is read at its last version in file order (an incremental update rewrites
 * pages: round 495); a page of the document's tree counts each time the iteration reaches it, as PDFBox
 * counts it (round 526), every other page object once. A stream with {@code /N} and
 * {@code /First} is read as an object stream whatever its {@code /Type} (readers reach one through the
 * cross-reference stream), decoded through its filter chain ({@code /Filter} also as a reference to
 * another object), each stream within its own bound and all within one {@link Budget}, which the file's
 * cross-reference streams are charged to as well (review 39). The work is
 * linear in the file's size.
 */
final class PdfPages {
    /** The most one of a PDF's object streams is decoded to; a stream that decodes to more counts as its /N. */
    static final int STREAM_DECODED = 8 << 20;
    /**
     * The most an object stream decodes to per byte of it: more than Flate can produce (1,032 to 1 at most), so
     * a stream is cut only by {@link #STREAM_DECODED} and the shared budget, which bound the work a file asks
     * for. It was 100 until round 552: an honest one-page form whose font lists 65,000 widths decodes to 185
     * times its size, and a stream past the bound counts as its /N, 46 pages there.
     */
    static final int STREAM_RATIO = 1_100;
    /** How far into a file its {@code %PDF-} header may be: readers accept bytes before it (ISO 32000-1 Annex H.3). */
    static final int HEADER_WITHIN = 1024;
    /**
     * Bytes scanned in all, per byte of the file, to find where a stream ends whose {@code /Length} is an
     * object not read yet (qpdf writes each length after its stream); past it, a stream ends at the next
     * {@code endstream}.
     */
    private static final int LOOKAHEAD_PER_BYTE = 4;
    /** Containers nested deeper than this are skipped, not parsed (no stack a file can exhaust). */
    private static final int MAX_DEPTH = 64;
    /**
     * The most all of a file's object and cross-reference streams decode to together, counting what a stream
     * rejected for its own bound inflated before it stopped (round 505: twelve streams of 80 KB, each within
     * its own bound, decoded to 96 MB; review 39: the same as a /Prev chain of cross-reference streams): the
     * decoding a file asks for has one bound, whatever the number or kind of its streams.
     */
    static final int DECODED_TOTAL = 8 << 20;
    /**
     * The most tokens read from all decoded object streams together (round 505: 8 MB of {@code 3 0 R} in
     * one {@code /Kids}, 1.3 million references per stream, allocated gigabytes): an honest file's object
     * streams hold a few tokens per object. Decoded text is the only input larger than the file itself.
     */
    static final long DECODED_TOKENS = 1_000_000;
    /**
     * The most pages a count adds for leaves the document's page tree names more than once (round 526: a
     * page is each naming, as PDFBox counts them): as many as the references a file's decoded text may hold,
     * so a {@code /Kids} array object that many nodes share does not multiply into more pages than that.
     */
    static final long NAMED_AGAIN = DECODED_TOKENS;
    /** The widest row of a cross-reference stream, its three {@code /W} fields together, as PDFBox takes them. */
    private static final int MAX_ROW_WIDTH = 20;
    /** PDFBox looks for the {@code " obj"} before a {@code /XRef} in the 39 windows of ten bytes before it. */
    private static final int STREAM_WINDOWS = 40;
    /** Where PDFBox's searches for sections start (its {@code MINIMUM_SEARCH_OFFSET}). */
    private static final int SEARCH_FROM = 6;
    /** Bytes lexed at most when an offset is checked for a section (a cross-reference stream's dictionary is short). */
    private static final int SECTION_PROBE = 16 * 1024;
    /** How far from the end of the file {@code startxref} may be (readers search the last kilobyte or so). */
    private static final int XREF_TAIL = 4096;
    /**
     * The most cross-reference sections a {@code /Prev} chain is read through (one per incremental update,
     * a hybrid file's {@code /XRefStm} with its table): past it the data is not trusted and the file is read in order.
     */
    static final int MAX_SECTIONS = 1024;
    /**
     * Bytes lexed in all, per byte of the file, when objects are read at the offsets the cross-reference
     * data gives: objects do not overlap in a well-formed file; past it the data is not trusted (offsets
     * that make one span lexed again and again) and the file is read in order.
     */
    private static final int LEXED_PER_BYTE = 2;
    /**
     * A free cross-reference entry: the object number is deleted in that update, not read through the data;
     * only a page tree that still names it has it looked up in order ({@link #find}).
     */
    private static final long[] FREE = {0};

    private final byte[] pdf;
    private Lexer lexer;
    /** What decoded streams may still cost this count: one budget shared by every stream, cross-reference streams too. */
    private final Budget budget;
    /**
     * Each object number's newest cross-reference entry ({@code {1, offset}}, {@code {2, stream, index}} or
     * {@link #FREE}); null when the file is read in order.
     */
    private Map<Long, long[]> xref;
    /** Cross-reference rows a file may still have read: its entries cannot outnumber its bytes. */
    private long rows;
    /** Page objects counted for object streams a budget left unread: as many as each may hold. */
    private long unread;
    /**
     * Whether a trailer (or a cross-reference stream's dictionary) names an {@code /Encrypt} dictionary: the
     * file's object streams are then ciphertext, which this count does not decrypt (see {@link #readObjectStreams}).
     * Decided once the objects are read ({@link #encryption}), from the values the trailers give.
     */
    private boolean encrypted;
    /** Every trailer's {@code /Encrypt} value, as read: a dictionary, a reference, or anything else. */
    private final List<Object> encryptValues = new ArrayList<>();
    /** Each object number's last version. */
    private final Map<Long, Obj> objects = new HashMap<>();
    private final List<ObjectStream> objectStreams = new ArrayList<>();
    /** Page dictionaries outside any object (a piece of a file cut mid-object): each counts once. */
    private long loose;
    /** Where the object being read began, -1 between objects. */
    private int open = -1;
    private long lookahead;
    /** The catalog the newest trailer names ({@code /Root}), read in order the last one in the file; -1 when none. */
    private long root = -1;
    /**
     * The catalog when the newest trailer (read in order, the last one) writes it in place, {@code /Root << ... >>}:
     * ISO 32000-1 asks for a reference, PDFBox takes either (round 558); null when {@code /Root} is not a dictionary.
     */
    private Obj rootInPlace;
    /** Where sections may start ({@link #findSections}), found when an offset first needs repair; null before. */
    private int[] tables;
    private int[] streams;
    /** Whether the last section read had a {@code /Prev} the chain did not follow (not above 0, or no number). */
    private boolean unfollowed;
    /**
     * The file read in order, once, when the page tree names an object the cross-reference data frees or
     * does not place (see {@link #find}); null until then.
     */
    private PdfPages inOrder;

    private PdfPages(byte[] pdf) {
        this(pdf, new Budget());
    }

    /** A reader of a whole file (or a piece of one) whose decoding is charged to {@code budget}. */
    private PdfPages(byte[] pdf, Budget budget) {
        this.pdf = pdf;
        this.lexer = new Lexer(pdf, start(pdf), pdf.length);
        this.lookahead = (long) LOOKAHEAD_PER_BYTE * pdf.length;
        this.budget = budget;
        this.rows = Math.max(1024, pdf.length / 4);
    }

    /**
     * The page objects of a PDF or of a piece of one; 0 when none. A file is read as readers read it,
     * through its cross-reference data (each object lexed at its offset, a stream's data never lexed),
     * and in order, as readers reconstruct one, only when that data is missing or broken (a piece of a
     * file has none).
     */
    static long pageObjects(byte[] pdf) {
        PdfPages pages = new PdfPages(pdf);
        if (!pages.readThroughXref()) {
            // the same budget: what cross-reference streams decoded before the data was given up stays spent
            pages = new PdfPages(pdf, pages.budget);
            pages.read();
        }
        pages.readObjectStreams();
        return pages.count();
    }

    /**
     * Where the last object a piece of a PDF begins ({@code N G obj}) but does not end ({@code endobj})
     * before the piece does starts; {@code pdf.length} when every object begun in it ends in it. A file
     * uploaded in parts is cut anywhere, also inside a compressed object stream, which only its whole can count.
     */
    static int unfinishedObject(byte[] pdf) {
        PdfPages pages = new PdfPages(pdf);
        pages.read();
        return pages.open >= 0 ? pages.open : pdf.length;
    }

    /**
     * Where reading starts: at the {@code %PDF-} header when it is within {@link #HEADER_WITHIN} bytes, at
     * 0 when the bytes begin with an object; a piece of a file cut inside a stream's data (its first
     * {@code endstream} before its first {@code endobj}) is read from after that {@code endstream}, so
     * the data is not read as objects.
     */
    private static int start(byte[] pdf) {
        int header = indexOf(pdf, "%PDF-", 0, Math.min(pdf.length, HEADER_WITHIN));
        if (header >= 0) {
            return header;
        }
        Lexer probe = new Lexer(pdf, 0, Math.min(pdf.length, 64));
        if (probe.next().kind == Kind.INT && probe.next().kind == Kind.INT && probe.next().isKeyword("obj")) {
            return 0;
        }
        int endstream = indexOf(pdf, "endstream", 0, pdf.length);
        int endobj = indexOf(pdf, "endobj", 0, pdf.length);
        return endstream >= 0 && (endobj < 0 || endstream < endobj) ? endstream + "endstream".length() : 0;
    }

    /**
     * Reads the objects the file's cross-reference data names (ISO 32000-1 7.5.4-7.5.8): from the
     * {@code startxref} at its end, the table or cross-reference stream there and each older one its
     * {@code /Prev} names (an incremental update's, whose entries a newer one overrides), a hybrid file's
     * {@code /XRefStm} too; each object is lexed at its offset, so nothing inside a stream's data (an
     * attached PDF, metadata holding {@code endstream}) is read as objects, whatever its {@code /Length}
     * (round 505). False, with nothing kept, when the data is missing or broken: an offset that does not
     * point at its object's {@code N G obj} (offsets may count from the header when bytes precede it, as
     * PDFBox allows), a table or stream that does not parse, or objects that overlap more than
     * {@link #LEXED_PER_BYTE} allows; the file is then read in order, as pdf.js and PDFBox reconstruct it.
     */
    private boolean readThroughXref() {
        // the last startxref before the last %%EOF, as PDFBox looks for it (round 560: a "startxref" after the end, in
        // a comment or alone, was taken, had no number, and the file was read in order)
        int tail = Math.max(0, pdf.length - XREF_TAIL);
        int eof = lastIndexOf(pdf, "%%EOF", tail);
        int at = lastIndexOf(pdf, "startxref", tail, eof < 0 ? pdf.length : eof);
        if (at < 0) {
            return false;
        }
        // its number after any white space and comments, a real by the digits before its point, as PDFBox's
        // skipSpaces and readLong read it (round 562: 80 spaces before it, or 7711.0, had the file read in order)
        Token offset = new Lexer(pdf, at + "startxref".length(), pdf.length).next();
        if (offset.kind != Kind.INT && offset.kind != Kind.REAL) {
            return false;
        }
        int base = base(offset.number);
        long first = offset.number + base;
        if (base < 0) {
            // a startxref that lands on no section either way is taken to be a few bytes off: PDFBox uses the
            // section nearest to it (round 558: read in order, leftovers no section names replaced the tree)
            base = 0;
            first = nearestSection(offset.number);
        }
        // the sections are read once, from the base their startxref lands on: a second pass would decode
        // every cross-reference stream again
        Map<Long, long[]> entries = first < 0 ? null : sections(first, base);
        // a chain ended on a /Prev it did not follow, whose sections do not name the catalog, has older sections
        // this count cannot reach: the file is read in order, as PDFBox then searches the whole file (round 555: a
        // /Prev that is a reference ended the chain at an update naming only object 0, and the object stream the
        // older section names was never read). A catalog a whole chain leaves unnamed is searched for alone
        // (round 514); reading such a file in order let objects no section names replace the tree (round 558)
        if (entries == null || !placed(entries) || unfollowed && root >= 0 && entries.getOrDefault(root, FREE)[0] == 0) {
            return false;
        }
        xref = entries;
        if (readObjects()) {
            return true;
        }
        xref = null;
        objects.clear();
        objectStreams.clear();
        return false;
    }

    /**
     * What the file's offsets count from: 0, or the {@code %PDF-} header when bytes precede it and
     * {@code startxref} lands on a section only when counted from there (as PDFBox allows); -1 when it
     * lands on none either way.
     */
    private int base(long startxref) {
        int header = indexOf(pdf, "%PDF-", 0, Math.min(pdf.length, HEADER_WITHIN));
        for (int base : header > 0 ? new int[] {0, header} : new int[] {0}) {
            if (isSection(startxref + base)) {
                return base;
            }
        }
        return -1;
    }

    /**
     * Whether a section starts at {@code at}, as PDFBox 3 checks an offset before it repairs it ({@code
     * COSParser.checkXRefOffset}, {@code checkXRefStreamOffset}): the keyword {@code xref}, or, after white space
     * (or at the file's first byte), an object {@code N G obj} whose dictionary says {@code /Type /XRef} (round 559:
     * a {@code startxref} or {@code /Prev} on an object stream or a font was kept, failed as a cross-reference stream,
     * and had the file read in order, where PDFBox looks for the nearest section).
     */
    private boolean isSection(long at) {
        if (at < 0 || at >= pdf.length) {
            return false;
        }
        Lexer probe = new Lexer(pdf, (int) at, (int) Math.min(pdf.length, at + SECTION_PROBE));
        Token first = probe.next();
        if (first.isKeyword("xref")) {
            return true;
        }
        if (at > 0 && !Lexer.white(pdf[(int) at - 1])
                || first.kind != Kind.INT || probe.next().kind != Kind.INT || !probe.next().isKeyword("obj")) {
            return false;
        }
        Lexer kept = lexer;
        lexer = probe;
        try {
            return value(0) instanceof Map<?, ?> dict && isType(dict, "XRef");
        } finally {
            lexer = kept;
        }
    }

    /**
     * The start of the section nearest to {@code offset} (a table's {@code xref}, or the {@code N G obj} of an
     * object whose dictionary holds {@code /XRef}), a table on a tie; -1 when the file has none. This is how
     * PDFBox 3 repairs a {@code startxref} or {@code /Prev} that lands on no section ({@code
     * COSParser.checkXRefOffset}, {@code bfSearchForXRef}): a writer that counted a line ending twice is off by
     * a byte or a few, and the file is read through its sections as PDFBox reads it, not in order (round 558).
     */
    private long nearestSection(long offset) {
        if (tables == null) {
            findSections();
        }
        long table = nearest(tables, offset);
        long stream = nearest(streams, offset);
        return table < 0 ? stream : stream < 0 || Math.abs(table - offset) <= Math.abs(stream - offset) ? table : stream;
    }

    /** The value of {@code sorted} nearest to {@code offset}; -1 when it is empty. */
    private static long nearest(int[] sorted, long offset) {
        int at = java.util.Arrays.binarySearch(sorted, (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, offset)));
        if (at >= 0) {
            return sorted[at];
        }
        int after = -at - 1;
        long best = -1;
        if (after < sorted.length) {
            best = sorted[after];
        }
        if (after > 0 && (best < 0 || offset - sorted[after - 1] <= best - offset)) {
            best = sorted[after - 1];
        }
        return best;
    }

    /**
     * Finds every place a section may start, in one pass over the file, once per count (a chain of {@code /Prev}s
     * each a few bytes off repairs each against the same places), as PDFBox's {@code bfSearchForXRefTables} and
     * {@code bfSearchForXRefStreams} find them: the keyword {@code xref} after white space (not the end of
     * {@code startxref}); and for each {@code /XRef} in the bytes (whatever follows it: {@code /XRefStm} too, round
     * 559) the object PDFBox takes it to be in, {@link #streamStart}.
     */
    private void findSections() {
        List<Integer> tableList = new ArrayList<>();
        List<Integer> objList = new ArrayList<>();
        List<Integer> xrefNames = new ArrayList<>();
        for (int i = SEARCH_FROM; i < pdf.length; i++) {
            byte b = pdf[i];
            if (b == 'x' && startsWith(pdf, i, "xref") && Lexer.white(pdf[i - 1])) {
                tableList.add(i);
            } else if (b == ' ' && startsWith(pdf, i, " obj")) {
                objList.add(i);
            } else if (b == '/' && startsWith(pdf, i, "/XRef")) {
                xrefNames.add(i);
            }
        }
        int[] objs = objList.stream().mapToInt(Integer::intValue).toArray();
        tables = tableList.stream().mapToInt(Integer::intValue).toArray();
        streams = xrefNames.stream().mapToInt(x -> streamStart(objs, x)).filter(x -> x >= 0).distinct().sorted().toArray();
    }

    /**
     * Where PDFBox takes the object holding the {@code /XRef} at {@code name} to start: it looks back in windows of
     * ten bytes, nearest first, up to 390 bytes, for {@code " obj"} (a space, then {@code obj}), takes the first it
     * finds (the leftmost in its window), and accepts it only after a one-digit generation, a space and the object's
     * digits ({@code bfSearchForXRefStreams}); -1 otherwise (round 559: a decoy headed {@code 900 00 obj} or {@code
     * 900 0\nobj}, or 395 bytes before its {@code /XRef}, is no section to PDFBox). {@code objs}: every
     * {@code " obj"} in the file, in order.
     */
    private int streamStart(int[] objs, int name) {
        int before = java.util.Arrays.binarySearch(objs, name);
        before = before >= 0 ? before - 1 : -before - 2;
        if (before < 0) {
            return -1;
        }
        // the nearest window holding one, and in it the leftmost
        int window = (name - objs[before] + 9) / 10;
        if (window >= STREAM_WINDOWS || name - window * 10 <= 0) {
            return -1;
        }
        int leftmost = java.util.Arrays.binarySearch(objs, name - window * 10);
        int p = objs[leftmost >= 0 ? leftmost : -leftmost - 1];
        if (p < 2 || !digit(pdf[p - 1]) || pdf[p - 2] != ' ') {
            return -1;
        }
        int t = p - 3;
        while (t > SEARCH_FROM && digit(pdf[t])) {
            t--;
        }
        return t == p - 3 ? -1 : t + 1;
    }

    private static boolean digit(byte b) {
        return b >= '0' && b <= '9';
    }

    /** Past white space and comments from {@code at}, as PDFBox's {@code skipSpaces}. */
    private int skipSpaces(int at) {
        while (at < pdf.length && (Lexer.white(pdf[at]) || pdf[at] == '%')) {
            if (pdf[at] == '%') {
                at = lineEnd(at);
            } else {
                at++;
            }
        }
        return at;
    }

    /** Where the line from {@code at} ends: its CR or LF, or the end of the file. */
    private int lineEnd(int at) {
        while (at < pdf.length && pdf[at] != '\n' && pdf[at] != '\r') {
            at++;
        }
        return at;
    }

    /** The start of the line after the end of line at {@code eol} (CR, LF or CR LF). */
    private int nextLine(int eol) {
        return eol + (eol + 1 < pdf.length && pdf[eol] == '\r' && pdf[eol + 1] == '\n' ? 2 : 1);
    }

    /** What PDFBox's {@code isEndOfName} takes to end a row of a table before it is read. */
    private static boolean endsName(byte c) {
        return Lexer.white(c) || "><[/])(%".indexOf(c) >= 0;
    }

    /** The entries of the cross-reference sections from {@code at} back through {@code /Prev}, the newest of each number; null when one is broken. */
    private Map<Long, long[]> sections(long at, int base) {
        Map<Long, long[]> entries = new HashMap<>();
        Set<Long> seen = new HashSet<>();
        root = -1;
        rootInPlace = null;
        unfollowed = false;
        while (at >= 0) {
            // a /Prev that loops back, or a chain longer than any update history, is broken data
            if (at >= pdf.length || !seen.add(at) || seen.size() > MAX_SECTIONS) {
                return null;
            }
            lexer = new Lexer(pdf, (int) at, pdf.length);
            Map<?, ?> trailer = lexer.next().isKeyword("xref") ? table(entries, base) : xrefStream((int) at, entries, base);
            if (trailer == null) {
                return null;
            }
            // the newest trailer's: an update's catalog replaces the older one
            if (root < 0 && rootInPlace == null) {
                if (trailer.get("Root") instanceof Ref r) {
                    root = r.number();
                } else if (trailer.get("Root") instanceof Map<?, ?> catalog) {
                    rootInPlace = new Obj(-1, catalog);
                }
            }
            addEncrypt(trailer.get("Encrypt"));
            // /Prev read as PDFBox's getLong reads it, a real by its whole part (round 555: /Prev 12776.0 ended
            // the chain at an update, and the object stream the older section names was never read), and followed,
            // as PDFBox follows it, only while it is above 0: anything else (0, -1, null, a reference) ends the
            // chain and keeps the sections read (round 556: breaking the chain there had the file read in order,
            // where objects no section names replaced the tree)
            long prev = number(trailer.get("Prev"));
            at = prev > 0 ? prev + base : -1;
            if (at >= 0 && !isSection(at)) {
                // a few bytes off, as PDFBox repairs it (see nearestSection)
                at = nearestSection(at);
            }
            unfollowed = prev <= 0 && trailer.get("Prev") != null;
        }
        return entries;
    }

    /** A cross-reference table's rows (the lexer after {@code xref}); its trailer, or null when it does not parse. */
    private Map<?, ?> table(Map<Long, long[]> entries, int base) {
        // read by lines, as PDFBox's parseXrefTable reads it (round 562: a row of four fields, PDFBOX-474's
        // "XXXX XXX XX n", a free row with a token after its f, a subsection of a negative count or first): a header
        // of exactly two fields, then up to its count of rows, each split at white space, ending early at a line of
        // fewer than three fields, at the trailer, or at a delimiter; a row's last field n places the object at its
        // first field (a row at offset 0 or below places nothing, round 560), else its third field must be f
        List<Long> free = new ArrayList<>();
        int p = skipSpaces(lexer.pos);
        while (!startsWith(pdf, p, "trailer")) {
            int eol = lineEnd(p);
            String[] header = new String(pdf, p, eol - p, java.nio.charset.StandardCharsets.ISO_8859_1).split("\\s");
            p = skipSpaces(nextLine(eol));
            long first;
            long count;
            try {
                if (header.length != 2) {
                    return null;
                }
                first = Long.parseLong(header[0]);
                count = Integer.parseInt(header[1]);
            } catch (NumberFormatException e) {
                return null;
            }
            for (long i = 0; i < count; i++) {
                if (p >= pdf.length || endsName(pdf[p]) || pdf[p] == 't') {
                    break;
                }
                eol = lineEnd(p);
                String[] row = new String(pdf, p, eol - p, java.nio.charset.StandardCharsets.ISO_8859_1).split("\\s");
                p = skipSpaces(nextLine(eol));
                if (row.length < 3) {
                    break;
                }
                if (--rows < 0) {
                    return null;
                }
                if (row[row.length - 1].equals("n")) {
                    // the generation is read only for a row that places something (round 563: "0000000000 xxxxx n")
                    try {
                        long offset = Long.parseLong(row[0]);
                        if (offset > 0) {
                            Integer.parseInt(row[1]);
                            entries.putIfAbsent(first + i, new long[] {1, offset + base});
                        }
                    } catch (NumberFormatException e) {
                        return null;
                    }
                } else if (row[2].equals("f")) {
                    free.add(first + i);
                } else {
                    return null;
                }
            }
            if (p >= pdf.length || !digit(pdf[p])) {
                break;
            }
        }
        lexer = new Lexer(pdf, p, pdf.length);
        if (!lexer.next().isKeyword("trailer")) {
            return null;
        }
        if (!(value(0) instanceof Map<?, ?> trailer)) {
            return null;
        }
        // a hybrid file: the stream holds the objects the table lists as free (ISO 32000-1 7.5.8.4)
        // a real by its whole part (round 555: /XRefStm 12776.0 left the stream's objects unnamed); an offset that
        // is not above 0 (or no number) is skipped, as PDFBox skips it (round 556: /XRefStm 0 broke the section)
        long stream = number(trailer.get("XRefStm"));
        if (stream > 0) {
            // repaired as an offset that lands on no section is; one that still does not parse is left out and the
            // table kept, as PDFBox logs it and goes on (round 559: the file was read in order)
            long at = isSection(stream + base) ? stream + base : nearestSection(stream + base);
            Map<Long, long[]> rows = new HashMap<>();
            if (at >= 0 && xrefStream((int) at, rows, base) != null) {
                rows.forEach(entries::putIfAbsent);
            }
        }
        for (long number : free) {
            entries.putIfAbsent(number, FREE);
        }
        return trailer;
    }

    /** A cross-reference stream's rows (ISO 32000-1 7.5.8); its dictionary, or null when it does not parse or decode. */
    private Map<?, ?> xrefStream(int at, Map<Long, long[]> entries, int base) {
        lexer = new Lexer(pdf, at, pdf.length);
        if (lexer.next().kind != Kind.INT || lexer.next().kind != Kind.INT || !lexer.next().isKeyword("obj")
                || !(value(0) instanceof Map<?, ?> dict)) {
            return null;
        }
        Token stream = lexer.next();
        List<?> w = dict.get("W") instanceof List<?> l ? l : List.of();
        // each width a real by its whole part too (round 556: /W [1 4 2.0]), anything but a number 0 as PDFBox's
        // getInt(i, 0) reads it (round 562: /W [1 4 null]); any widths PDFBox takes, none below 0 and 20 bytes a row
        // at most (round 560: /W [1 9 2] and [1 4 12] had the file read in order)
        long[] width = w.stream().mapToLong(v -> v instanceof Long || v instanceof Real ? number(v) : 0).toArray();
        if (!stream.isKeyword("stream") || w.size() != 3 || java.util.Arrays.stream(width).anyMatch(v -> v < 0)
                || java.util.Arrays.stream(width).sum() > MAX_ROW_WIDTH) {
            return null;
        }
        int[] widths = java.util.Arrays.stream(width).mapToInt(v -> (int) v).toArray();
        int data = dataStart(stream.end);
        long length = number(dict.get("Length"));
        int end = length >= 0 ? endsAt(data, length) : -1;
        end = end >= 0 ? end : indexOf(pdf, "endstream", data, pdf.length);
        Object filter = dict.get("Filter");
        List<String> filters = new ArrayList<>();
        for (Object f : filter instanceof List<?> list ? list : filter == null ? List.of() : List.of(filter)) {
            if (!(f instanceof Name name)) {
                return null;
            }
            filters.add(name.text());
        }
        // under /DP first, as for object streams (round 562: a predictor under /DP)
        Object dp = dict.get("DP");
        Object given = dp != null && dp != OTHER ? dp : dict.get("DecodeParms");
        Object parms = given instanceof List<?> list && !list.isEmpty() ? list.get(list.size() - 1) : given;
        if (end < 0 || !supported(filters)) {
            return null;
        }
        // charged to the count's one budget, as object streams are (review 39: twelve xref streams of a /Prev
        // chain, each within its own bound, decoded 96 MB); when it runs out the data is given up, read in order
        int own = (int) Math.min(STREAM_DECODED, (long) STREAM_RATIO * Math.max(0, end - data));
        int most = (int) Math.min(own, Math.max(0, budget.decoded));
        if (budget.decoded <= 0 && own > 0) {
            return null;
        }
        Decoded decoded = decode(filters, pdf, data, end, most);
        budget.decoded -= decoded.spent();
        byte[] bytes = decoded.bytes();
        int row = widths[0] + widths[1] + widths[2];
        if (bytes == null || row == 0 || (bytes = unpredict(bytes, parms)) == null) {
            return null;
        }
        // the object numbers as PDFBox's ObjectNumbers gives them: /Index pairs (first, count) of integers, else
        // (0, /Size), a /Size that is no number 0 (round 562: an update without /Size read no row and its /Prev was
        // followed; before, the chain was dropped); a first below 0 is taken (round 562), and a range that is empty
        // still gives its first number to a row when the ranges before it are spent (round 562: /Index [0 1 500 0 1
        // 301] spent a row on 500, and every row after it was shifted)
        long size = Math.max(0, number(dict.get("Size")));
        List<?> index = dict.get("Index") instanceof List<?> l ? l : List.of(0L, size);
        int ranges = index.size() / 2;
        if (ranges == 0) {
            return null;
        }
        long[] starts = new long[ranges];
        long[] ends = new long[ranges];
        for (int k = 0; k < ranges; k++) {
            if (!(index.get(2 * k) instanceof Long first) || !(index.get(2 * k + 1) instanceof Long count)) {
                return null;
            }
            starts[k] = first;
            ends[k] = first + count;
        }
        int range = 0;
        long next = starts[0];
        // a last row cut short keeps the previous row's bytes where it has none, as PDFBox reads rows into one buffer
        // (round 563: the object stream's row, 2 bytes short, was not read and the stream never named)
        byte[] line = new byte[row];
        for (int r = 0; (long) r * row < bytes.length; r++) {
            long number;
            if (next < ends[range]) {
                number = next++;
            } else if (range < ranges - 1) {
                range++;
                next = starts[range];
                number = next++;
            } else {
                break;
            }
            System.arraycopy(bytes, r * row, line, 0, Math.min(row, bytes.length - r * row));
            long type = widths[0] == 0 ? 1 : field(line, 0, widths[0]);
            // the row allowance bounds the entries kept: past it a free row is left out rather than the data given
            // up (round 563: a 3.6 KB file's stream of 1,100 rows, mostly free, compressed to nothing), any other
            // row still gives it up
            if (--rows < 0) {
                if (type == 0) {
                    continue;
                }
                return null;
            }
            long second = field(line, widths[0], widths[1]);
            // a type-2 entry's third field is the object's index in its stream (ISO 32000-1 table 18), which
            // decides between pairs of a header that repeat its number (see objectStream); a type above 2 is a
            // type 2, as PDFBox reads it (round 562: rows typed 3 or 255 placed nothing)
            long[] entry = type == 0 ? FREE : type == 1 ? new long[] {1, second + base}
                    : new long[] {2, second, field(line, widths[0] + widths[1], widths[2])};
            entries.putIfAbsent(number, entry);
        }
        return dict;
    }

    private static long field(byte[] bytes, int at, int width) {
        long v = 0;
        for (int i = 0; i < width; i++) {
            // as PDFBox sums a field: a field wider than 8 bytes shifts its first bytes modulo 64, as Java shifts a long
            v += (long) (bytes[at + i] & 0xFF) << ((width - i - 1) * 8);
        }
        return v;
    }

    /**
     * Undoes a PNG predictor (ISO 32000-1 7.4.4.4, {@code /Predictor} 10-15, as cross-reference streams
     * are written); the bytes as they are without one; null for a TIFF predictor or a row that does not parse.
     */
    static byte[] unpredict(byte[] in, Object parms) {
        Map<?, ?> p = parms instanceof Map<?, ?> m ? m : Map.of();
        // each as PDFBox's getInt reads it, a real by its whole part, absent (or no number) its default
        long predictor = number(p.get("Predictor")) >= 0 ? number(p.get("Predictor")) : 1;
        if (predictor != 2 && predictor < 10) {
            // PDFBox's PredictorOutputStream leaves the data as it is for every predictor but 2 and the PNG ones
            return in;
        }
        long columns = number(p.get("Columns")) >= 0 ? number(p.get("Columns")) : 1;
        long colors = number(p.get("Colors")) >= 0 ? number(p.get("Colors")) : 1;
        long bits = number(p.get("BitsPerComponent")) >= 0 ? number(p.get("BitsPerComponent")) : 8;
        if (columns < 1 || colors < 1 || bits < 1 || columns * colors * bits > 8L * in.length) {
            return null;
        }
        int width = (int) ((columns * colors * bits + 7) / 8);
        if (predictor == 2) {
            // TIFF predictor 2 (round 562: it left a report's cross-reference stream unread): each component adds the
            // one a pixel before it in its row, for 8 and 16 bits a component as PDFBox's Predictor adds them (round 563:
            // 16 bits was refused); other depths are not read
            if (bits != 8 && bits != 16) {
                return null;
            }
            int pixel = (int) (colors * bits / 8);
            byte[] out = in.clone();
            for (int row = 0; row + width <= out.length; row += width) {
                if (bits == 8) {
                    for (int i = pixel; i < width; i++) {
                        out[row + i] += out[row + i - pixel];
                    }
                } else {
                    for (int i = pixel; i < width - 1; i += 2) {
                        int sum = ((out[row + i] & 0xFF) << 8) + (out[row + i + 1] & 0xFF)
                                + ((out[row + i - pixel] & 0xFF) << 8) + (out[row + i - pixel + 1] & 0xFF);
                        out[row + i] = (byte) (sum >> 8);
                        out[row + i + 1] = (byte) sum;
                    }
                }
            }
            return out;
        }
        int bpp = (int) Math.max(1, colors * bits / 8);
        int rows = in.length / (width + 1);
        byte[] out = new byte[rows * width];
        for (int r = 0; r < rows; r++) {
            int type = in[r * (width + 1)] & 0xFF;
            for (int i = 0; i < width; i++) {
                int x = in[r * (width + 1) + 1 + i] & 0xFF;
                int a = i >= bpp ? out[r * width + i - bpp] & 0xFF : 0;
                int b = r > 0 ? out[(r - 1) * width + i] & 0xFF : 0;
                int c = i >= bpp && r > 0 ? out[(r - 1) * width + i - bpp] & 0xFF : 0;
                // a row of another type is left as it is, as PDFBox leaves it (round 563: type 5 or 7 was no data)
                out[r * width + i] = (byte) switch (type) {
                    case 1 -> x + a;
                    case 2 -> x + b;
                    case 3 -> x + (a + b) / 2;
                    case 4 -> x + paeth(a, b, c);
                    default -> x;
                };
            }
        }
        return out;
    }

    private static int paeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a);
        int pb = Math.abs(p - b);
        int pc = Math.abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /**
     * Whether every in-file entry points at an object's header, as PDFBox checks before it trusts the data
     * ({@code COSParser.validateXrefOffsets}). An entry whose offset holds another object's header names that object
     * instead, unless that object's own entry is right (round 564: a subsection written {@code 1 83} for {@code 0 83},
     * or two rows swapped, had the table given up and the file read in order, where PDFBox renames each entry to
     * the object found at its offset); the wrong number's entry is dropped, as PDFBox cannot read through it either.
     */
    private boolean placed(Map<Long, long[]> entries) {
        Set<Long> right = new HashSet<>();
        Map<Long, Long> renamed = new HashMap<>();
        for (Map.Entry<Long, long[]> e : entries.entrySet()) {
            long[] entry = e.getValue();
            if (entry[0] != 1) {
                continue;
            }
            if (entry[1] < SEARCH_FROM || entry[1] >= pdf.length) {
                return false;
            }
            if (header(e.getKey(), (int) entry[1]) != null) {
                right.add(e.getKey());
                continue;
            }
            Lexer l = new Lexer(pdf, (int) entry[1], (int) Math.min(pdf.length, entry[1] + 64));
            Token n = l.next();
            if (n.kind != Kind.INT || l.next().kind != Kind.INT || !l.next().isKeyword("obj")) {
                return false;
            }
            renamed.put(e.getKey(), n.number);
        }
        Map<Long, long[]> moved = new HashMap<>();
        renamed.forEach((from, to) -> moved.put(to, entries.get(from)));
        renamed.keySet().forEach(entries::remove);
        moved.forEach((to, entry) -> {
            if (!right.contains(to)) {
                entries.put(to, entry);
            }
        });
        return true;
    }

    /** A lexer after object {@code number}'s {@code N G obj} at {@code at}; null when that is not there. */
    private Lexer header(long number, int at) {
        // a header is a few bytes: what lies beyond is never lexed for it (an offset inside a long string)
        Lexer l = new Lexer(pdf, at, Math.min(pdf.length, at + 64));
        Token n = l.next();
        Token g = l.next();
        Token obj = l.next();
        return n.kind == Kind.INT && n.number == number && g.kind == Kind.INT && obj.isKeyword("obj")
                ? new Lexer(pdf, obj.end, pdf.length) : null;
    }

    /** Reads each in-file object of the cross-reference data at its offset; false when they overlap past {@link #LEXED_PER_BYTE}. */
    private boolean readObjects() {
        long lexed = 0;
        for (Map.Entry<Long, long[]> e : xref.entrySet()) {
            long[] entry = e.getValue();
            if (entry[0] != 1) {
                continue;
            }
            int at = (int) entry[1];
            lexer = header(e.getKey(), at);
            Object value = value(0);
            Token t = lexer.next();
            if (value instanceof Map<?, ?> dict && t.isKeyword("stream") && dict.get("N") != null && dict.get("First") != null) {
                int data = dataStart(t.end);
                Object length = dict.get("Length");
                // a real by its whole part, direct or through a reference (round 555: /Length 2981.0 cut stored data
                // at an endstream inside it)
                long known = length instanceof Ref r ? lengthThroughXref(r) : number(length);
                int end = known >= 0 ? endsAt(data, known) : -1;
                if (end < 0) {
                    end = indexOf(pdf, "endstream", data, pdf.length);
                    end = end < 0 ? pdf.length : end;
                    lexed += end - data;
                }
                objectStreams.add(new ObjectStream(e.getKey(), at, dict, data, end));
            }
            record(e.getKey(), at, value);
            lexed += lexer.pos - at;
            if (lexed > (long) LEXED_PER_BYTE * pdf.length) {
                return false;
            }
        }
        return true;
    }

    /** The integer an indirect {@code /Length} names, read at its offset; -1 when it is not in the file as one. */
    private long lengthThroughXref(Ref r) {
        long[] entry = xref.get(r.number());
        Lexer l = entry != null && entry[0] == 1 ? header(r.number(), (int) entry[1]) : null;
        Token length = l == null ? null : l.next();
        // an integer or a real, by its whole part (round 555: an indirect /Length of 2981.0)
        return length != null && (length.kind == Kind.INT || length.kind == Kind.REAL) ? length.number : -1;
    }

    /** Where a stream's data starts: after the end of line after {@code stream}. */
    private int dataStart(int after) {
        int data = after;
        if (data < pdf.length && pdf[data] == '\r') {
            data++;
        }
        if (data < pdf.length && pdf[data] == '\n') {
            data++;
        }
        return data;
    }

    /** Reads the file's tokens in order: its objects, and any page dictionary outside one. */
    private void read() {
        Token older = null;
        Token last = null;
        boolean type = false;
        while (true) {
            Token t = lexer.next();
            if (t.kind == Kind.EOF) {
                return;
            }
            if (t.isKeyword("obj") && older != null && older.kind == Kind.INT && last.kind == Kind.INT) {
                if (!object(older.number, older.start)) {
                    return;
                }
                older = last = null;
                type = false;
                continue;
            }
            older = last;
            last = t;
            if (t.kind == Kind.NAME) {
                if (type && t.text.equals("Page")) {
                    loose++;
                }
                type = t.text.equals("Type");
                continue;
            }
            type = false;
            if (t.kind == Kind.DICT_OPEN || t.kind == Kind.ARRAY_OPEN) {
                lexer.back(t);
                Object v = value(0);
                if (v instanceof Map<?, ?> dict) {
                    if (isType(dict, "Page")) {
                        loose++;
                    }
                    // the last trailer's, in file order: an update's catalog replaces the older one
                    if (older != null && older.isKeyword("trailer") && dict.get("Root") instanceof Ref r) {
                        root = r.number();
                        rootInPlace = null;
                    } else if (older != null && older.isKeyword("trailer") && dict.get("Root") instanceof Map<?, ?> catalog) {
                        root = -1;
                        rootInPlace = new Obj(-1, catalog);
                    }
                    if (older != null && older.isKeyword("trailer")) {
                        addEncrypt(dict.get("Encrypt"));
                    }
                    Token s = lexer.next();
                    if (s.isKeyword("stream")) {
                        if (streamData(dict, s.end) == null) {
                            return;
                        }
                    } else {
                        lexer.back(s);
                    }
                }
                older = last = null;
            }
        }
    }

    /**
     * Reads object {@code number}'s body after its header (at {@code start}): one value, its stream when
     * the value is a dictionary followed by {@code stream}, then {@code endobj}. False when the file ends
     * in its stream's data.
     */
    private boolean object(long number, int start) {
        open = start;
        Object value = value(0);
        Token t = lexer.next();
        if (value instanceof Map<?, ?> dict && t.isKeyword("stream")) {
            int[] data = streamData(dict, t.end);
            record(number, start, value);
            if (data == null) {
                return false;
            }
            if (dict.get("N") != null && dict.get("First") != null) {
                objectStreams.add(new ObjectStream(number, start, dict, data[0], data[1]));
            }
            // read in order, a cross-reference stream's dictionary is the trailer
            if (isType(dict, "XRef")) {
                addEncrypt(dict.get("Encrypt"));
            }
            t = lexer.next();
        } else {
            record(number, start, value);
        }
        if (t.isKeyword("endobj")) {
            open = -1;
        } else if (t.kind != Kind.EOF) {
            open = -1; // ended by what follows it (a writer that leaves out endobj), read on from there
            lexer.back(t);
        }
        return true;
    }

    /**
     * Skips a stream's data, which starts after the end of line after {@code stream} at {@code after}:
     * by its {@code /Length} when {@code endstream} follows there, else to the next {@code endstream}.
     * Returns the data's start and end, or {@code null} when no {@code endstream} follows (the file
     * ends in it).
     */
    private int[] streamData(Map<?, ?> dict, int after) {
        int data = dataStart(after);
        Object length = dict.get("Length");
        long known = length instanceof Ref r ? integer(r) : number(length);
        int end = known >= 0 ? endsAt(data, known) : length instanceof Ref r ? lengthAfter(data, r) : -1;
        if (end < 0) {
            end = indexOf(pdf, "endstream", data, pdf.length);
            if (end < 0) {
                lexer.pos = pdf.length;
                return null;
            }
            lexer.pos = end + "endstream".length();
            return new int[] {data, end};
        }
        lexer.pos = indexOf(pdf, "endstream", end, pdf.length) + "endstream".length();
        return new int[] {data, end};
    }

    /** {@code data + length} when only white space lies between it and an {@code endstream}; else -1. */
    private int endsAt(int data, long length) {
        if (length < 0 || length > pdf.length - data) {
            return -1;
        }
        int end = data + (int) length;
        int i = end;
        while (i < pdf.length && i - end < 4 && Lexer.white(pdf[i])) {
            i++;
        }
        return startsWith(pdf, i, "endstream") ? end : -1;
    }

    /**
     * Where a stream whose {@code /Length} is object {@code r}, not read yet, ends: an {@code endstream}
     * followed by {@code endobj} and that object holding the length that ends the data there (as qpdf
     * writes it); -1 when none is found within what is left of {@link #lookahead}.
     */
    private int lengthAfter(int data, Ref r) {
        int from = data;
        while (lookahead > 0) {
            int e = indexOf(pdf, "endstream", from, pdf.length);
            lookahead -= (e < 0 ? pdf.length : e) - from + 1;
            if (e < 0) {
                return -1;
            }
            Lexer after = new Lexer(pdf, e + "endstream".length(), Math.min(pdf.length, e + 96));
            if (after.next().isKeyword("endobj")) {
                Token n = after.next();
                Token g = after.next();
                if (n.kind == Kind.INT && n.number == r.number() && g.kind == Kind.INT && g.number == r.generation()
                        && after.next().isKeyword("obj")) {
                    Token length = after.next();
                    if (length.kind == Kind.INT && endsAt(data, length.number) >= 0
                            && data + length.number <= e && e - (data + length.number) <= 4) {
                        return (int) (data + length.number);
                    }
                }
            }
            from = e + 1;
        }
        return -1;
    }

    /** Keeps an object's last version: a later one in file order (or in a later object stream) replaces it. */
    private void record(long number, int position, Object value) {
        Obj existing = objects.get(number);
        if (existing == null || position >= existing.position) {
            objects.put(number, new Obj(position, value));
        }
    }

    /**
     * Decodes and reads the object streams, in file order, once every object of the file is known (read
     * through the cross-reference data: those its entries name). Each within its own bound and all within
     * {@link #DECODED_TOTAL} bytes and {@link #DECODED_TOKENS} tokens; a stream, or the rest of one, that
     * the shared budget leaves unread counts as the page objects it may hold, its {@code /N} (at most one
     * per four bytes it may decode to): a file cannot hide pages behind a stream that spends the budget
     * (round 495's padding), and only a file that asks for more work than an honest one pays for it.
     *
     * <p>In an encrypted file (an {@code /Encrypt} in its trailer) every stream but the cross-reference stream
     * is encrypted (ISO 32000-1 7.6.1), object streams included, and this count does not decrypt (RC4, AES-128
     * and AES-256 would be security code of their own): its object streams cannot be read, and each is counted
     * as a stream the budget leaves unread, its {@code /N} within the same bound, without decoding it, whatever its
     * filters (round 543: a "secured" report whose owner password forbids copying, opened by every reader with
     * the empty user password, counted none of its 40 pages; round 548: the same under a predictor, none again).
     * So is a clear object stream under a filter this count does not decode (LZW, a predictor).
     * An encrypted file with many objects in object streams is over-counted (its fonts and resources count as
     * pages), a decision in decisions.md; the dictionaries of objects outside streams are not encrypted and are
     * read as in any file.
     */
    private void readObjectStreams() {
        Set<Long> named = new HashSet<>();
        if (xref != null) {
            xref.values().stream().filter(e -> e[0] == 2).forEach(e -> named.add(e[1]));
        }
        encrypted = encryption();
        Set<ObjectStream> read = treeFirst();
        for (ObjectStream s : objectStreams) {
            if (xref != null && !named.contains(s.number) || read.contains(s)) {
                continue;
            }
            readObjectStream(s);
        }
    }

    private void addEncrypt(Object value) {
        if (value != null) {
            encryptValues.add(value);
        }
    }

    /**
     * Whether the file is encrypted: a trailer's {@code /Encrypt} is a dictionary, or names an object that is one, as
     * PDFBox asks ({@code COSDocument.isEncrypted}: the trailer's dictionary there); {@code /Encrypt null}, a number or a
     * reference to no dictionary is a clear file (round 561: it was counted as ciphertext, each stream as its /N).
     */
    private boolean encryption() {
        for (Object value : encryptValues) {
            if (value instanceof Map<?, ?>) {
                return true;
            }
            Obj named = value instanceof Ref r ? find(r.number()) : null;
            if (named != null && named.dict != null) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads first the object streams that hold the document's tree, following it from the catalog as far as the
     * cross-reference data places its nodes in object streams, and returns them: PDFBox decodes only the streams
     * whose objects it looks up, so streams nothing names (padding) must not spend the budget before the tree's
     * (round 548: twelve padding streams ahead of a report's tree left it unread, counted as its /N, 3, for 40
     * pages). The other streams are read after, in file order, with what the budget has left.
     */
    private Set<ObjectStream> treeFirst() {
        Set<ObjectStream> read = new HashSet<>();
        if (xref == null || encrypted || root < 0 && rootInPlace == null) {
            return read;
        }
        Map<Long, ObjectStream> streams = new HashMap<>();
        objectStreams.forEach(s -> streams.putIfAbsent(s.number, s));
        ArrayDeque<Object> want = new ArrayDeque<>();
        if (root >= 0) {
            want.add(root);
        } else if (rootInPlace.pagesRoot != null) {
            want.add(rootInPlace.pagesRoot);
        }
        Set<Long> seen = new HashSet<>();
        while (!want.isEmpty() && budget.decoded > 0) {
            Object id = want.poll();
            Node node = id instanceof Node inline ? inline : null;
            if (id instanceof Long number) {
                if (!seen.add(number)) {
                    continue;
                }
                long[] entry = xref.get(number);
                ObjectStream holder = entry != null && entry[0] == 2 ? streams.get(entry[1]) : null;
                if (!objects.containsKey(number) && holder != null && read.add(holder)) {
                    readObjectStream(holder);
                }
                // an object the data frees or leaves out is looked up as the count looks it up (round 561: a tree node
                // whose row was free ended the walk, and the padding after it spent the budget on file order)
                Obj o = objects.containsKey(number) || holder != null ? objects.get(number) : find(number);
                if (o == null) {
                    continue;
                }
                if (number == root && o.pagesRoot != null) {
                    want.add(o.pagesRoot);
                }
                if (o.array != null) {
                    // an indirect /Kids
                    for (int i = 0; i < o.array.size(); i++) {
                        want.add(o.array.id(i));
                    }
                }
                node = o.dict;
            }
            if (node != null && node.kids != null) {
                for (int i = 0; i < node.kids.size(); i++) {
                    want.add(node.kids.id(i));
                }
            }
            if (node != null && node.kidsRef >= 0) {
                want.add(node.kidsRef);
            }
        }
        return read;
    }

    /** Reads one object stream's objects, its decoding charged to the budget; one it cannot read counts as its /N. */
    private void readObjectStream(ObjectStream s) {
        long n = integer(s.dict.get("N"));
        long first = integer(s.dict.get("First"));
        if (n < 0 || first < 0) {
            return;
        }
        int own = (int) Math.min(STREAM_DECODED, (long) STREAM_RATIO * Math.max(0, s.to - s.from));
        // ciphertext is never decoded, so its filter chain does not matter: a predictor or a filter this
        // count cannot decode counts as its /N too (round 548: a predictor left an encrypted report at 0)
        if (encrypted) {
            unread += Math.min(n, own / 4);
            return;
        }
        List<String> filters = filters(s.dict);
        if (filters == null) {
            // a filter this count does not decode (LZW, a predictor): the stream cannot be read, as ciphertext
            // cannot, and counts as its /N the same way (before, such a clear stream counted none of the
            // page dictionaries it may hold)
            unread += Math.min(n, own / 4);
            return;
        }
        int most = (int) Math.min(own, Math.max(0, budget.decoded));
        byte[] content = null;
        if (budget.tokens >= 0) {
            Decoded decoded = decode(filters, pdf, s.from, s.to, most);
            budget.decoded -= decoded.spent();
            content = decoded.bytes();
        }
        if (content == null) {
            // left unread by the shared budget, or decoding to more than its own bound (round 551: 100 KB of
            // white space after the objects hid 40 pages): counted as the objects it may hold
            unread += Math.min(n, own / 4);
        } else {
            objectStream(s, content, n, first);
        }
    }

    /** The names of a stream's filters, its {@code /Filter} read through references; null when one is not a name. */
    private List<String> filters(Map<?, ?> dict) {
        Object filter = resolve(dict.get("Filter"));
        List<String> names = new ArrayList<>();
        for (Object f : filter instanceof List<?> list ? list : filter == null ? List.of() : List.of(filter)) {
            if (!(resolve(f) instanceof Name name)) {
                return null;
            }
            names.add(name.text());
        }
        // PDFBox reads the parameters under the abbreviation /DP first, then /DecodeParms, a null as absent
        // (Filter.getDecodeParams; round 551: a predictor under /DP was inflated as plain objects and hid 40 pages;
        // round 552: the same beside a /DecodeParms of null or without a predictor)
        Object dp = resolve(dict.get("DP"));
        Object parms = dp != null && dp != OTHER ? dp : resolve(dict.get("DecodeParms"));
        for (Object p : parms instanceof List<?> list ? list : parms == null ? List.of() : List.of(parms)) {
            // a predictor would leave the objects unreadable: the stream is not read (it counts as its /N)
            if (resolve(p) instanceof Map<?, ?> d && integer(d.get("Predictor")) > 1) {
                return null;
            }
        }
        return supported(names) ? names : null;
    }

    /** Whether {@link #decode} decodes every filter of a chain (so a stream it cannot is never charged to the budget). */
    private static boolean supported(List<String> filters) {
        return filters.stream().allMatch(f -> List.of("FlateDecode", "Fl", "ASCIIHexDecode", "AHx", "ASCII85Decode", "A85",
                "RunLengthDecode", "RL").contains(f));
    }

    /**
     * RunLengthDecode (ISO 32000-1 7.4.6; round 562: a cross-reference stream under it was unread): a length byte
     * 0-127 copies the next 1-128 bytes, 129-255 repeats the next byte 257 minus it times, 128 ends the data; more
     * than {@code most} bytes is no result (the caller's bound).
     */
    static byte[] runLength(byte[] in, int most) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < in.length; ) {
            int n = in[i++] & 0xFF;
            if (n == 128) {
                break;
            }
            if (n < 128) {
                out.write(in, i, Math.min(n + 1, in.length - i));
                i += n + 1;
            } else if (i < in.length) {
                for (int k = 0; k < 257 - n; k++) {
                    out.write(in[i]);
                }
                i++;
            }
            if (out.size() > most) {
                return null;
            }
        }
        return out.toByteArray();
    }

    /**
     * Records the objects of a decoded object stream (ISO 32000-1 7.5.7: {@code n} pairs of object number
     * and offset, the objects from {@code first}) by number; a header that misplaces any object (an offset
     * that is no integer or lies outside the data) is not trusted for any, and the stream's page dictionaries
     * then count each once. The objects are placed by their own offsets in whatever order the header lists
     * them, as PDFBox 3 ({@code PDFObjectStreamParser}) reads them: each is read from its offset, or on from where
     * the one before ended when that is further (round 564), and of pairs giving one offset the last takes the object (round 543: a header listing
     * catalog, tree and font by number over data laid out font, tree, catalog hid the tree's 40 pages). A header
     * that repeats an object number gives it the pair at its cross-reference entry's index, counted in offset
     * order, as PDFBox's {@code parseAllObjects} does (only then: an index is not checked against a header that
     * names each object once); round 548: {@code 1 0 2 a 2 b} with the entry's index at the 40-page tree
     * ({@code a}) let the empty tree at the larger offset take the number.
     */
    private void objectStream(ObjectStream s, byte[] content, long n, long first) {
        // a pair of numbers takes at least four bytes ("3 0 "): a larger count is no header
        if (first <= content.length && n <= (first + 1) / 4) {
            Lexer header = new Lexer(content, 0, (int) first);
            long[] numbers = new long[(int) n];
            // each offset's pair, by offset: the data is read in its own order, not the header's
            TreeMap<Long, Integer> byOffset = new TreeMap<>();
            boolean placed = true;
            for (int i = 0; i < n && placed; i++) {
                Token number = header.next();
                Token offset = header.next();
                placed = number.kind == Kind.INT && offset.kind == Kind.INT && offset.number >= 0
                        && offset.number <= content.length - first;
                numbers[i] = number.number;
                byOffset.put(offset.number, i);
            }
            if (placed) {
                // whether two pairs at different offsets give one number: the entry's index then decides
                boolean repeated = byOffset.values().stream().map(i -> numbers[i]).distinct().count() < byOffset.size();
                int k = 0;
                // each object read from its offset, or on from where the one before ended when that is further, as
                // PDFBox's parseAllObjects only skips forward (round 564: offsets that lag, each short by its index,
                // started each object inside the one before)
                int after = 0;
                for (Map.Entry<Long, Integer> e : byOffset.entrySet()) {
                    long number = numbers[e.getValue()];
                    PdfPages one = new PdfPages(content, Math.max((int) (first + e.getKey()), after), content.length, budget);
                    Object value = one.value(0);
                    // where the value ended: an integer's look-ahead for a reference is handed back, not read (round
                    // 565: the next object's << was taken as read, and the tree after an integer became a name)
                    after = one.lexer.consumed();
                    long[] entry = xref == null ? null : xref.get(number);
                    // read through the cross-reference data, an object is the one its entry places here (at
                    // its index, the k-th offset, when the header repeats its number)
                    if (xref == null || entry != null && entry[0] == 2 && entry[1] == s.number && (!repeated || entry[2] == k)) {
                        record(number, s.position, value);
                    }
                    k++;
                    if (budget.tokens < 0) {
                        unread += byOffset.size() - k + 1;
                        return;
                    }
                }
                return;
            }
        }
        PdfPages loosely = new PdfPages(content, 0, content.length, budget);
        loosely.read();
        loose += loosely.count();
    }

    /** A reader of {@code bytes} from {@code from} to {@code to}: the objects of an object stream, within the count's budget. */
    private PdfPages(byte[] bytes, int from, int to, Budget budget) {
        this.pdf = bytes;
        this.budget = budget;
        this.lexer = new Lexer(bytes, from, to, budget);
    }

    /**
     * The pages: each time the document's page tree names a page, every other object whose last version's
     * {@code /Type} is {@code /Page} or that is a page of another tree once, and the page dictionaries
     * outside any object. The document's tree is the {@code /Pages} of the trailer's {@code /Root} whatever
     * that object's {@code /Type} (round 526: an untyped catalog over an untyped tree counted none), named by
     * reference or written in the catalog itself (round 536), or, with no such root, every catalog's; it is
     * walked as PDFBox 3 iterates it ({@link Tree#document}). The other trees (every catalog's and every
     * {@code /Type /Pages} object's, an update's orphaned nodes among them) add only the pages the document's
     * tree does not name, each once, so a tree left beside the document's does not count its pages again.
     * The objects the trees name are found as {@link #find} finds them.
     */
    private long count() {
        Tree tree = new Tree();
        Obj catalog = root >= 0 ? find(root) : rootInPlace;
        if (catalog != null && catalog.pagesRoot != null) {
            tree.document(catalog.pagesRoot);
        } else {
            for (Obj o : objects.values()) {
                if (o.catalog && o.pagesRoot != null) {
                    tree.document(o.pagesRoot);
                }
            }
        }
        Set<Object> pages = new HashSet<>(tree.leaves);
        for (Map.Entry<Long, Obj> e : objects.entrySet()) {
            Obj o = e.getValue();
            if (o.page) {
                pages.add(e.getKey());
            }
            if (o.catalog && o.pagesRoot != null) {
                tree.other(o.pagesRoot);
            }
            if (o.pages) {
                tree.other(e.getKey());
            }
        }
        pages.addAll(tree.others);
        // a page named again adds at most NAMED_AGAIN pages in all: a /Kids array object shared by many nodes
        // would otherwise multiply a file's references into more pages than its bytes can name
        long again = Math.min(tree.named - tree.leaves.size(), NAMED_AGAIN);
        return loose + unread + pages.size() + again;
    }

    /**
     * The walks of the page trees. A node or a page is known by its object number, or, written in place (a
     * dictionary in a {@code /Kids} or in the catalog's {@code /Pages}), by its {@link Node}.
     *
     * <p>The document's tree is walked as Apache PDFBox 3 iterates it (Apache-2.0; {@code PDPageTree}, its
     * {@code getKids} and its {@code PageIterator}'s {@code enqueueKids} and {@code isPageTreeNode}), six
     * rounds having found a count that differed from it (round 536): a kid is each entry of a {@code /Kids}
     * that is a dictionary, referenced or written in place, and any other entry is skipped (an integer, a
     * name, a reference to no dictionary); a node is a dictionary with {@code /Kids} or {@code /Type /Pages}
     * (one without {@code /Kids} is an empty node); a node with {@code /Kids} is remembered when it is
     * entered as a kid and skipped when named again, the root is not (a node naming the root enters it once
     * more, so its pages count twice, as PDFBox iterates and extracts them), and a page is never remembered
     * (each naming is a page, round 526); a root whose {@code /Type} is {@code /Page} is the one kid of the
     * tree (PDFBOX-3154). Two rules differ from the iterator, both kept from before: a kid that is no node
     * is a page whatever its {@code /Type} (the iterator skips one without {@code /Type /Page}, but
     * {@code getPage(i)} renders it, as pdf.js and pdfium do), and a {@code null} or a reference to no
     * object, which PDFBox replaces with a blank page, counts nothing (a file sent in parts names objects
     * its next part holds). A {@code /Kids} array object is read once; a node that shares it names its pages
     * again ({@link #arrays}), and namings past a page's first are capped in {@link #count}.
     */
    private final class Tree {
        /** The nodes the document's walk entered as kids, as PDFBox's iterator remembers them: the root only once named again. */
        private final Set<Object> visited = new HashSet<>();
        /** Every node and {@code /Kids} array object walked or read, in the document's tree or another: each once. */
        private final Set<Object> walked = new HashSet<>();
        /** The pages each {@code /Kids} array object of the document's tree names, counted when it was first read. */
        private final Map<Long, Long> arrays = new HashMap<>();
        /** The pages of the document's tree. */
        final Set<Object> leaves = new HashSet<>();
        /** The pages of the other trees. */
        final Set<Object> others = new HashSet<>();
        /** How many times the document's tree names its pages, at most {@link Long#MAX_VALUE}. */
        long named;

        /** Walks the document's tree from {@code start} (an object number or a {@link Node}) as PDFBox iterates it. */
        void document(Object start) {
            Node root = node(start);
            // with no usable /Root every catalog's tree is the document's: one they share is walked once
            if (root == null || !walked.add(start)) {
                return;
            }
            ArrayDeque<Node> nodes = new ArrayDeque<>();
            if (root.page) {
                kid(start, root, nodes); // PDFBOX-3154: a page given as the tree is its only kid
            } else {
                nodes.add(root);
            }
            while (!nodes.isEmpty()) {
                Node node = nodes.poll();
                Kids kids = node.kids;
                if (kids == null && node.kidsRef >= 0) {
                    Long counted = arrays.get(node.kidsRef);
                    if (counted != null) {
                        // read before: its nodes are remembered already, its pages are named again here
                        named = saturatedAdd(named, counted);
                        continue;
                    }
                    walked.add(node.kidsRef);
                    Obj array = find(node.kidsRef);
                    kids = array == null ? null : array.array;
                }
                long before = named;
                for (int i = 0; kids != null && i < kids.size(); i++) {
                    Object id = kids.id(i);
                    Node kid = node(id);
                    if (kid != null) {
                        kid(id, kid, nodes);
                    }
                }
                if (node.kids == null && node.kidsRef >= 0) {
                    arrays.put(node.kidsRef, named - before);
                }
            }
        }

        /** A kid of the document's tree, as PDFBox's iterator enqueues one: a node entered once, a page each time. */
        private void kid(Object id, Node kid, ArrayDeque<Node> nodes) {
            if (visited.contains(id)) {
                return; // PDFBOX-5009: a node entered before is skipped (only nodes with /Kids are remembered)
            }
            if (kid.hasKids) {
                visited.add(id);
                walked.add(id);
                nodes.add(kid);
            } else if (!kid.pages) {
                named = saturatedAdd(named, 1);
                leaves.add(id);
            }
        }

        /** Walks another tree from {@code start}: each node and array once, none the document's walk entered, each page once. */
        void other(Object start) {
            Node root = node(start);
            if (root == null || !walked.add(start)) {
                return;
            }
            ArrayDeque<Node> nodes = new ArrayDeque<>();
            nodes.add(root);
            while (!nodes.isEmpty()) {
                Node node = nodes.poll();
                Kids kids = node.kids;
                if (kids == null && node.kidsRef >= 0) {
                    Obj array = walked.add(node.kidsRef) ? find(node.kidsRef) : null;
                    kids = array == null ? null : array.array;
                }
                for (int i = 0; kids != null && i < kids.size(); i++) {
                    Object id = kids.id(i);
                    Node kid = node(id);
                    if (kid != null && kid.hasKids) {
                        if (walked.add(id)) {
                            nodes.add(kid);
                        }
                    } else if (kid != null && !kid.pages) {
                        others.add(id);
                    }
                }
            }
        }

        /** The dictionary {@code id} is: a {@link Node} itself, or object {@code id}'s when that is a dictionary; else null. */
        private Node node(Object id) {
            if (id instanceof Node n) {
                return n;
            }
            Obj o = find((Long) id);
            return o == null ? null : o.dict;
        }
    }

    private static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * Object {@code number}, named by the page tree or the catalog, as a reader finds it: its version read
     * through the cross-reference data, or, when that data frees it (a free row, also an update's) or does
     * not place it, its last {@code N G obj} in the file, read in order, as PDFBox 3 reads a file
     * ({@code Loader.loadPDF}: only in-use rows enter its table, and an object the table does not hold is
     * looked up by its brute-force search for {@code N G obj}; round 514: a table that freed or left out the
     * 40 pages its tree names hid them all). The in-order reading is done at most once, only when a named
     * object is missing, and resolves an indirect {@code /Length} through the objects the data placed, so a
     * stream is skipped by the length readers take (round 505). Null when the file has no such object.
     */
    private Obj find(long number) {
        Obj o = objects.get(number);
        if (o != null || xref == null) {
            return o;
        }
        if (inOrder == null) {
            inOrder = new PdfPages(pdf);
            // the objects placed are known first; each is replaced when its header is read in order
            inOrder.objects.putAll(objects);
            inOrder.read();
        }
        return inOrder.objects.get(number);
    }

    /** What a reference names, as far as this file's objects keep it (an integer, a name, an array); else the value. */
    private Object resolve(Object value) {
        if (value instanceof Ref r && objects.get(r.number()) != null) {
            return objects.get(r.number()).small;
        }
        return value;
    }

    /** An integer, or a real's whole part as PDFBox's {@code getInt} reads it (round 551: {@code /N 43.0}); else -1. */
    private long integer(Object value) {
        return number(resolve(value));
    }

    /** An integer, or a real's whole part (as PDFBox's {@code getInt} and {@code getLong} read them); else -1. */
    private static long number(Object v) {
        return v instanceof Long l ? l : v instanceof Real r ? r.whole() : -1;
    }

    /** A real number, kept as its whole part (toward zero): the only use this count has for one. */
    private record Real(long whole) {
    }

    private static boolean isType(Map<?, ?> dict, String type) {
        return dict.get("Type") instanceof Name name && name.text().equals(type);
    }

    /** The end of a value: a structural keyword or the end of the input stops every container open. */
    private static final Object STOP = new Object();
    /** A value this count does not need (a string, a real, a boolean, null, a stray token). */
    private static final Object OTHER = new Object();

    /** The next value; {@link #STOP} (the token left to read) at a keyword that ends an object, or at the end. */
    private Object value(int depth) {
        Token t = lexer.next();
        switch (t.kind) {
            case EOF:
                return STOP;
            case INT: {
                Token g = lexer.next();
                if (g.kind == Kind.INT) {
                    Token k = lexer.next();
                    if (k.isKeyword("R")) {
                        return new Ref(t.number, g.number);
                    }
                    lexer.back(k);
                    lexer.back(g);
                    if (k.isKeyword("obj")) {
                        lexer.back(t); // the next object's header: this one ends here
                        return STOP;
                    }
                    return t.number;
                }
                lexer.back(g);
                return t.number;
            }
            case REAL:
                return new Real(t.number);
            case NAME:
                return new Name(t.text);
            case DICT_OPEN:
            case ARRAY_OPEN:
                if (depth >= MAX_DEPTH) {
                    return skipContainer();
                }
                return t.kind == Kind.DICT_OPEN ? dictionary(depth) : array(depth);
            case KEYWORD:
                if (ENDS_OBJECT.contains(t.text)) {
                    lexer.back(t);
                    return STOP;
                }
                return OTHER;
            case DICT_CLOSE:
            case ARRAY_CLOSE:
                lexer.back(t); // a closer where a value should be: its container closes
                return OTHER;
            default:
                return OTHER;
        }
    }

    private static final Set<String> ENDS_OBJECT = Set.of("endobj", "stream", "endstream", "obj", "xref", "trailer", "startxref");

    private Object dictionary(int depth) {
        Map<String, Object> dict = new HashMap<>();
        while (true) {
            Token t = lexer.next();
            if (t.kind == Kind.DICT_CLOSE || t.kind == Kind.EOF) {
                if (t.kind == Kind.EOF) {
                    lexer.back(t);
                }
                return dict;
            }
            if (t.kind == Kind.ARRAY_CLOSE) {
                continue; // a stray closer
            }
            lexer.back(t);
            if (t.kind != Kind.NAME) {
                if (value(depth + 1) == STOP) {
                    return dict;
                }
                continue; // a value where a key should be: skipped
            }
            lexer.next();
            Object v = value(depth + 1);
            if (v == STOP) {
                return dict;
            }
            dict.put(t.text, v);
        }
    }

    private Object array(int depth) {
        List<Object> array = new ArrayList<>();
        while (true) {
            Token t = lexer.next();
            if (t.kind == Kind.ARRAY_CLOSE || t.kind == Kind.EOF) {
                if (t.kind == Kind.EOF) {
                    lexer.back(t);
                }
                return array;
            }
            if (t.kind == Kind.DICT_CLOSE) {
                continue;
            }
            lexer.back(t);
            Object v = value(depth + 1);
            if (v == STOP) {
                return array;
            }
            array.add(v);
        }
    }

    /** Skips a container nested too deep, to its closer (or a keyword that ends the object). */
    private Object skipContainer() {
        int open = 1;
        while (open > 0) {
            Token t = lexer.next();
            if (t.kind == Kind.EOF || t.kind == Kind.KEYWORD && ENDS_OBJECT.contains(t.text)) {
                lexer.back(t);
                return STOP;
            }
            open += t.kind == Kind.DICT_OPEN || t.kind == Kind.ARRAY_OPEN ? 1
                    : t.kind == Kind.DICT_CLOSE || t.kind == Kind.ARRAY_CLOSE ? -1 : 0;
        }
        return OTHER;
    }

    /** What the count keeps of an object's last version. */
    private static final class Obj {
        final int position;
        final boolean page;
        final boolean pages;
        /** Whether the object says {@code /Type /Catalog}. */
        final boolean catalog;
        /** The object as the page tree reads it when it is a dictionary (a stream's too); else null. */
        final Node dict;
        /**
         * The page tree its {@code /Pages} names, whatever its {@code /Type} (the trailer's {@code /Root} is the
         * catalog): an object number, or a {@link Node} written in place (round 536: PDFBox takes either); null when none.
         */
        final Object pagesRoot;
        /** The object's value when it is an integer, a name or an array of names (what a reference may name). */
        final Object small;
        /** The entries of an array object as a {@code /Kids} (an indirect {@code /Kids}); null when the object is none. */
        final Kids array;

        Obj(int position, Object value) {
            this.position = position;
            Map<?, ?> map = value instanceof Map<?, ?> d ? d : Map.of();
            this.dict = value instanceof Map<?, ?> d ? new Node(d) : null;
            this.page = isType(map, "Page");
            this.pages = isType(map, "Pages");
            this.catalog = isType(map, "Catalog");
            Object tree = map.get("Pages");
            this.pagesRoot = tree instanceof Ref r ? (Object) r.number() : tree instanceof Map<?, ?> d ? new Node(d) : null;
            List<?> list = value instanceof List<?> l ? l : null;
            boolean names = list != null && list.size() <= 16 && list.stream().allMatch(e -> e instanceof Name);
            // a real too (round 555: /N 250 0 R naming 42.0 skipped the object stream, as /N 43.0 did before round 551)
            this.small = value instanceof Long || value instanceof Real || value instanceof Name || names ? value : null;
            this.array = list != null && !names ? Kids.of(list) : null;
        }
    }

    /**
     * A dictionary as the page tree reads it: its {@code /Type} as a page or a node, whether it has
     * {@code /Kids}, and those kids, written in place or as a reference to an array object. Known by its
     * identity: one written in place is one node or page wherever a walk meets it (PDFBox's dictionary object).
     */
    private static final class Node {
        final boolean page;
        final boolean pages;
        final boolean hasKids;
        /** A {@code /Kids} array written in place; null when none. */
        final Kids kids;
        /** The array object {@code /Kids} names; -1 when none. */
        final long kidsRef;

        Node(Map<?, ?> dict) {
            this.page = isType(dict, "Page");
            this.pages = isType(dict, "Pages");
            this.hasKids = dict.containsKey("Kids");
            Object kidsValue = dict.get("Kids");
            this.kids = kidsValue instanceof List<?> list ? Kids.of(list) : null;
            this.kidsRef = kidsValue instanceof Ref r ? r.number() : -1;
        }
    }

    /**
     * The entries of an array that may be a {@code /Kids} which can be kids: references (by object number) and
     * dictionaries written in place ({@link Node}s, kept as {@code -1 - i}); any other entry is no kid (PDFBox
     * skips it) and is not kept.
     */
    private record Kids(long[] entries, Node[] inline) {
        static Kids of(List<?> list) {
            long[] entries = new long[list.size()];
            List<Node> inline = new ArrayList<>();
            int n = 0;
            for (Object e : list) {
                if (e instanceof Ref r) {
                    entries[n++] = r.number();
                } else if (e instanceof Map<?, ?> d) {
                    inline.add(new Node(d));
                    entries[n++] = -1 - (inline.size() - 1);
                }
            }
            return new Kids(n == entries.length ? entries : java.util.Arrays.copyOf(entries, n), inline.toArray(new Node[0]));
        }

        int size() {
            return entries.length;
        }

        /** Entry {@code i}: its object number, or the {@link Node} written there. */
        Object id(int i) {
            long e = entries[i];
            return e >= 0 ? (Object) e : inline[(int) (-1 - e)];
        }
    }

    private record ObjectStream(long number, int position, Map<?, ?> dict, int from, int to) {
    }

    /** What decoding and reading streams (object and cross-reference streams) may still cost one count, shared by all its streams. */
    static final class Budget {
        long decoded = DECODED_TOTAL;
        /** Tokens that may still be read from decoded streams; negative once one was refused. */
        long tokens = DECODED_TOKENS;
    }

    record Ref(long number, long generation) {
    }

    record Name(String text) {
    }

    enum Kind { INT, REAL, NAME, STRING, DICT_OPEN, DICT_CLOSE, ARRAY_OPEN, ARRAY_CLOSE, KEYWORD, OTHER, EOF }

    static final class Token {
        final Kind kind;
        final int start;
        final int end;
        final long number;
        final String text;

        Token(Kind kind, int start, int end, long number, String text) {
            this.kind = kind;
            this.start = start;
            this.end = end;
            this.number = number;
            this.text = text;
        }

        boolean isKeyword(String keyword) {
            return kind == Kind.KEYWORD && text.equals(keyword);
        }

        @Override
        public String toString() {
            return kind + (text != null ? " " + text : kind == Kind.INT ? " " + number : "");
        }
    }

    /**
     * The tokens of PDF bytes (ISO 32000-1 7.2-7.3): white space and comments skipped, a string one
     * token whatever it holds, a name decoded. A stream's data is not lexed: the reader moves
     * {@link #pos} past it.
     */
    static final class Lexer {
        private final byte[] b;
        private final int end;
        int pos;
        private final ArrayDeque<Token> back = new ArrayDeque<>();
        /** The budget of a lexer over decoded bytes: past it, the input ends. */
        private final Budget budget;

        Lexer(byte[] b, int from, int to) {
            this(b, from, to, null);
        }

        Lexer(byte[] b, int from, int to, Budget budget) {
            this.b = b;
            this.pos = from;
            this.end = to;
            this.budget = budget;
        }

        void back(Token t) {
            back.push(t);
        }

        /** Where the tokens read and not handed back end: the next token's start when one was handed back. */
        int consumed() {
            return back.isEmpty() ? pos : back.peek().start;
        }

        static boolean white(byte c) {
            return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
        }

        static boolean delimiter(byte c) {
            return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}'
                    || c == '/' || c == '%';
        }

        Token next() {
            if (!back.isEmpty()) {
                return back.pop();
            }
            if (budget != null && --budget.tokens < 0) {
                pos = end;
                return new Token(Kind.EOF, end, end, 0, null);
            }
            while (pos < end) {
                byte c = b[pos];
                if (white(c)) {
                    pos++;
                } else if (c == '%') {
                    while (pos < end && b[pos] != '\n' && b[pos] != '\r') {
                        pos++;
                    }
                } else {
                    break;
                }
            }
            int start = pos;
            if (pos >= end) {
                return new Token(Kind.EOF, end, end, 0, null);
            }
            byte c = b[pos++];
            switch (c) {
                case '(':
                    for (int depth = 1; pos < end && depth > 0; pos++) {
                        if (b[pos] == '\\') {
                            pos++;
                        } else if (b[pos] == '(') {
                            depth++;
                        } else if (b[pos] == ')') {
                            depth--;
                        }
                    }
                    pos = Math.min(pos, end);
                    return new Token(Kind.STRING, start, pos, 0, null);
                case '<':
                    if (pos < end && b[pos] == '<') {
                        pos++;
                        return new Token(Kind.DICT_OPEN, start, pos, 0, null);
                    }
                    while (pos < end && b[pos] != '>') {
                        pos++;
                    }
                    pos = Math.min(pos + 1, end);
                    return new Token(Kind.STRING, start, pos, 0, null);
                case '>':
                    if (pos < end && b[pos] == '>') {
                        pos++;
                        return new Token(Kind.DICT_CLOSE, start, pos, 0, null);
                    }
                    return new Token(Kind.OTHER, start, pos, 0, null);
                case '[':
                    return new Token(Kind.ARRAY_OPEN, start, pos, 0, null);
                case ']':
                    return new Token(Kind.ARRAY_CLOSE, start, pos, 0, null);
                case '/':
                    return new Token(Kind.NAME, start, regular(), 0, name(start + 1, pos));
                case ')':
                case '{':
                case '}':
                    return new Token(Kind.OTHER, start, pos, 0, null);
                default:
                    pos--;
                    if (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
                        // as PDFBox reads a number: the run of digits, signs, points and exponents, the next
                        // character starting the next token (round 553: /N 43x, /First 329x, /Predictor 12x, read
                        // whole as a keyword, left an object stream of 40 pages unread)
                        while (pos < end && (b[pos] >= '0' && b[pos] <= '9' || b[pos] == '+' || b[pos] == '-'
                                || b[pos] == '.' || b[pos] == 'e' || b[pos] == 'E')) {
                            pos++;
                        }
                        if (b[pos - 1] == 'e' || b[pos - 1] == 'E') {
                            // a last e is no part of it, as PDFBox gives it back (round 554: /N 43e, /Prev 12776e and
                            // 43endobj hid the same pages)
                            pos--;
                        }
                    } else {
                        regular();
                    }
                    return word(start, pos);
            }
        }

        /** Moves past a run of regular characters; returns where it ends. */
        private int regular() {
            while (pos < end && !white(b[pos]) && !delimiter(b[pos])) {
                pos++;
            }
            return pos;
        }

        /** A name's characters with its {@code #xx} escapes decoded (ISO 32000-1 7.3.5: {@code /Pag#65} is {@code /Page}). */
        private String name(int from, int to) {
            StringBuilder s = new StringBuilder(to - from);
            for (int i = from; i < to; i++) {
                int h;
                int l;
                if (b[i] == '#' && i + 2 < to && (h = hex(b[i + 1])) >= 0 && (l = hex(b[i + 2])) >= 0) {
                    s.append((char) (h << 4 | l));
                    i += 2;
                } else {
                    s.append((char) (b[i] & 0xFF));
                }
            }
            return s.toString();
        }

        private String keyword(int from, int to) {
            for (String k : KEYWORDS) {
                if (k.length() == to - from && indexOf(b, k, from, to) == from) {
                    return k;
                }
            }
            return new String(b, from, to - from, java.nio.charset.StandardCharsets.ISO_8859_1);
        }

        /** A number ({@code 12}, {@code -3}, {@code +.5}) or a keyword ({@code obj}, {@code R}, {@code true}). */
        private Token word(int from, int to) {
            int i = from;
            if (i < to && (b[i] == '+' || b[i] == '-')) {
                i++;
            }
            int digits = 0;
            // digits after the leading zeros: PDFBox reads 0000000000000000300 as 300 (round 552)
            int significant = 0;
            int dots = 0;
            int exponent = -1;
            for (int j = i; j < to; j++) {
                if (b[j] >= '0' && b[j] <= '9') {
                    digits++;
                    if (significant > 0 || b[j] != '0') {
                        significant++;
                    }
                } else if (b[j] == '.') {
                    dots++;
                } else if ((b[j] == 'e' || b[j] == 'E') && digits > 0 && exponent < 0) {
                    // PDFBox reads 43e0 and 4.3E1 as reals (round 552: /N 43e0 skipped an object stream)
                    exponent = j;
                    break;
                } else {
                    return new Token(Kind.KEYWORD, from, to, 0, keyword(from, to));
                }
            }
            if (exponent >= 0 && !exponentDigits(exponent + 1, to)) {
                return new Token(Kind.KEYWORD, from, to, 0, keyword(from, to));
            }
            if (digits == 0 || dots > 1) {
                return new Token(Kind.KEYWORD, from, to, 0, keyword(from, to));
            }
            if (dots == 1 || exponent >= 0 || significant > 18) {
                // its whole part toward zero, as PDFBox's getInt reads a real (a larger one saturates, far past any
                // bound here)
                long whole;
                try {
                    whole = (long) Double.parseDouble(new String(b, from, to - from, java.nio.charset.StandardCharsets.ISO_8859_1));
                } catch (NumberFormatException notANumber) {
                    return new Token(Kind.KEYWORD, from, to, 0, keyword(from, to));
                }
                return new Token(Kind.REAL, from, to, whole, null);
            }
            long n = 0;
            for (int j = i; j < to; j++) {
                n = n * 10 + (b[j] - '0');
            }
            return new Token(Kind.INT, from, to, b[from] == '-' ? -n : n, null);
        }

        /** Whether {@code from..to} is an exponent's sign and digits ({@code +1}, {@code 0}, {@code -12}). */
        private boolean exponentDigits(int from, int to) {
            int j = from < to && (b[from] == '+' || b[from] == '-') ? from + 1 : from;
            if (j >= to) {
                return false;
            }
            for (; j < to; j++) {
                if (b[j] < '0' || b[j] > '9') {
                    return false;
                }
            }
            return true;
        }
    }

    /** The keywords a file repeats, one string each (a reference's {@code R} is most tokens of a {@code /Kids}). */
    private static final String[] KEYWORDS = {"R", "obj", "endobj", "stream", "endstream", "true", "false", "null", "n", "f"};

    static int hex(int c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    }

    static int indexOf(byte[] b, String s, int from, int to) {
        outer:
        for (int i = Math.max(0, from); i + s.length() <= to; i++) {
            for (int j = 0; j < s.length(); j++) {
                if (b[i + j] != (byte) s.charAt(j)) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** The last {@code s} in {@code b} at or after {@code from}; -1 when none. */
    static int lastIndexOf(byte[] b, String s, int from) {
        return lastIndexOf(b, s, from, b.length);
    }

    /** The last {@code s} in {@code b} at or after {@code from} that starts before {@code before}; -1 when none. */
    static int lastIndexOf(byte[] b, String s, int from, int before) {
        for (int i = Math.min(b.length - s.length(), before - 1); i >= from; i--) {
            if (indexOf(b, s, i, i + s.length()) == i) {
                return i;
            }
        }
        return -1;
    }

    private static boolean startsWith(byte[] b, int at, String s) {
        return at + s.length() <= b.length && indexOf(b, s, at, at + s.length()) == at;
    }

    /**
     * A stream's bytes decoded through its filter chain (ISO 32000-1 7.4: {@code ASCIIHexDecode},
     * {@code ASCII85Decode}, {@code FlateDecode}, in order); {@code null} when a filter is one this class
     * does not decode (LZW; an object stream under one counts as its /N) or the stream decodes to more than its bound:
     * {@link #STREAM_RATIO} times its encoded size and at most {@link #STREAM_DECODED}. A bound per
     * stream, tied to its encoded size (round 495: one stream of 8 MB of white space spent a shared
     * budget and the page dictionaries in the next were never read), within what is left of the
     * count's shared {@link Budget}; one stream is held in memory at a time.
     */
    static byte[] decode(List<String> filters, byte[] pdf, int from, int to) {
        return decode(filters, pdf, from, to, (int) Math.min(STREAM_DECODED, (long) STREAM_RATIO * Math.max(0, to - from)))
                .bytes();
    }

    /**
     * {@link #decode(List, byte[], int, int)} within {@code most} bytes (what is left of a count's budget), the
     * bytes of every layer of the chain counted against it: {@code spent} is what the count's budget is charged,
     * {@code most + 1} when the chain was cut (round 553: a Flate layer inflating 8 MB that a hex layer then
     * shrank to 2 KB was charged 2 KB, so every decoy stream of a small body inflated 8 MB, and the objects
     * after them were read where a stream past the budget counts as its /N).
     */
    static Decoded decode(List<String> filters, byte[] pdf, int from, int to, int most) {
        byte[] bytes = java.util.Arrays.copyOfRange(pdf, from, to);
        long spent = 0;
        for (String filter : filters) {
            int left = (int) (most - spent);
            bytes = switch (filter) {
                case "FlateDecode", "Fl" -> inflate(bytes, left);
                case "ASCIIHexDecode", "AHx" -> asciiHex(bytes);
                case "ASCII85Decode", "A85" -> ascii85(bytes);
                case "RunLengthDecode", "RL" -> runLength(bytes, left);
                default -> null;
            };
            if (bytes == null || bytes.length > left) {
                return new Decoded(null, most + 1L);
            }
            spent += bytes.length;
        }
        return new Decoded(bytes, spent);
    }

    /** A decoded stream ({@code null} when it could not be, within its bound) and what its layers decoded together. */
    record Decoded(byte[] bytes, long spent) {
    }

    static byte[] asciiHex(byte[] in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length / 2 + 1);
        int high = -1;
        for (byte b : in) {
            if (b == '>') {
                break;
            }
            int v = hex(b & 0xFF);
            if (v < 0) {
                continue; // white space, and anything else a reader skips
            }
            if (high < 0) {
                high = v;
            } else {
                out.write(high << 4 | v);
                high = -1;
            }
        }
        if (high >= 0) {
            out.write(high << 4); // an odd last digit is followed by 0 (ISO 32000-1 7.4.2)
        }
        return out.toByteArray();
    }

    static byte[] ascii85(byte[] in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length);
        long group = 0;
        int n = 0;
        for (int i = 0; i < in.length; i++) {
            int c = in[i] & 0xFF;
            if (c == '~') {
                break;
            }
            if (c == 'z' && n == 0) {
                out.writeBytes(new byte[4]);
                continue;
            }
            if (c < '!' || c > 'u') {
                continue; // white space
            }
            group = group * 85 + (c - '!');
            if (++n == 5) {
                for (int s = 24; s >= 0; s -= 8) {
                    out.write((int) (group >> s) & 0xFF);
                }
                group = 0;
                n = 0;
            }
        }
        if (n > 1) { // a last partial group: padded with 'u', its n - 1 bytes kept
            for (int k = n; k < 5; k++) {
                group = group * 85 + 84;
            }
            for (int k = 0, s = 24; k < n - 1; k++, s -= 8) {
                out.write((int) (group >> s) & 0xFF);
            }
        }
        return out.toByteArray();
    }

    /** {@code null} when the stream inflates to more than {@code most}; what inflated when it is broken. */
    private static byte[] inflate(byte[] b, int most) {
        // as PDFBox inflates Flate data: the two bytes of the zlib header skipped unchecked, the rest raw deflate
        // (round 551: a header with wrong check bits, or one asking for a preset dictionary, left 40 pages unread)
        Inflater inflater = new Inflater(true);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            inflater.setInput(b, Math.min(2, b.length), Math.max(0, b.length - 2));
            byte[] buffer = new byte[8192];
            while (!inflater.finished()) {
                int n = inflater.inflate(buffer);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                out.write(buffer, 0, n);
                if (out.size() > most) {
                    return null;
                }
            }
        } catch (DataFormatException e) {
            // not a Flate stream: what was inflated stands
        } finally {
            inflater.end();
        }
        return out.toByteArray();
    }
}
