package io.tokenquota.servlet;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Base64;
import java.nio.charset.StandardCharsets;

/**
 * What a media item sent inline (base64) costs a model, read from the item itself: an image by its
 * width and height (PNG, JPEG, GIF and WebP headers) at its provider's published rate, or at its
 * model's when the request names one that bills more ({@link ModelRates}), a PDF by its pages
 * ({@link #documentTokens}, also for a PDF sent as a file or as the body), audio and video by their
 * durations ({@link AudioDuration}, decoded as they are read, never held whole). Providers bill such
 * items by their own measures, not by the characters of their encoding; the filter holds at least
 * this, and a stream that reports no usage is charged it. Stateless.
 */
final class MediaSize {
    /** Which provider's rate applies, told by where the item sits in the request. */
    enum Rate {
        /** OpenAI's {@code image_url}, {@code input_image}: 85 plus 170 per 512-pixel tile of the image scaled to 2048 then 768. */
        OPENAI,
        /** Anthropic's {@code source}: width × height / 750, the image scaled to 1568 pixels on its long side. */
        ANTHROPIC,
        /**
         * Gemini's {@code inlineData}: 258 per 768-pixel tile, 258 for an image within 384 pixels (Gemini
         * 2.x; Gemini 3 bills by its media resolution, {@link ModelRates}).
         */
        GEMINI,
        /** Not known: the largest of the three (for audio and video, Gemini's). */
        ANY
    }

    /**
     * The OpenAI models whose images cost more than {@link Rate#OPENAI} (gpt-4o's 85 + 170 a tile) and
     * {@link #UNSEEN_IMAGE_TOKENS} hold, as OpenAI's vision guide ("Images and vision", "Calculating
     * costs") prices them. gpt-4o-mini bills tiles at a higher rate, so one image costs as much as on
     * gpt-4o. The patch-billed models cover the image with 32-pixel patches, at most 1,536 (a larger
     * image is scaled down to fit), and multiply them; {@code detail} does not lower their bill.
     * Every other model (gpt-4o, gpt-4.1, gpt-4.5: 85 + 170; gpt-5: 70 + 140; o1, o3: 75 + 150; and
     * models this table does not know) keeps the rates above, which are at least theirs. A model is
     * matched by its name's start ({@link #baseName}), after any {@code provider/} prefix a gateway
     * adds, in any case, a fine-tune by its base model ({@code gpt-4o-mini-2024-07-18},
     * {@code openai/o4-mini}, {@code ft:gpt-4o-mini-2024-07-18:acme::A1b2C3d4}).
     */
    enum OpenAiImages {
        /** gpt-4o-mini: 2,833 + 5,667 a 512-pixel tile; 2,833 with {@code "detail": "low"}. */
        GPT_4O_MINI(2_833, 5_667, 0, "gpt-4o-mini"),
        /** 1.62 a patch (gpt-5-mini is listed with the same multiplier). */
        GPT_4_1_MINI(0, 0, 162, "gpt-4.1-mini", "gpt-5-mini"),
        /** 2.46 a patch (gpt-5-nano is listed with the same multiplier). */
        GPT_4_1_NANO(0, 0, 246, "gpt-4.1-nano", "gpt-5-nano"),
        /** 1.72 a patch. */
        O4_MINI(0, 0, 172, "o4-mini");

        /** The most 32-pixel patches an image is billed for: a larger one is scaled down to fit. */
        private static final long MOST_PATCHES = 1_536;
        /** The most 512-pixel tiles an image fitted to 2048 and then 768 pixels covers: 2 × 4. */
        private static final long MOST_TILES = 8;

        private final long base;
        private final long tile;
        /** Hundredths of a token a patch; 0 for a tile-billed model. */
        private final long perPatch;
        private final java.util.List<String> names;

        OpenAiImages(long base, long tile, long perPatch, String... names) {
            this.base = base;
            this.tile = tile;
            this.perPatch = perPatch;
            this.names = java.util.List.of(names);
        }

        /** The families of the models a request names; empty when none is in the table (today's rates apply). */
        static java.util.Set<OpenAiImages> of(Iterable<String> models) {
            java.util.Set<OpenAiImages> families = java.util.EnumSet.noneOf(OpenAiImages.class);
            for (String model : models) {
                String name = baseName(model);
                for (OpenAiImages family : values()) {
                    for (String prefix : family.names) {
                        if (name.startsWith(prefix)) {
                            families.add(family);
                        }
                    }
                }
            }
            return families;
        }

