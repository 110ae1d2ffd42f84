package io.tokenquota.examples;

import io.tokenquota.testkit.MutableClock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.YearMonth;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The dashboard in a real headless browser: Debian's Chromium driven by Selenium through Debian's
 * ChromeDriver, both named explicitly so Selenium never tries to download anything. The test reads the
 * numbers the page shows and compares them with the quota API's. Without the browser or the driver it
 * reports itself skipped and says which is missing ({@code .ci/run} installs both).
 *
 * <p>It also saves a screenshot of the page with a month of demo traffic to the build directory, and
 * to {@code -Dtq.screenshot=<path>} when given (how {@code docs/dashboard.png} is made).
 */
class DashboardBrowserTest {
    /** Debian's packages; {@code -Dtq.chromium=} and {@code -Dtq.chromedriver=} point elsewhere. */
    static final Path CHROMIUM = Paths.get(System.getProperty("tq.chromium", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Paths.get(System.getProperty("tq.chromedriver", "/usr/bin/chromedriver"));
    private static final YearMonth MONTH = YearMonth.of(2026, 11);
    private static final int TODAY = 20;

    private static DemoApp app;
    private static DemoClient client;
    private static WebDriver driver;
    private static ChromeDriverService service;
    private static Path profile;
    private static int blocked;

    /** Why the browser tests cannot run here, or {@code null} when they can. */
    private static String missing() {
        if (!Files.isExecutable(CHROMIUM)) {
            return "no browser: " + CHROMIUM + " is missing (apt-get install chromium; .ci/run does it)";
        }
        if (!Files.isExecutable(CHROMEDRIVER)) {
            return "no driver: " + CHROMEDRIVER + " is missing (apt-get install chromium-driver; .ci/run does it)";
        }
        return null;
    }

    @BeforeAll
    static void start() throws Exception {
        if (missing() != null) {
            // each test then reports itself skipped with the reason (an aborted @BeforeAll would hide it)
            System.err.println("DashboardBrowserTest skipped: " + missing());
            return;
        }

        MutableClock clock = MutableClock.at(MONTH, 1, 8);
        app = DemoApp.start(DemoConfig.builder()
                .port(0)
                .host("127.0.0.1")
                .jdbc("jdbc:h2:mem:browser-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", "sa", "")
                .adminToken(DemoClient.ADMIN_TOKEN)
                .paymentSecret(DemoClient.PAYMENT_SECRET)
                .clock(clock)
                .build());
        client = new DemoClient(app.baseUri());
        long t0 = System.nanoTime();
        blocked = DemoTraffic.play(client, clock, MONTH, TODAY);
        System.out.printf("demo traffic: %d ms, %d blocked%n", (System.nanoTime() - t0) / 1_000_000, blocked);

        profile = Files.createTempDirectory("tq-chromium-profile");
        // the driver and browser are given explicitly: Selenium Manager has nothing to look up or download
        System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
        service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                "--disable-dev-shm-usage", "--window-size=1280,1950", "--user-data-dir=" + profile);
        driver = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (driver != null) {
                driver.quit();
            }
            if (service != null) {
                service.stop();
            }
        } finally {
            if (app != null) {
                app.close();
            }
            if (profile != null) {
                deleteTree(profile);
            }
        }
    }

    @BeforeEach
    void needsTheBrowser() {
        String reason = missing();
        assumeTrue(reason == null, reason);
    }

