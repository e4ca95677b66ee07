package org.mlntf.decoder;

import java.util.Locale;

/**
 * The app's on-screen texts, built here so that every message the app can show (a denied
 * permission, no camera, a missing or unusable model, the GPU fallback) is tested on the JVM.
 */
public final class StatusText {
    private StatusText() {
    }

    public static String permissionDenied() {
        return "Camera permission denied: the app needs the camera to find people.\n"
                + "Allow it in Settings > Apps > MLN pose > Permissions, then reopen the app.";
    }

    public static String noCamera() {
        return "No camera found on this device: the app needs a back or front camera.";
    }

    public static String cameraFailed(String why) {
        return "Cannot start the camera: " + why;
    }

    public static String modelMissing(String asset) {
        return "No model in the APK: run `make android-model` (or copy a .tflite from `mln-pose export tflite`) to\n"
                + "android_demo/app/src/main/assets/" + asset + " and rebuild.";
    }

    public static String modelUnusable(String asset, String why) {
        return "Cannot use " + asset + ": " + why;
    }

    /** What runs the model when the GPU delegate could not: XNNPACK on {@code threads} CPU threads, and why. */
    public static String cpuBackend(int threads, String whyNotGpu) {
        return "CPU XNNPACK x" + threads + " (GPU delegate " + whyNotGpu + ")";
    }

    /** The running label: model, backend, frame rate, people and where the time goes. */
    public static String running(String asset, PoseModel model, double fps, int people, double modelMs,
                                 double decodeMs, double preprocessMs) {
        return String.format(Locale.ROOT, "%s %dx%d\n%s\n%.1f FPS  %d people\nmodel %.1f ms  decoder %.1f ms  pre %.1f ms",
                asset, model.inputHeight(), model.inputWidth(), model.backend(), fps, people, modelMs, decodeMs,
                preprocessMs);
    }
}