        /**
         * The name a model's image rates are looked up by: case folded as the weights table folds
         * names ({@link RequestEstimator#fold}), after any {@code provider/} prefix, and for an OpenAI
         * fine-tune ({@code ft:<base>:<org>:<suffix>:<id>}) its base model, since a fine-tune bills
         * images as its base does. Only the image table reads names so: a weights table prices a
         * fine-tune by its own row ({@code ft:gpt-4o-mini*}), as OpenAI bills fine-tunes' tokens above
         * their base's.
         */
        static String baseName(String model) {
            String name = RequestEstimator.fold(model.trim());
            // found by its "ft:" rather than the last '/': a gateway's prefix comes before it, and the
            // fine-tune's own suffix is the customer's text
            int prefixed = name.indexOf("/ft:");
            int base = name.startsWith("ft:") ? 3 : prefixed >= 0 ? prefixed + 4 : -1;
            if (base >= 0) {
                int end = name.indexOf(':', base);
                return name.substring(base, end < 0 ? name.length() : end).trim();
            }
            return name.substring(name.lastIndexOf('/') + 1).trim();
        }

        /** One image of this size, as the model bills it. */
        long tokens(long width, long height) {
            if (perPatch == 0) {
                return base + tile * openAiTiles(width, height);
            }
            // the patches before scaling bound those after: exact up to the cap, the cap above it
            long patches = Math.min(MOST_PATCHES, ceilDiv(width, 32) * ceilDiv(height, 32));
            return ceilDiv(patches * perPatch, 100);
        }

        /** The most one image costs on this model: what an image the filter cannot see is held at. */
        long most() {
            return perPatch == 0 ? base + tile * MOST_TILES : ceilDiv(MOST_PATCHES * perPatch, 100);
        }

        /** One image with {@code "detail": "low"}: the base of a tile-billed model; a patch-billed one ignores it. */
        long lowDetail() {
            return perPatch == 0 ? base : most();
        }
    }

    /**
     * What the models a request names bill its inline media, where that is more than its part's rate:
     * the OpenAI models of {@link OpenAiImages}, and Gemini 3, which bills media by its
     * {@code media_resolution} instead of Gemini 2.x's 258-token tiles and pages
     * (ai.google.dev/gemini-api/docs/media-resolution, "Token counts"): by default an image at
     * {@code media_resolution_high}, 1,120 whatever its size, and a PDF page at
     * {@code media_resolution_medium}, 560; with {@code generationConfig.mediaResolution} set, both at
     * that level's figure (low 280, medium 560, high 1,120, ultra high 2,240). Round 364: ten 300x300
     * photos streamed without usage to {@code google/gemini-3-pro-preview} were charged 2,901 for
     * 11,520, and 18 photos (20,480) and a 40-page PDF (22,715) were served on a 20,000 allowance, held
     * 4,965 and 14,018. A model is a Gemini 3 one by its name's start, {@code gemini-3}, after any
     * {@code provider/} prefix ({@link OpenAiImages#baseName}). Only a request naming one is held so:
     * an item in a place no provider's rate is known for stays at the largest of the three size rules,
     * since 1,120 for every small image would hold four times what the other models bill it.
     *
     * @param openAi the OpenAI families the request names
     * @param image  the least one image costs: Gemini 3's figure, 0 when no Gemini 3 model is named
     * @param page   what one PDF page costs: Gemini 3's figure, else {@link #PDF_PAGE_TOKENS}
     */
    record ModelRates(java.util.Set<OpenAiImages> openAi, long image, long page) {
        /** A request naming no model whose media rates differ from the parts'. */
        static final ModelRates NONE = new ModelRates(java.util.Set.of(), 0, PDF_PAGE_TOKENS);
        /** Gemini 3's defaults: an image at {@code media_resolution_high}, a PDF page at {@code media_resolution_medium}. */
        private static final long GEMINI3_IMAGE = 1_120;
        private static final long GEMINI3_PAGE = 560;

