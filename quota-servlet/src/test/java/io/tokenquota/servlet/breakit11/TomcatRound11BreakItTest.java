package io.tokenquota.servlet.breakit11;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatRound11BreakItTest extends AbstractRound11BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
