package io.tokenquota.servlet.breakit9;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatRound9BreakItTest extends AbstractRound9BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