        /**
         * The rates of the {@code models} a request names; when one is a Gemini 3 model, at the largest
         * of the {@code levels} its generation settings name ({@code MEDIA_RESOLUTION_LOW}, any case,
         * with or without the prefix), read only then; Gemini 3's defaults when they name none it knows.
         */
        static ModelRates of(java.util.List<String> models, java.util.function.Supplier<java.util.List<String>> levels) {
            java.util.Set<OpenAiImages> openAi = OpenAiImages.of(models);
            if (models.stream().noneMatch(model -> OpenAiImages.baseName(model).startsWith("gemini-3"))) {
                return openAi.isEmpty() ? NONE : new ModelRates(openAi, 0, PDF_PAGE_TOKENS);
            }
            long level = 0;
            for (String named : levels.get()) {
                String name = RequestEstimator.fold(named.trim());
                level = Math.max(level, switch (name.startsWith("media_resolution_") ? name.substring(17) : name) {
                    case "low" -> 280;
                    case "medium" -> 560;
                    case "high" -> 1_120;
                    case "ultra_high" -> 2_240;
                    default -> 0;
                });
            }
            return level == 0 ? new ModelRates(openAi, GEMINI3_IMAGE, GEMINI3_PAGE) : new ModelRates(openAi, level, level);
        }

        /** One image of this size at its part's {@code rate}, or at what a model named bills when that is more. */
        long imageTokens(long width, long height, Rate rate) {
            return Math.max(MediaSize.imageTokens(width, height, rate, openAi), image);
        }

        /** An image the filter cannot see, as {@link MediaSize#unseenImageTokens}, or a Gemini 3 image when that is more. */
        long unseenImageTokens(boolean lowDetail) {
            return Math.max(MediaSize.unseenImageTokens(lowDetail, openAi), image);
        }
    }

    /**
     * What an image the filter cannot see (given by URL or file id) costs: the largest single image
     * among the providers whose rules are documented, Anthropic's largest resized image (about 1,600
     * tokens), above OpenAI's 1,445 for a high-detail one on gpt-4o-class models. A request naming a
     * model that bills an image above it (gpt-4o-mini, the patch-billed models) is held at that
     * model's most instead ({@link OpenAiImages}).
     */
    static final long UNSEEN_IMAGE_TOKENS = 1_600;
    /** OpenAI's flat cost of an image sent with {@code "detail": "low"}, whatever its size. */
    static final long LOW_DETAIL_IMAGE_TOKENS = 85;
    /**
     * Tokens a second of audio sent inline costs: OpenAI bills audio input to its chat models
     * ({@code input_audio} of gpt-4o-audio-preview, gpt-4o-mini-audio) at one token per 100 ms of
     * audio. Anthropic reads no audio.
     */
    static final long AUDIO_TOKENS_PER_SECOND = 10;
    /**
     * Tokens a second of video and of audio cost on Gemini, the models that read a video's pictures
     * (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens": 263 a second of video, its sound
     * with it, and 32 a second of audio), billed as input. Gemini's are the highest rates published
     * for either, so they are also what media in a place no provider's rate is known for costs.
     */
    static final long VIDEO_TOKENS_PER_SECOND = 263;
    static final long GEMINI_AUDIO_TOKENS_PER_SECOND = 32;
    /** Tokens Gemini bills a sampled video frame at the default media resolution ({@link #sampledTokens}). */
    static final long GEMINI_FRAME_TOKENS = 258;
    /** The highest frame rate a Gemini part may ask to sample its video at. */
    static final double MOST_FPS = 24;
    /**
     * Tokens a PDF page costs at least (Gemini 2.x's rate; Gemini 3 bills more, held when the request
     * names it, {@link ModelRates}; others bill more, which usage then settles).
     */
    static final long PDF_PAGE_TOKENS = 258;
    /** The most of a payload decoded to tell what it is and read an image's header (a JPEG's is followed further). */
    private static final int IMAGE_HEAD = 1 << 16;

    private MediaSize() {
    }

    /**
     * The tokens of a base64 payload ({@code data:…;base64,} prefix allowed), or 0 when it is no
     * image, PDF or audio this class reads. Audio is told by its bytes (RIFF/WAVE, ID3, MP3 frames and
     * the other containers {@link AudioDuration#startsAsAudio} knows), not by a {@code format} field.
     */
    static long tokens(CharSequence base64, Rate rate) {
        return tokens(base64, rate, ModelRates.NONE);
    }

