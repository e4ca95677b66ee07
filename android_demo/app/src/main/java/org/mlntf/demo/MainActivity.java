package org.mlntf.demo;

import android.Manifest;
import android.content.pm.PackageManager;
import android.os.Bundle;
import android.os.SystemClock;
import android.util.Log;
import android.util.Size;
import android.widget.TextView;
import androidx.annotation.NonNull;
import androidx.appcompat.app.AppCompatActivity;
import androidx.camera.core.CameraSelector;
import androidx.camera.core.ImageAnalysis;
import androidx.camera.core.ImageProxy;
import androidx.camera.core.Preview;
import androidx.camera.core.resolutionselector.AspectRatioStrategy;
import androidx.camera.core.resolutionselector.ResolutionSelector;
import androidx.camera.core.resolutionselector.ResolutionStrategy;
import androidx.camera.lifecycle.ProcessCameraProvider;
import androidx.camera.view.PreviewView;
import androidx.core.app.ActivityCompat;
import androidx.core.content.ContextCompat;
import com.google.common.util.concurrent.ListenableFuture;
import java.io.FileNotFoundException;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.mlntf.decoder.RgbImage;

/**
 * CameraX preview -> LiteRT model -> plain-Java decoder -> skeleton overlay, with the backend
 * (GPU delegate or XNNPACK CPU), FPS and per-stage latency on screen. All pose logic lives in
 * org.mlntf.decoder (android_demo/decoder), tested against the Python reference.
 */
public final class MainActivity extends AppCompatActivity {
    static final String MODEL_ASSET = "mln.tflite";
    private static final String TAG = "MlnDemo";
    private static final int PERMISSION_REQUEST = 1;

    private final ExecutorService analysis = Executors.newSingleThreadExecutor();
    private PreviewView preview;
    private OverlayView overlay;
    private TextView stats;
    private PoseEstimator estimator; // used on the analysis thread only
    private String loadError;
    private byte[] rgba = new byte[0];
    private double fps;
    private double preMs;
    private double modelMs;
    private double decodeMs;
    private long lastFrame;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        preview = findViewById(R.id.preview);
        overlay = findViewById(R.id.overlay);
        stats = findViewById(R.id.stats);
        analysis.execute(this::loadModel);
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera();
        } else {
            ActivityCompat.requestPermissions(this, new String[] {Manifest.permission.CAMERA}, PERMISSION_REQUEST);
        }
    }

    @Override
    public void onRequestPermissionsResult(int requestCode, @NonNull String[] permissions, @NonNull int[] results) {
        super.onRequestPermissionsResult(requestCode, permissions, results);
        if (requestCode == PERMISSION_REQUEST && results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) {
            startCamera();
        } else {
            stats.setText(R.string.no_camera_permission);
        }
    }

    private void loadModel() {
        try {
            estimator = new PoseEstimator(this, MODEL_ASSET);
        } catch (FileNotFoundException e) {
            loadError = "No model: run `make android-model` (or copy a .tflite from `mln-pose export tflite`) to\n"
                    + "android_demo/app/src/main/assets/" + MODEL_ASSET + " and rebuild.";
        } catch (Exception e) {
            loadError = "Cannot use " + MODEL_ASSET + ":\n" + e.getMessage();
            Log.e(TAG, "model load failed", e);
        }
        final String text = loadError != null ? loadError
                : "Model " + MODEL_ASSET + " " + estimator.inputHeight + "x" + estimator.inputWidth + "\n"
                        + estimator.backend + "\nwaiting for frames…";
        runOnUiThread(() -> stats.setText(text));
    }

    private void startCamera() {
        ListenableFuture<ProcessCameraProvider> future = ProcessCameraProvider.getInstance(this);
        future.addListener(() -> {
            try {
                ProcessCameraProvider provider = future.get();
                ResolutionSelector selector = new ResolutionSelector.Builder()
                        .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
                        .setResolutionStrategy(new ResolutionStrategy(new Size(640, 480),
                                ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER))
                        .build();
                Preview previewCase = new Preview.Builder().setResolutionSelector(selector).build();
                previewCase.setSurfaceProvider(preview.getSurfaceProvider());
                ImageAnalysis analysisCase = new ImageAnalysis.Builder()
                        .setResolutionSelector(selector)
                        .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                        .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                        .setOutputImageRotationEnabled(true) // frames arrive upright
                        .build();
                analysisCase.setAnalyzer(analysis, this::analyze);
                provider.unbindAll();
                provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, previewCase, analysisCase);
            } catch (Exception e) {
                Log.e(TAG, "camera start failed", e);
                stats.setText("Cannot start the camera: " + e.getMessage());
            }
        }, ContextCompat.getMainExecutor(this));
    }

    private void analyze(ImageProxy image) {
        try {
            if (estimator == null) {
                return;
            }
            ImageProxy.PlaneProxy plane = image.getPlanes()[0];
            ByteBuffer buffer = plane.getBuffer();
            buffer.rewind();
            if (rgba.length != buffer.remaining()) {
                rgba = new byte[buffer.remaining()];
            }
            buffer.get(rgba);
            RgbImage frame = RgbImage.fromRgba(rgba, 0, image.getHeight(), image.getWidth(), plane.getRowStride(),
                    plane.getPixelStride()).rotate(image.getImageInfo().getRotationDegrees());
            // the camera's capture time (ns) is the tracker's clock: IDs and smoothing follow real time steps
            PoseEstimator.Result r = estimator.estimate(frame, image.getImageInfo().getTimestamp() / 1e6);
            overlay.show(r.poses, r.ids, r.frameWidth, r.frameHeight);
            updateStats(r);
        } catch (RuntimeException e) {
            Log.e(TAG, "frame failed", e);
            runOnUiThread(() -> stats.setText("Frame failed: " + e.getMessage()));
        } finally {
            image.close();
        }
    }

    private void updateStats(PoseEstimator.Result r) {
        long now = SystemClock.elapsedRealtime();
        if (lastFrame > 0) {
            double instant = 1000.0 / Math.max(1, now - lastFrame);
            fps = fps == 0 ? instant : 0.9 * fps + 0.1 * instant; // smoothed over ~10 frames
        }
        lastFrame = now;
        preMs = smooth(preMs, r.preprocessMs);
        modelMs = smooth(modelMs, r.modelMs);
        decodeMs = smooth(decodeMs, r.decodeMs);
        final String text = String.format(Locale.ROOT,
                "%s %dx%d\n%s\n%.1f FPS  %d people\nmodel %.1f ms  decoder %.1f ms  pre %.1f ms",
                MODEL_ASSET, estimator.inputHeight, estimator.inputWidth, estimator.backend, fps, r.poses.size(),
                modelMs, decodeMs, preMs);
        runOnUiThread(() -> stats.setText(text));
    }

    private static double smooth(double average, double value) {
        return average == 0 ? value : 0.9 * average + 0.1 * value;
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        analysis.execute(() -> {
            if (estimator != null) {
                estimator.close();
                estimator = null;
            }
        });
        analysis.shutdown();
    }
}
