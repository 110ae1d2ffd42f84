package io.tokenquota.servlet.breakit512;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound512BreakItTest extends AbstractRound512 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