    /** {@link #tokens(CharSequence, Rate)}, an image and a PDF priced also at the rates of the models the request names. */
    static long tokens(CharSequence base64, Rate rate, ModelRates models) {
        return measured(base64, rate, models).tokens();
    }

    /**
     * What an inline payload costs ({@link #tokens}) and, when it is a recording, what it plays, so that a
     * part's own settings read after it (a Gemini part's {@code videoMetadata.fps}, {@link #sampledTokens})
     * can price it again without decoding it twice.
     *
     * @param played what the recording plays, {@code null} for anything else
     */
    record Measured(long tokens, AudioDuration.Played played) {
        private static final Measured NOTHING = new Measured(0, null);
    }

    /** {@link #tokens(CharSequence, Rate, ModelRates)} with what a recording plays. */
    static Measured measured(CharSequence base64, Rate rate, ModelRates models) {
        int start = 0;
        if (RequestEstimator.isDataUrl(base64)) {
            for (int i = 0; i < base64.length(); i++) {
                if (base64.charAt(i) == ',') {
                    start = i + 1;
                    break;
                }
            }
        }
        byte[] head = decode(base64, start, IMAGE_HEAD);
        if (head == null) {
            return Measured.NOTHING;
        }
        if (isPdf(head)) {
            return new Measured(documentTokens(decode(base64, start, Integer.MAX_VALUE), models), null);
        }
        // a JPEG's frame header, a GIF's first frame and a PNG's IHDR may lie past the head: followed in the payload
        long[] size = isJpeg(head) ? jpegSize(payload(base64, start))
                : isGif(head) ? gifSize(payload(base64, start))
                : isPng(head) ? pngSize(payload(base64, start)) : imageSize(head);
        if (size != null) {
            return new Measured(models.imageTokens(size[0], size[1], rate), null);
        }
        if (isImage(head) || (start > 0 && startsWith(base64, "data:image/"))) {
            // an image whose size cannot be read (a format or a header this class does not read) is an
            // image the filter cannot see: held at the most one image costs, as one by URL
            return new Measured(models.unseenImageTokens(false), null);
        }
        if (!AudioDuration.startsAsAudio(head)) {
            return Measured.NOTHING;
        }
        AudioDuration.Played played = played(base64, start);
        // OpenAI's chat models hear a recording and see no video; Gemini sees its pictures too. Anthropic
        // reads neither: a recording in a source object is another provider's (Bedrock Nova's video
        // source, round 291), priced as in a place no provider's rate is known for; so is a video in an
        // OpenAI-shaped part (Vertex AI's Chat Completions takes one in image_url, round 301)
        return new Measured(rate == Rate.OPENAI && played.video() == 0
                ? AudioDuration.perSecond(played.sound(), AUDIO_TOKENS_PER_SECOND)
                : playedTokens(played, GEMINI_AUDIO_TOKENS_PER_SECOND), played);
    }

    /**
     * What Gemini bills for a video its part asks to sample at {@code fps} frames a second
     * ({@code videoMetadata.fps}, in (0, 24]; ai.google.dev/gemini-api/docs/video-understanding, "Set a
     * custom frame rate"): each sampled frame at {@link #GEMINI_FRAME_TOKENS} (the default media
     * resolution), its sound at {@link #GEMINI_AUDIO_TOKENS_PER_SECOND}; never less than the one frame a
     * second {@link #playedTokens} holds, which a lower rate bills below. A rate above 24, which Gemini
     * refuses, is held at 24, the most a call it serves samples. Round 541: a 5-second clip at
     * {@code fps} 24 (120 frames, 30,960 tokens) was held 1,315 as one sampled once a second.
     * {@code startOffset} and {@code endOffset} only shorten what is sampled: the whole clip is held.
     */
    static long sampledTokens(AudioDuration.Played played, double fps) {
        long once = playedTokens(played, GEMINI_AUDIO_TOKENS_PER_SECOND);
        if (!(fps > 0)) {
            return once;
        }
        double frames = Math.ceil(played.video() / 1000.0 * Math.min(fps, MOST_FPS));
        long pictures = frames >= (double) (Long.MAX_VALUE / GEMINI_FRAME_TOKENS) ? Long.MAX_VALUE
                : (long) frames * GEMINI_FRAME_TOKENS;
        return Math.max(once, AudioDuration.saturatingAdd(pictures,
                AudioDuration.perSecond(played.sound(), GEMINI_AUDIO_TOKENS_PER_SECOND)));
    }

