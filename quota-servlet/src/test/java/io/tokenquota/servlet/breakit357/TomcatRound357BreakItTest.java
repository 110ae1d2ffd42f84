package io.tokenquota.servlet.breakit357;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound357BreakItTest extends AbstractRound357 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
