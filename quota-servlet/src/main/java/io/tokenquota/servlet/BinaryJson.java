package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.smile.SmileFactory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Locale;

/**
 * A request body in one of the binary forms of JSON that web frameworks bind as they bind JSON (Spring
 * MVC registers its CBOR and Smile message converters whenever Jackson's formats are on the classpath):
 * read as the JSON document it stands for, so its text, output budget and completions are estimated as a
 * JSON body's. Only for the estimate: the body goes to the endpoint as it came, and a budget above the
 * cap cannot be lowered in it (it is refused, as any budget the filter cannot rewrite). Stateless.
 */
final class BinaryJson {
    /**
     * What the endpoint's converter reads: no limit on a number's, a string's or a name's length (the
     * filter's body limit bounds them, as for JSON bodies), and nesting to Jackson's default depth, which
     * Spring's converters keep (a deeper document is refused there too). The JSON written from it is
     * estimated as any deep JSON body is.
     */
    private static final StreamReadConstraints READ = Json.REQUEST_SCAN.streamReadConstraints().rebuild()
            .maxNestingDepth(StreamReadConstraints.DEFAULT_MAX_DEPTH).build();

    /** CBOR (RFC 8949), as Spring's CBOR converter reads it. */
    private static final CBORFactory CBOR = CBORFactory.builder().streamReadConstraints(READ).build();

    /** Jackson's Smile, as Spring's Smile converter reads it. */
    private static final SmileFactory SMILE = SmileFactory.builder().streamReadConstraints(READ).build();

    private BinaryJson() {
    }

    /**
     * A body read as JSON: the JSON document its first document stands for, and whether that document is
     * the whole body (a converter reads the first and ignores what follows it).
     */
    record Reading(byte[] json, boolean whole) {
    }

    /**
     * The body as JSON when its media type names CBOR or Smile (as a converter is chosen), else
     * {@code null}; {@code null} too when it does not parse in that form: the endpoint's converter refuses
     * it then. The caller estimates the body as it came as well (an endpoint may ignore the label) and
     * holds the larger.
     */
    static Reading read(byte[] body, String contentType) {
        JsonFactory format = formatOf(contentType);
        if (format == null || body.length == 0) {
            return null;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(body.length + body.length / 2);
        long end;
        try (JsonParser in = format.createParser(body);
             JsonGenerator json = Json.REQUEST_SCAN.createGenerator(out)) {
            // the first document, the one a converter binds
            if (in.nextToken() == null) {
                return null;
            }
            json.copyCurrentStructure(in);
            end = in.currentLocation().getByteOffset();
        } catch (IOException | RuntimeException notThatForm) {
            return null;
        }
        // Smile may end its document with a marker byte
        return new Reading(out.toByteArray(), end >= body.length - 1);
    }

    /** Whether {@code contentType} names CBOR or Smile, the formats {@link #read} reads. */
    static boolean names(String contentType) {
        return formatOf(contentType) != null;
    }

    private static JsonFactory formatOf(String contentType) {
        String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
        int semicolon = type.indexOf(';');
        type = (semicolon < 0 ? type : type.substring(0, semicolon)).trim();
        // application/cbor and any structured suffix (+cbor, RFC 6839), as a converter matches them
        if (type.equals("application/cbor") || type.endsWith("+cbor")) {
            return CBOR;
        }
        if (type.equals("application/x-jackson-smile") || type.endsWith("+smile")) {
            return SMILE;
        }
        return null;
    }
}
