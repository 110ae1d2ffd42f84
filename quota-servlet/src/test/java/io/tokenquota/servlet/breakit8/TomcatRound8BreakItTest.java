package io.tokenquota.servlet.breakit8;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatRound8BreakItTest extends AbstractRound8BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
