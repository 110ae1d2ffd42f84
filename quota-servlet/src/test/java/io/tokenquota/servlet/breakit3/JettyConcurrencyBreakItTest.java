package io.tokenquota.servlet.breakit3;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyConcurrencyBreakItTest extends AbstractConcurrencyBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