    /**
     * What a video model is billed for a recording: its pictures at {@link #VIDEO_TOKENS_PER_SECOND}
     * (the sound that plays beside them included) and any sound that plays longer at {@code soundRate}
     * tokens a second. A recording without pictures costs its sound.
     */
    static long playedTokens(AudioDuration.Played played, long soundRate) {
        long beyond = Math.max(0, played.sound() - played.video());
        return AudioDuration.saturatingAdd(AudioDuration.perSecond(played.video(), VIDEO_TOKENS_PER_SECOND),
                AudioDuration.perSecond(beyond, soundRate));
    }

    /** What base64 audio or video from {@code start} plays, read by {@link AudioDuration} as it decodes. */
    private static AudioDuration.Played played(CharSequence base64, int start) {
        try (InputStream in = payload(base64, start)) {
            return AudioDuration.played(in.readNBytes(AudioDuration.HEAD), in, null);
        } catch (IOException broken) {
            // padding before the end: what the decoded length plays at the lowest bitrate
            return new AudioDuration.Played(AudioDuration.atLowestBitrate((base64.length() - start) / 4L * 3), 0);
        }
    }

    /** The bytes of standard or URL-safe base64 from {@code start}, decoded as they are read, never held whole. */
    private static InputStream payload(CharSequence base64, int start) {
        InputStream chars = new InputStream() {
            private int at = start;

            @Override
            public int read() {
                if (at >= base64.length()) {
                    return -1;
                }
                char c = base64.charAt(at++);
                // URL-safe base64 read as the standard alphabet; the MIME decoder skips line breaks
                return c == '-' ? '+' : c == '_' ? '/' : c < 0x80 ? c : ' ';
            }
        };
        return Base64.getMimeDecoder().wrap(new BufferedInputStream(chars));
    }

