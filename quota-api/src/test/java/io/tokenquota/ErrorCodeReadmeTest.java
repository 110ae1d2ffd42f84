package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's error table lists every {@link ErrorCode}, in the enum's order, with its HTTP status. */
class ErrorCodeReadmeTest {
    private static final Pattern ROW = Pattern.compile("^\\| `([A-Z_]+)` \\| (\\d{3}) \\|");

    @Test
    void theReadmeErrorTableIsTheEnum() throws IOException {
        Path readme = Path.of("..", "README.md");
        List<String> rows = new ArrayList<>();
        for (String line : Files.readAllLines(readme)) {
            Matcher m = ROW.matcher(line);
            if (m.find()) {
                rows.add(m.group(1) + " " + m.group(2));
            }
        }
        List<String> codes = Arrays.stream(ErrorCode.values()).map(c -> c.name() + " " + c.httpStatus()).toList();
        assertEquals(codes, rows, "README.md's error table, row by row");
    }
}