    @Test
    void thePageShowsTheSameNumbersAsTheApi() throws Exception {
        openFreshPage();
        assertEquals("token-quota dashboard", driver.getTitle());
        driver.findElement(By.id("admin-token")).sendKeys(DemoClient.ADMIN_TOKEN);
        driver.findElement(By.id("user-id")).sendKeys("alice");
        driver.findElement(By.id("load")).click();
        waitUntilLoaded(1);

        // the chosen user's gauge against GET /api/v1/user-quota/quota
        Map<String, Object> alice = client.settledQuota("alice");
        assertEquals(longAt(alice, "used_tokens"), number("user-used"));
        assertEquals(longAt(alice, "reserved_tokens"), number("user-reserved"));
        assertEquals(longAt(alice, "remaining_tokens"), number("user-remaining"));
        assertEquals(longAt(alice, "purchased_tokens"), number("user-purchased"));
        assertEquals(20_000, number("user-purchased"));
        assertEquals(longAt(alice, "total_quota"), number("user-limit"));
        assertEquals(String.format("%,d", longAt(alice, "used_tokens")), text("user-used"), "shown formatted");

        // the chosen user's pace against GET /forecast
        Map<String, Object> forecast = TestJson.object(client.get("/api/v1/user-quota/forecast", "alice").body());
        assertEquals(((Number) forecast.get("tokens_per_day")).doubleValue(), Double.parseDouble(value("user-rate")), 0.01);

        // all users: the sum of every user's quota, and the admin overview's statistics
        long usedByAll = 0;
        long remainingOfAll = 0;
        String top = null;
        long topUsed = -1;
        for (String user : DemoTraffic.USERS) {
            Map<String, Object> q = client.settledQuota(user);
            usedByAll += longAt(q, "used_tokens");
            remainingOfAll += longAt(q, "remaining_tokens");
            if (longAt(q, "used_tokens") > topUsed) {
                topUsed = longAt(q, "used_tokens");
                top = user;
            }
        }
        assertEquals(usedByAll, number("all-used"));
        assertEquals(remainingOfAll, number("all-remaining"));
        assertEquals(usedByAll, number("all-daily-total"), "the daily chart adds up to the month's usage");

        HttpResponse<String> overviewResponse = client.adminGet("/api/v1/user-quota/admin/overview", DemoClient.ADMIN_TOKEN);
        assertEquals(200, overviewResponse.statusCode(), overviewResponse.body());
        Map<String, Object> overview = TestJson.object(overviewResponse.body());
        assertEquals(longAt(overview, "block_stats", "rejected"), number("all-blocked"));
        assertEquals(blocked, number("all-blocked"), "every 429 the traffic got is counted");
        assertTrue(blocked > 0, "the small-plan user was blocked on some days");
        assertEquals(((Number) TestJson.at(overview, "block_stats", "ratio")).doubleValue(),
                Double.parseDouble(value("all-block-ratio")), 1e-9);

        List<WebElement> consumerRows = driver.findElements(By.cssSelector("#all-top-consumers tbody tr"));
        assertEquals(DemoTraffic.USERS.size(), consumerRows.size());
        assertEquals(top, consumerRows.get(0).getDomAttribute("data-user-id"));
        assertEquals(topUsed, Long.parseLong(consumerRows.get(0).getDomAttribute("data-used")));

        @SuppressWarnings("unchecked")
        List<Map<String, Object>> totals = (List<Map<String, Object>>) overview.get("purchase_totals");
        List<WebElement> purchaseRows = driver.findElements(By.cssSelector("#all-purchases tbody tr"));
        assertEquals(totals.size(), purchaseRows.size());
        for (int i = 0; i < totals.size(); i++) {
            WebElement row = purchaseRows.get(i);
            assertEquals(totals.get(i).get("purchase_type"), row.getDomAttribute("data-type"));
            assertEquals(totals.get(i).get("currency"), row.getDomAttribute("data-currency"));
            assertEquals(longAt(totals.get(i), "token_amount"), Long.parseLong(row.getDomAttribute("data-tokens")));
            assertEquals(((Number) totals.get(i).get("amount")).doubleValue(),
                    Double.parseDouble(row.getDomAttribute("data-amount")), 0.001);
        }

        List<WebElement> bars = driver.findElements(By.cssSelector("#all-chart rect.day"));
        assertEquals(TODAY, bars.size(), "one bar per day of the month so far");
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> days = (List<Map<String, Object>>) overview.get("daily_usage");
        assertEquals(days.size(), bars.size());
        for (int i = 0; i < days.size(); i++) {
            assertEquals(days.get(i).get("date"), bars.get(i).getDomAttribute("data-day"));
            assertEquals(longAt(days.get(i), "used_tokens"), Long.parseLong(bars.get(i).getDomAttribute("data-used")));
        }
        long marked = driver.findElements(By.cssSelector("#all-chart circle.blocked-mark")).stream()
                .mapToLong(m -> Long.parseLong(m.getDomAttribute("data-rejected"))).sum();
        assertEquals(blocked, marked, "the chart marks every blocked request's day");

        // clicking a consumer shows that user; minji is on pace to run out before the month ends
        driver.findElements(By.cssSelector("#all-top-consumers tbody tr")).stream()
                .filter(r -> "minji".equals(r.getDomAttribute("data-user-id"))).findFirst().orElseThrow().click();
        waitUntilLoaded(2);
        assertEquals("minji", driver.findElement(By.id("panel-user")).getDomAttribute("data-user-id"));
        assertEquals(longAt(client.settledQuota("minji"), "used_tokens"), number("user-used"));
        Map<String, Object> minjiPace = TestJson.object(client.get("/api/v1/user-quota/forecast", "minji").body());
        String exhaustion = (String) minjiPace.get("projected_exhaustion");
        assertTrue(exhaustion != null, "minji runs out this month: " + minjiPace);
        assertEquals(exhaustion.substring(0, 10), text("user-exhaustion"));
        assertEquals(((Number) minjiPace.get("tokens_per_day")).doubleValue(), Double.parseDouble(value("user-rate")), 0.01);

        // the README screenshot shows the heavy user with a purchase
        driver.findElement(By.id("user-id")).clear();
        driver.findElement(By.id("user-id")).sendKeys("alice");
        driver.findElement(By.id("load")).click();
        waitUntilLoaded(3);
        screenshot();
    }

