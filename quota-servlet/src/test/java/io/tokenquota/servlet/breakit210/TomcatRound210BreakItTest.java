package io.tokenquota.servlet.breakit210;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound210BreakItTest extends AbstractRound210 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
