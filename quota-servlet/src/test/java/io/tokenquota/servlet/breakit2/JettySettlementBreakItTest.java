package io.tokenquota.servlet.breakit2;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettySettlementBreakItTest extends AbstractSettlementBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
