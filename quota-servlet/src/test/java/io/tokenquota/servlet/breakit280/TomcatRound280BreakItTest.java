package io.tokenquota.servlet.breakit280;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound280BreakItTest extends AbstractRound280 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
