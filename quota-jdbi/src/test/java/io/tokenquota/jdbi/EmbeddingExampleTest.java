package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.Reservation;
import org.junit.jupiter.api.Test;

/** The README's embedding example, verbatim: it must compile and do what the README says. */
class EmbeddingExampleTest {

    @Test
    void readmeExample() {
        try (JdbiQuotaStore store = JdbiQuotaStore.builder()
                .jdbcUrl("jdbc:h2:mem:readme")
                .installSchema(true)
                .build()) {
            Reservation hold = store.reserve("user-42", 1_500, "request-7");   // QuotaExceededException -> 429
            store.commit(hold, 1_234);                                         // charges what the call really used
            QuotaAccount account = store.account("user-42");
            System.out.println(account.used() + " used, " + account.available() + " of " + account.limit() + " left");

            assertEquals(1_234, account.used());
            assertEquals(0, account.reserved());
            assertEquals(10_000 - 1_234, account.available());
        }
    }
}
