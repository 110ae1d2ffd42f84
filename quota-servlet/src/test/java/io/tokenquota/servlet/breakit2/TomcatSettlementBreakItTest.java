package io.tokenquota.servlet.breakit2;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatSettlementBreakItTest extends AbstractSettlementBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