    @Test
    void aWrongTokenShowsAnErrorAndNoNumbers() {
        openFreshPage();
        driver.findElement(By.id("admin-token")).sendKeys("not-the-admin-token");
        driver.findElement(By.id("load")).click();
        new WebDriverWait(driver, Duration.ofSeconds(20)).until(
                d -> "error".equals(d.findElement(By.tagName("body")).getDomAttribute("data-state")));
        assertTrue(text("status").startsWith("Could not load"), text("status"));
        assertTrue(!driver.findElement(By.id("panel-all")).isDisplayed(), "nothing is shown without the admin token");
    }

    /** The page keeps the token for the browser session; each test starts without one. */
    private static void openFreshPage() {
        String url = app.baseUri().resolve(DemoApp.DASHBOARD_PATH).toString();
        driver.get(url);
        ((JavascriptExecutor) driver).executeScript("sessionStorage.clear()");
        driver.get(url);
        new WebDriverWait(driver, Duration.ofSeconds(20)).until(
                d -> "ready".equals(d.findElement(By.tagName("body")).getDomAttribute("data-state")));
    }

    private static void waitUntilLoaded(int loads) {
        new WebDriverWait(driver, Duration.ofSeconds(20)).until(d -> {
            WebElement body = d.findElement(By.tagName("body"));
            if ("error".equals(body.getDomAttribute("data-state"))) {
                throw new AssertionError("the page could not load: " + d.findElement(By.id("status")).getText());
            }
            return "loaded".equals(body.getDomAttribute("data-state"))
                    && String.valueOf(loads).equals(body.getDomAttribute("data-loads"));
        });
    }

    private static String value(String id) {
        return driver.findElement(By.id(id)).getDomAttribute("data-value");
    }

    private static long number(String id) {
        return Long.parseLong(value(id));
    }

    private static String text(String id) {
        return driver.findElement(By.id(id)).getText();
    }

    private static void screenshot() throws IOException {
        byte[] png = ((ChromeDriver) driver).getScreenshotAs(OutputType.BYTES);
        Path build = Paths.get(System.getProperty("tq.buildDirectory", "target"));
        Files.createDirectories(build);
        Files.write(build.resolve("dashboard.png"), png);
        String wanted = System.getProperty("tq.screenshot");
        if (wanted != null && !wanted.isBlank()) {
            Path out = Paths.get(wanted).toAbsolutePath();
            Files.createDirectories(out.getParent());
            Files.write(out, png);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }
}
