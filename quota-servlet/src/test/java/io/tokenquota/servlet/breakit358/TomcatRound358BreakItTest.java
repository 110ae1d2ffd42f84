package io.tokenquota.servlet.breakit358;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound358BreakItTest extends AbstractRound358 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
