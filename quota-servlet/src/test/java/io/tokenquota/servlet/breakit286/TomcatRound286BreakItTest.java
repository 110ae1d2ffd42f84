package io.tokenquota.servlet.breakit286;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound286BreakItTest extends AbstractRound286 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
