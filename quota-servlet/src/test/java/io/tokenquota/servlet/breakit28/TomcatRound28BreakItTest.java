package io.tokenquota.servlet.breakit28;

import io.tokenquota.servlet.testing.ContainerKind;
import org.junit.jupiter.api.Test;

class TomcatRound28BreakItTest extends AbstractRound28 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }

    /** See {@link AbstractRound28#assertUpgradedSessionCharged()}. */
    @Test
    void modelCallsOverAnUpgradedProtectedConnectionAreNotFree() throws Exception {
        assertUpgradedSessionCharged();
    }
}
