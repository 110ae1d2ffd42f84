package io.tokenquota.servlet.breakit219;


import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.RawTextRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 219 of issue 11: the raw-text rule of round 215 ({@code RawText}: runs of base64's characters judged by
 * stretches of 256; a stretch that mixes characters as a file's base64 and decodes to no UTF-8 text is passed over).
 *
 * <p>(a) Under-charge: text a model writes in base64 that is text in UTF-16 (PowerShell's {@code -EncodedCommand}),
 * and a long random alphanumeric string (no {@code + / - _} at all, so no base64 of a file). (b) Over-charge: an image
 * (a binary file, documented as passed over) whose PNG carries text chunks, as every ComfyUI image does.
 */
abstract class AbstractRound219 extends RawTextRound {
    // ---------------------------------------------------------------- (a) the model's own text

    /** An Intune / RMM remediation script a model is asked to write, of about 9 KB. */
    static final String SCRIPT;
    /**
     * "Give it to me as a one-liner I can paste into our RMM tool": {@code powershell -EncodedCommand}, whose argument
     * is the script's base64 in UTF-16LE (PowerShell reads no other), as every model writes it.
     */
    static final String ENCODED_COMMAND;
    /** "A random alphanumeric string of 6,000 characters to test our field's length limit." */
    static final String ALNUM;

    static {
        StringBuilder s = new StringBuilder("<#\r\n.SYNOPSIS\r\n    Cleans up stale profiles and temp files, repairs Windows Update"
                + " and reports the device's state.\r\n#>\r\nparam(\r\n    [int]$RetentionDays = 30,\r\n"
                + "    [string]$ReportShare = \"\\\\fs01\\it$\\reports\"\r\n)\r\n$ErrorActionPreference = 'Stop'\r\n");
        String[] steps = {"Temp", "Prefetch", "SoftwareDistribution", "CCMCache", "WER", "Teams", "OneDriveLogs", "Edge"};
        String[] paths = {"C:\\Users\\*\\AppData\\Local\\Temp", "C:\\Windows\\Prefetch", "C:\\Windows\\SoftwareDistribution\\Download",
            "C:\\Windows\\ccmcache", "C:\\ProgramData\\Microsoft\\Windows\\WER\\ReportArchive",
            "C:\\Users\\*\\AppData\\Roaming\\Microsoft\\Teams\\Cache", "C:\\Users\\*\\AppData\\Local\\Microsoft\\OneDrive\\logs",
            "C:\\Users\\*\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default\\Cache"};
        for (int i = 0; i < steps.length; i++) {
            s.append("function Clear-").append(steps[i]).append("Files {\r\n")
                    .append("    param([datetime]$Cutoff)\r\n")
                    .append("    $path = '").append(paths[i]).append("'\r\n")
                    .append("    Write-Verbose \"Cleaning $path (older than $Cutoff)\"\r\n")
                    .append("    $files = Get-ChildItem -Path $path -Recurse -Force -File -ErrorAction SilentlyContinue |\r\n")
                    .append("        Where-Object { $_.LastWriteTime -lt $Cutoff }\r\n")
                    .append("    $bytes = ($files | Measure-Object -Property Length -Sum).Sum\r\n")
                    .append("    $files | Remove-Item -Force -ErrorAction SilentlyContinue\r\n")
                    .append("    [pscustomobject]@{ Step = '").append(steps[i])
                    .append("'; Files = $files.Count; FreedMB = [math]::Round($bytes / 1MB, 1) }\r\n}\r\n\r\n");
        }
        s.append("$cutoff = (Get-Date).AddDays(-$RetentionDays)\r\n$results = @()\r\n");
        for (String step : steps) {
            s.append("try { $results += Clear-").append(step).append("Files -Cutoff $cutoff }\r\n")
                    .append("catch { Write-Warning \"").append(step).append(" cleanup failed: $($_.Exception.Message)\" }\r\n");
        }
        s.append("foreach ($name in 'wuauserv', 'bits', 'cryptsvc', 'msiserver') {\r\n"
                + "    $svc = Get-Service -Name $name -ErrorAction SilentlyContinue\r\n"
                + "    if ($svc -and $svc.Status -ne 'Running') {\r\n"
                + "        Set-Service -Name $name -StartupType Manual\r\n"
                + "        Start-Service -Name $name\r\n"
                + "        Write-Output \"Started $name\"\r\n    }\r\n}\r\n"
                + "$profiles = Get-CimInstance -ClassName Win32_UserProfile | Where-Object {\r\n"
                + "    -not $_.Special -and -not $_.Loaded -and $_.LastUseTime -lt $cutoff }\r\n"
                + "foreach ($p in $profiles) {\r\n"
                + "    Write-Output \"Removing profile $($p.LocalPath) (last used $($p.LastUseTime))\"\r\n"
                + "    $p | Remove-CimInstance -ErrorAction SilentlyContinue\r\n}\r\n"
                + "$disk = Get-CimInstance -ClassName Win32_LogicalDisk -Filter \"DeviceID='C:'\"\r\n"
                + "$report = [pscustomobject]@{\r\n"
                + "    Computer = $env:COMPUTERNAME\r\n"
                + "    Date = (Get-Date -Format o)\r\n"
                + "    FreeGB = [math]::Round($disk.FreeSpace / 1GB, 2)\r\n"
                + "    Steps = $results\r\n"
                + "    ProfilesRemoved = @($profiles).Count\r\n}\r\n"
                + "$report | ConvertTo-Json -Depth 4 | Out-File -FilePath (Join-Path $ReportShare \"$env:COMPUTERNAME.json\") -Encoding utf8\r\n"
                + "if ($report.FreeGB -lt 10) { exit 1 } else { exit 0 }\r\n");
        SCRIPT = s.toString();
        ENCODED_COMMAND = "Here is the script as a one-liner for your RMM tool:\n\n"
                + "powershell.exe -NoProfile -ExecutionPolicy Bypass -EncodedCommand "
                + Base64.getEncoder().encodeToString(SCRIPT.getBytes(StandardCharsets.UTF_16LE)) + "\n";
        Random r = new Random(219);
        String alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder a = new StringBuilder();
        for (int i = 0; i < 6_000; i++) {
            a.append(alnum.charAt(r.nextInt(alnum.length())));
        }
        ALNUM = a.toString();
    }

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/encodedcommand" -> ENCODED_COMMAND;
            case "/alnum" -> ALNUM;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    // ---------------------------------------------------------------- (b) a file in an honest answer

    static final int WORDS = 60;

    /**
     * A 512x512 image as ComfyUI's {@code SaveImage} writes it: a PNG whose {@code tEXt} chunks carry the prompt and
     * the workflow as JSON (PIL's {@code PngInfo}, {@code json.dumps}), which every ComfyUI image does unless the
     * server runs with {@code --disable-metadata}. The workflow of an SDXL graph with LoRAs, ControlNet and an
     * upscaler is tens of KB.
     */
    static final byte[] PNG;

    static {
        try {
            PNG = comfyPng(new Random(2190), 512, 512);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeInt(data.length);
        out.write(t);
        out.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeInt((int) crc.getValue());
    }

    private static String workflow(Random r) {
        String[][] nodes = {{"CheckpointLoaderSimple", "\"sd_xl_base_1.0.safetensors\""},
            {"CLIPTextEncode", "\"cinematic photo of a lighthouse on a rocky coast at dusk, volumetric light, 35mm, highly detailed\""},
            {"CLIPTextEncode", "\"blurry, lowres, watermark, text, deformed\""}, {"EmptyLatentImage", "1024, 1024, 1"},
            {"KSampler", "156680208700286, \"randomize\", 30, 7.5, \"dpmpp_2m\", \"karras\", 1"}, {"VAEDecode", ""},
            {"SaveImage", "\"ComfyUI\""}, {"LoraLoader", "\"add-detail-xl.safetensors\", 0.8, 0.8"},
            {"UpscaleModelLoader", "\"4x-UltraSharp.pth\""}, {"ImageUpscaleWithModel", ""},
            {"ControlNetLoader", "\"controlnet-canny-sdxl-1.0.safetensors\""}, {"ControlNetApplyAdvanced", "0.65, 0, 0.8"},
            {"LoadImage", "\"reference.png\", \"image\""}, {"Canny", "0.4, 0.8"},
            {"KSamplerAdvanced", "\"enable\", 912334, \"fixed\", 25, 6, \"euler_ancestral\", \"normal\", 20, 10000, \"disable\""},
            {"PreviewImage", ""}};
        String[] kinds = {"MODEL", "CLIP", "CONDITIONING", "LATENT", "IMAGE", "VAE"};
        StringBuilder w = new StringBuilder("{\"last_node_id\": 48, \"last_link_id\": 97, \"nodes\": [");
        int link = 1;
        for (int i = 0; i < 48; i++) {
            String[] n = nodes[r.nextInt(nodes.length)];
            String kind = kinds[r.nextInt(kinds.length)];
            w.append(i > 0 ? ", " : "").append("{\"id\": ").append(i + 1).append(", \"type\": \"").append(n[0])
                    .append("\", \"pos\": [").append(r.nextInt(2400) - 200).append(", ").append(r.nextInt(1400) - 100)
                    .append("], \"size\": {\"0\": ").append(300 + r.nextDouble() * 200).append(", \"1\": ")
                    .append(80 + r.nextDouble() * 300).append("}, \"flags\": {}, \"order\": ").append(i)
                    .append(", \"mode\": 0, \"inputs\": [{\"name\": \"").append(kind.toLowerCase(Locale.ROOT))
                    .append("\", \"type\": \"").append(kind).append("\", \"link\": ").append(link++)
                    .append("}], \"outputs\": [{\"name\": \"").append(kind).append("\", \"type\": \"").append(kind)
                    .append("\", \"links\": [").append(link).append(", ").append(link + 1)
                    .append("], \"shape\": 3, \"slot_index\": 0}], \"properties\": {\"Node name for S&R\": \"").append(n[0])
                    .append("\"}, \"widgets_values\": [").append(n[1]).append("]}");
        }
        w.append("], \"links\": [");
        for (int i = 1; i <= 97; i++) {
            w.append(i > 1 ? ", " : "").append('[').append(i).append(", ").append(1 + r.nextInt(48)).append(", 0, ")
                    .append(1 + r.nextInt(48)).append(", ").append(r.nextInt(3)).append(", \"")
                    .append(kinds[r.nextInt(kinds.length)]).append("\"]");
        }
        return w.append("], \"groups\": [], \"config\": {}, \"extra\": {\"ds\": {\"scale\": 0.8264462809917354,"
                + " \"offset\": [412.4, -96.3]}}, \"version\": 0.4}").toString();
    }

    private static byte[] comfyPng(Random r, int width, int height) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream h = new DataOutputStream(ihdr);
        h.writeInt(width);
        h.writeInt(height);
        h.write(new byte[] {8, 2, 0, 0, 0});
        chunk(out, "IHDR", ihdr.toByteArray());
        String prompt = "{\"3\": {\"inputs\": {\"seed\": 156680208700286, \"steps\": 30, \"cfg\": 7.5, \"sampler_name\": \"dpmpp_2m\","
                + " \"scheduler\": \"karras\", \"denoise\": 1, \"model\": [\"4\", 0], \"positive\": [\"6\", 0], \"negative\": [\"7\", 0],"
                + " \"latent_image\": [\"5\", 0]}, \"class_type\": \"KSampler\", \"_meta\": {\"title\": \"KSampler\"}}}";
        chunk(out, "tEXt", ("prompt\0" + prompt).getBytes(StandardCharsets.ISO_8859_1));
        chunk(out, "tEXt", ("workflow\0" + workflow(r)).getBytes(StandardCharsets.ISO_8859_1));
        // the pixels: a gradient with the noise of a photo, deflated as PNG's IDAT
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (int y = 0; y < height; y++) {
            raw.write(0);
            for (int x = 0; x < width; x++) {
                raw.write((x + y + r.nextInt(40)) & 255);
                raw.write((x * 2 + r.nextInt(40)) & 255);
                raw.write((y * 3 + r.nextInt(40)) & 255);
            }
        }
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        try (DeflaterOutputStream z = new DeflaterOutputStream(idat)) {
            z.write(raw.toByteArray());
        }
        chunk(out, "IDAT", idat.toByteArray());
        chunk(out, "IEND", new byte[0]);
        return bytes.toByteArray();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("image", new Image(), "/ai/image/*");
    }

    /**
     * An assistant that has its image model (a ComfyUI server) draw what was asked and answers a short caption the
     * chat model wrote and the image as a {@code data:} URL in markdown, as a String ({@code text/plain}).
     */
    class Image extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String ask = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            ModelTokens.modelTokens(req, TOKENS.estimate(ask) + WORDS);
            resp.setContentType("text/plain;charset=UTF-8");
            ModelTokens.write(resp, "Here is your lighthouse at dusk, with the coast lit from the left. "
                    .repeat(WORDS / 12) + "\n\n![lighthouse](data:image/png;base64," + Base64.getEncoder().encodeToString(PNG) + ")\n");
        }
    }

    // ---------------------------------------------------------------- (a)

    @Test
    void aPowerShellEncodedCommandIsChargedItsText() {
        assertChargedTheText("/ai/text/encodedcommand", "Write a PowerShell script that cleans up temp files and stale"
                + " profiles, repairs Windows Update and reports free space; give it to me as a one-line -EncodedCommand.");
    }

    @Test
    void aLongRandomAlphanumericStringIsChargedItsText() {
        assertChargedTheText("/ai/text/alnum",
                "Generate a random alphanumeric string of 6000 characters to test our form's length limit. Only the string.");
    }

    @Test
    void aStreamedPowerShellEncodedCommandIsChargedItsText() {
        assertChargedTheText("/ai/events/encodedcommand", "Write a PowerShell script that cleans up temp files and stale"
                + " profiles, repairs Windows Update and reports free space; give it to me as a one-line -EncodedCommand.");
    }

    // ---------------------------------------------------------------- (b)

    @Test
    void aComfyUiImageAsADataUrlIsNotChargedItsMetadataAsText() {
        assertNotChargedTheFile("/ai/image/lighthouse", "Draw a lighthouse on a rocky coast at dusk.",
                "a " + PNG.length + "-byte PNG made by ComfyUI (its workflow in a tEXt chunk) as a data: URL");
    }
}
