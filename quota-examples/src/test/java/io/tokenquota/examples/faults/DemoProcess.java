package io.tokenquota.examples.faults;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The demo service ({@code io.tokenquota.examples.DemoServer}) running in a JVM of its own, as a
 * user deploys it: started with environment variables, stopped gracefully (SIGTERM) or killed
 * (SIGKILL). Runs the shaded {@code quota-demo.jar} when the build passes its path in the system
 * property {@code tq.demoJar}, else the test's own class path. Not thread-safe.
 */
final class DemoProcess implements AutoCloseable {
    static final String MAIN_CLASS = "io.tokenquota.examples.DemoServer";
    /** What {@code java.lang.Process} reports for a child ended by SIGKILL on Linux: 128 + 9. */
    static final int SIGKILL_EXIT = 137;
    private static final Duration STARTUP = Duration.ofSeconds(60);

    private final String name;
    private final Path workDir;
    private final Map<String, String> env;
    private final Path log;
    private final int port;
    private final Http http = new Http(Duration.ofSeconds(5));
    private Process process;

    private DemoProcess(String name, Path workDir, Map<String, String> env, int port) {
        this.name = name;
        this.workDir = workDir;
        this.env = new LinkedHashMap<>(env);
        this.port = port;
        this.log = workDir.resolve(name + ".log");
    }

    /**
     * Starts the service on a free port in {@code workDir} (its working directory, so the default
     * H2 file database lands in {@code workDir/data}) and waits until {@code /health} answers 200.
     */
    static DemoProcess start(String name, Path workDir, Map<String, String> env) {
        DemoProcess demo = new DemoProcess(name, workDir, env, freePort());
        demo.launch();
        return demo;
    }

    /** Starts it again on the same port and working directory, with {@code overrides} applied. */
    void restart(Map<String, String> overrides) {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException(name + " is still running");
        }
        env.putAll(overrides);
        launch();
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    int port() {
        return port;
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL: no shutdown hook, no finally block, no flush runs in the service. Returns the exit code. */
    int kill() {
        process.destroyForcibly();
        return waitForExit(Duration.ofSeconds(30));
    }

    /** SIGTERM: the graceful stop a process manager sends first. Returns the exit code. */
    int stop() {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return waitForExit(Duration.ofSeconds(30));
    }

    /** The last lines the service printed, for failure messages. */
    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            waitForExit(Duration.ofSeconds(30));
        }
    }

    private void launch() {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // small, quick-starting JVMs: several of them share two cores with the build
        command.add("-Xmx256m");
        command.add("-XX:+UseSerialGC");
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-cp");
        command.add(classPath());
        command.add(MAIN_CLASS);
        ProcessBuilder builder = new ProcessBuilder(command)
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment().putAll(env);
        builder.environment().put("PORT", Integer.toString(port));
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
        try {
            Poll.untilTrue(STARTUP, name + " /health on port " + port, () -> {
                if (!process.isAlive()) {
                    throw new IllegalStateException(name + " exited with " + process.exitValue());
                }
                return http.get(uri("/health")).status() == 200;
            });
        } catch (AssertionError e) {
            close();
            throw new AssertionError(e.getMessage() + "\n--- " + name + " log ---\n" + logTail(), e);
        }
    }

    private int waitForExit(Duration deadline) {
        try {
            if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError(name + " did not exit within " + deadline);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        return process.exitValue();
    }

    static String classPath() {
        String jar = System.getProperty("tq.demoJar");
        if (jar != null && !jar.isBlank() && Files.isRegularFile(Path.of(jar))) {
            return jar;
        }
        return System.getProperty("java.class.path");
    }

    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
