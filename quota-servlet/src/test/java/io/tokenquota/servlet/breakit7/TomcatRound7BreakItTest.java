package io.tokenquota.servlet.breakit7;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatRound7BreakItTest extends AbstractRound7BreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
