package io.tokenquota.servlet.breakit417;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound417BreakItTest extends AbstractRound417 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
