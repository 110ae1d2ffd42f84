package io.tokenquota.servlet.breakit327;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound327AttacksTest extends AbstractRound327Attacks {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