    /** Decodes up to {@code most} bytes of standard or URL-safe base64 (white space skipped); null when not base64. */
    private static byte[] decode(CharSequence s, int start, int most) {
        StringBuilder clean = new StringBuilder();
        long wanted = most == Integer.MAX_VALUE ? Long.MAX_VALUE : (most / 3L + 1) * 4;
        for (int i = start; i < s.length() && clean.length() < wanted; i++) {
            char c = s.charAt(i);
            if (c == '=') {
                break;
            }
            if (!Character.isWhitespace(c)) {
                clean.append(c == '-' ? '+' : c == '_' ? '/' : c);
            }
        }
        clean.setLength(clean.length() - clean.length() % 4);
        try {
            return java.util.Base64.getDecoder().decode(clean.toString());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static long imageTokens(long width, long height, Rate rate) {
        return imageTokens(width, height, rate, java.util.Set.of());
    }

    /**
     * One image at its part's rate, or at the rate of a model the request names when that is more: a
     * gateway may send any part's shape to the model named, and the model bills its own rate.
     */
    static long imageTokens(long width, long height, Rate rate, java.util.Set<OpenAiImages> models) {
        if (width <= 0 || height <= 0) {
            return 0;
        }
        long tokens = switch (rate) {
            case OPENAI -> openAi(width, height);
            case ANTHROPIC -> anthropic(width, height);
            case GEMINI -> gemini(width, height);
            case ANY -> Math.max(openAi(width, height), Math.max(anthropic(width, height), gemini(width, height)));
        };
        for (OpenAiImages model : models) {
            tokens = Math.max(tokens, model.tokens(width, height));
        }
        return tokens;
    }

    /**
     * What an image the filter cannot see (by URL or file id) is held at: {@link #UNSEEN_IMAGE_TOKENS},
     * or {@link #LOW_DETAIL_IMAGE_TOKENS} when the request asks for OpenAI's low detail; more when a
     * model the request names bills more ({@link OpenAiImages#most}, {@link OpenAiImages#lowDetail}).
     */
    static long unseenImageTokens(boolean lowDetail, java.util.Set<OpenAiImages> models) {
        long tokens = lowDetail ? LOW_DETAIL_IMAGE_TOKENS : UNSEEN_IMAGE_TOKENS;
        for (OpenAiImages model : models) {
            tokens = Math.max(tokens, lowDetail ? model.lowDetail() : model.most());
        }
        return tokens;
    }

    private static long openAi(long w, long h) {
        return 85 + 170 * openAiTiles(w, h);
    }

    /** OpenAI's 512-pixel tiles of an image fitted within 2048 pixels, then to 768 on its short side. */
    private static long openAiTiles(long w, long h) {
        double scale = Math.min(1, 2048.0 / Math.max(w, h));
        double sw = w * scale;
        double sh = h * scale;
        double shortest = Math.min(sw, sh);
        if (shortest > 768) {
            sw = sw * 768 / shortest;
            sh = sh * 768 / shortest;
        }
        return (long) Math.ceil(sw / 512) * (long) Math.ceil(sh / 512);
    }

    private static long ceilDiv(long a, long b) {
        return Math.floorDiv(a + b - 1, b);
    }

    private static long anthropic(long w, long h) {
        double scale = Math.min(1, 1568.0 / Math.max(w, h));
        return (long) Math.ceil(w * scale * (h * scale) / 750);
    }

    private static long gemini(long w, long h) {
        if (w <= 384 && h <= 384) {
            return 258;
        }
        return 258 * (long) Math.ceil(w / 768.0) * (long) Math.ceil(h / 768.0);
    }

    /** {@code {width, height}} from an image's header, or {@code null}. */
    static long[] imageSize(byte[] b) {
        if (isPng(b)) {
            return pngSize(new java.io.ByteArrayInputStream(b));
        }
        if (isGif(b)) {
            return gifSize(new java.io.ByteArrayInputStream(b));
        }
        if (b.length >= 30 && startsWith(b, "RIFF") && startsWith(b, 8, "WEBP")) {
            if (startsWith(b, 12, "VP8X")) {
                return new long[] {1 + u24le(b, 24), 1 + u24le(b, 27)};
            }
            if (startsWith(b, 12, "VP8L") && b.length >= 25) {
                long bits = u32le(b, 21);
                return new long[] {1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)};
            }
            if (startsWith(b, 12, "VP8 ")) {
                return new long[] {u16le(b, 26) & 0x3FFF, u16le(b, 28) & 0x3FFF};
            }
            return null;
        }
        if (isJpeg(b)) {
            return jpegSize(new java.io.ByteArrayInputStream(b));
        }
        return null;
    }

    private static boolean isPng(byte[] b) {
        return b.length >= 4 && (b[0] & 0xFF) == 0x89 && startsWith(b, 1, "PNG");
    }

    /** The most PNG chunks walked to reach the image data; a real file has a handful before it. */
    private static final int PNG_CHUNKS = 1_024;

    /**
     * A PNG's {@code {width, height}} from its IHDR chunk, found as Pillow's {@code PngImageFile} finds
     * it: the chunks after the signature are walked by their lengths up to the image data (IDAT), and
     * IHDR is read wherever it stands among them (libpng wants it first and refuses the file otherwise;
     * a provider decoding with Pillow opens it, at the size its IHDR states, not at what the first
     * chunk's bytes say). A file that ends (or reaches IEND) before its image data is sized by the IHDR
     * it had, as a header alone always was. {@code null}, an image the filter cannot see, when no IHDR
     * comes before the image data, when it is shorter than its 13 bytes, when two come (Pillow takes
     * the last, another decoder the first), or when the image data does not come within
     * {@link #PNG_CHUNKS} (a second IHDR may lie past them).
     */
    private static long[] pngSize(InputStream in) {
        long[] size = null;
        try (in) {
            in.skipNBytes(8);
            byte[] header = new byte[8];
            for (int chunk = 0; chunk < PNG_CHUNKS; chunk++) {
                if (in.readNBytes(header, 0, 8) < 8 || startsWith(header, 4, "IDAT") || startsWith(header, 4, "IEND")) {
                    return size;
                }
                long length = u32(header, 0);
                if (startsWith(header, 4, "IHDR")) {
                    if (size != null || length < 13) {
                        return null;
                    }
                    byte[] ihdr = in.readNBytes(8);
                    if (ihdr.length < 8) {
                        return null;
                    }
                    size = new long[] {u32(ihdr, 0), u32(ihdr, 4)};
                    length -= 8;
                }
                // the chunk's data (what is left of it) and its CRC
                in.skipNBytes(length + 4);
            }
        } catch (IOException | RuntimeException broken) {
            // ended within a chunk: what its IHDR said, if it came
            return size;
        }
        return null;
    }

    private static boolean isGif(byte[] b) {
        return b.length >= 10 && (startsWith(b, "GIF87a") || startsWith(b, "GIF89a"));
    }

    /** The most GIF blocks, sub-blocks (of up to 255 bytes each) and stray bytes passed over to reach the first frame. */
    private static final int GIF_STEPS = 1 << 16;

    /**
     * A GIF's {@code {width, height}} as a decoder opens it: its logical screen, grown to the extent
     * (left + width, top + height) of its first frame's image descriptor, as Pillow does (a 1x1 screen
     * whose frame sits at (767, 2047) opens as 768x2048) and browsers do. Only the first frame: a
     * provider reads a still GIF, and a larger size is not always dearer (2048x2048 fits to fewer
     * tiles than 768x2048), so later frames would not bound it. {@code null} when no frame comes (no
     * decoder opens it).
     */
    private static long[] gifSize(InputStream in) {
        try (in) {
            byte[] screen = in.readNBytes(13);
            if (screen.length < 13) {
                return null;
            }
            long width = u16le(screen, 6);
            long height = u16le(screen, 8);
            if ((screen[10] & 0x80) != 0) {
                // the global colour table
                in.skipNBytes(3L << ((screen[10] & 7) + 1));
            }
            // extensions before the first frame, and any other byte, which Pillow passes over one at a time
            for (int steps = 0; steps < GIF_STEPS; steps++) {
                int block = in.read();
                if (block == 0x2C) {
                    byte[] frame = in.readNBytes(8);
                    return frame.length < 8 ? null : new long[] {Math.max(width, u16le(frame, 0) + u16le(frame, 4)),
                        Math.max(height, u16le(frame, 2) + u16le(frame, 6))};
                }
                if (block < 0 || block == 0x3B) {
                    // the trailer before any frame
                    return null;
                }
                if (block == 0x21) {
                    // an extension: its label, then sub-blocks up to an empty one
                    in.skipNBytes(1);
                    for (int length = in.read(); length != 0 && steps < GIF_STEPS; length = in.read(), steps++) {
                        if (length < 0) {
                            return null;
                        }
                        in.skipNBytes(length);
                    }
                }
            }
        } catch (IOException | RuntimeException broken) {
            // ended or broken before its first frame
        }
        return null;
    }

    private static boolean isJpeg(byte[] b) {
        return b.length >= 3 && (b[0] & 0xFF) == 0xFF && (b[1] & 0xFF) == 0xD8 && (b[2] & 0xFF) == 0xFF;
    }

    /** Whether the bytes start as one of the image formats {@link #imageSize} reads. */
    static boolean isImage(byte[] b) {
        return isJpeg(b) || isPng(b)
                || startsWith(b, "GIF8") || (b.length >= 12 && startsWith(b, "RIFF") && startsWith(b, 8, "WEBP"));
    }

    /** The most JPEG segments passed over to reach the frame header; any real file has a few dozen. */
    private static final int JPEG_SEGMENTS = 1_024;

    /**
     * A JPEG's {@code {width, height}} from its frame header, found by walking its markers from the
     * start as libjpeg ({@code jdmarker.c}) and Pillow do: fill bytes ({@code FF FF …}) before a marker
     * and a stuffed {@code FF 00} are passed over; RST0-7, TEM and SOI stand alone, with no length;
     * every other marker's segment is skipped by its length. Metadata (EXIF, XMP, ICC profiles) may
     * fill far more than the first 64 KB, and is skipped, not kept. The frame header is the first SOF,
     * the walk goes on to the scan (SOS): a second SOF (libjpeg refuses the file, Pillow takes the
     * last) or bytes that are no marker where one must start leave the size unknown. {@code null}
     * when the size is unknown or no frame header comes within {@link #JPEG_SEGMENTS}.
     */
    private static long[] jpegSize(InputStream in) {
        long[] frame = null;
        try (in) {
            in.skipNBytes(2);
            for (int segment = 0; segment < JPEG_SEGMENTS; segment++) {
                int b = in.read();
                if (b < 0) {
                    // ended: what the frame header said, if it came
                    return frame;
                }
                if (b != 0xFF) {
                    // a decoder skips such bytes looking for a marker; what it finds there is not followed
                    return null;
                }
                int marker = in.read();
                while (marker == 0xFF) {
                    // fill bytes before a marker
                    marker = in.read();
                }
                if (marker < 0) {
                    return frame;
                }
                if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
                    // a stuffed zero (no marker), TEM, SOI, RSTn: no length follows
                    continue;
                }
                if (marker == 0xDA || marker == 0xD9) {
                    // the scan (or the end) starts: the frame header, if any, is behind
                    return frame;
                }
                byte[] length = in.readNBytes(2);
                if (length.length < 2) {
                    return frame;
                }
                long size = u16(length, 0);
                if (size < 2) {
                    return null;
                }
                if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
                    if (frame != null || size < 7) {
                        return null;
                    }
                    byte[] header = in.readNBytes(5);
                    if (header.length < 5) {
                        return null;
                    }
                    frame = new long[] {u16(header, 3), u16(header, 1)};
                    size -= 5;
                }
                in.skipNBytes(size - 2);
            }
        } catch (IOException | RuntimeException broken) {
            // broken within a segment: what the frame header said, if it came
            return frame;
        }
        return null;
    }

    /**
     * What a document the model reads by its own measure costs, told by its bytes (their magic, not a
     * label): a PDF ({@code %PDF-}) by its pages at the page rate of the models named; 0 for anything
     * else or {@code null}. The one rule for a document wherever a request carries it: inline as base64
     * or a data URL ({@link #tokens}), as a multipart file ({@link MultipartBody}) or as the whole body
     * ({@code QuotaFilter}). Round 491: a 40-page PDF uploaded as a file or sent as the body was held
     * at the fallback, 1,000 tokens, where the same PDF inline was held 10,320; a PDF writer deflates
     * its content streams, so its text was never there to count.
     */
    static long documentTokens(byte[] bytes, ModelRates models) {
        return bytes != null && isPdf(bytes) ? pdfPages(bytes) * models.page() : 0;
    }

    /**
     * Whether {@code bytes} are a PDF: its {@code %PDF-} header within the first
     * {@link PdfPages#HEADER_WITHIN} bytes, as readers accept it (round 495: a PDF after a blank line was
     * held as text, 1,000, for 40 pages).
     */
    static boolean isPdf(byte[] bytes) {
        int limit = Math.min(bytes.length, PdfPages.HEADER_WITHIN);
        for (int i = 0; i + 5 <= limit; i++) {
            if (bytes[i] == '%' && startsWith(bytes, i, "%PDF-")) {
                return true;
            }
        }
        return false;
    }

    /** {@link #documentTokens(byte[], ModelRates)} where no model that bills pages differently is named. */
    static long documentTokens(byte[] bytes) {
        return documentTokens(bytes, ModelRates.NONE);
    }

    /**
     * A PDF's pages: its page objects and the leaves of its page tree, in the file and in its compressed
     * object streams, read as a PDF reader's lexer reads them ({@link PdfPages}); at least 1.
     */
    static long pdfPages(byte[] pdf) {
        return Math.max(1, PdfPages.pageObjects(pdf));
    }

    /** Whether {@code text} starts with {@code prefix}, in any case (a data URL's media type is case-insensitive). */
    private static boolean startsWith(CharSequence text, String prefix) {
        return text.length() >= prefix.length() && text.subSequence(0, prefix.length()).toString().equalsIgnoreCase(prefix);
    }

    static boolean startsWith(byte[] b, String prefix) {
        return startsWith(b, 0, prefix);
    }

    private static boolean startsWith(byte[] b, int at, String s) {
        if (b.length < at + s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != (byte) s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static long u32(byte[] b, int i) {
        return ((long) (b[i] & 0xFF) << 24) | ((b[i + 1] & 0xFF) << 16) | ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
    }

    private static long u16(byte[] b, int i) {
        return ((b[i] & 0xFF) << 8) | (b[i + 1] & 0xFF);
    }

    private static long u16le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8);
    }

    private static long u24le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8) | ((long) (b[i + 2] & 0xFF) << 16);
    }

    private static long u32le(byte[] b, int i) {
        return u24le(b, i) | ((long) (b[i + 3] & 0xFF) << 24);
    }
}
