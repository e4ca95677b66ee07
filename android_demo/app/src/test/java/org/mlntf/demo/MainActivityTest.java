package org.mlntf.demo;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.Manifest;
import android.app.Application;
import android.content.pm.PackageManager;
import android.graphics.Bitmap;
import android.graphics.Canvas;
import android.os.Looper;
import android.widget.TextView;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.mlntf.decoder.GoldenFrames;
import org.mlntf.decoder.Overlay;
import org.mlntf.decoder.PoseModel;
import org.mlntf.decoder.StatusText;
import org.robolectric.Robolectric;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.android.controller.ActivityController;
import org.robolectric.annotation.GraphicsMode;
import org.robolectric.shadows.ShadowActivity;

/**
 * The app's Activity on Robolectric (the real framework of targetSdk on the JVM, with the APK's
 * own resources and manifest): it starts, asks for the camera, says clearly when the permission
 * is denied or the model cannot be used, and a camera frame whose network maps are replayed from
 * Python's LiteRT draws the people Python found, in their track colours, on a real canvas.
 */
@RunWith(RobolectricTestRunner.class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
public class MainActivityTest {
    /** The app with its network swapped: the replayed maps, or a model that fails to open. */
    public static final class ReplayActivity extends MainActivity {
        static PoseModel model;
        static IOException failure;

        @Override
        protected PoseModel openModel() throws IOException {
            if (failure != null) {
                throw failure;
            }
            return model;
        }
    }

    private static String label(MainActivity activity) {
        return ((TextView) activity.findViewById(R.id.stats)).getText().toString();
    }

    /** Runs what the activity posted to its background thread, then what that posted to the UI thread. */
    private static void settle(MainActivity activity) {
        shadowOf(activity.handler.getLooper()).idle();
        shadowOf(Looper.getMainLooper()).idle();
    }

    private static void grantCamera() {
        Application app = RuntimeEnvironment.getApplication();
        shadowOf(app).grantPermissions(Manifest.permission.CAMERA);
    }

    @Test
    public void startsAsksForTheCameraAndSaysWhenItIsDenied() {
        ActivityController<MainActivity> controller = Robolectric.buildActivity(MainActivity.class).setup();
        MainActivity activity = controller.get();
        ShadowActivity.PermissionsRequest request = shadowOf(activity).getLastRequestedPermission();
        assertNotNull("the app asks for the camera", request);
        assertEquals(Arrays.asList(Manifest.permission.CAMERA), Arrays.asList(request.requestedPermissions));
        activity.onRequestPermissionsResult(request.requestCode, request.requestedPermissions,
                new int[] {PackageManager.PERMISSION_DENIED});
        shadowOf(Looper.getMainLooper()).idle();
        assertTrue(label(activity), label(activity).endsWith("\n" + StatusText.permissionDenied()));
        settle(activity);
        // the JVM has no TFLite native library: the app's own message for a phone without one for its CPU
        String text = label(activity);
        assertTrue(text, text.startsWith("Cannot use " + MainActivity.MODEL_ASSET + ": "));
        assertTrue("the denied permission is still said: " + text, text.endsWith(StatusText.permissionDenied()));
        controller.pause().stop().destroy();
    }

    @Test
    public void aMissingModelIsNamedWithTheCommandThatMakesIt() {
        grantCamera();
        ReplayActivity.failure = new FileNotFoundException(MainActivity.MODEL_ASSET);
        try {
            ActivityController<ReplayActivity> controller = Robolectric.buildActivity(ReplayActivity.class).setup();
            settle(controller.get());
            assertEquals(StatusText.modelMissing(MainActivity.MODEL_ASSET), label(controller.get()));
            assertTrue(label(controller.get()).contains("make android-model"));
            controller.pause().stop().destroy();
        } finally {
            ReplayActivity.failure = null;
        }
    }

    @Test
    public void replayedCameraFramesDrawThePeoplePythonFoundInTheirTrackColours() throws IOException {
        grantCamera();
        int[] hw = GoldenFrames.inputHw();
        GoldenFrames.ReplayModel model = new GoldenFrames.ReplayModel(hw[0], hw[1]);
        ReplayActivity.model = model;
        ActivityController<ReplayActivity> controller = Robolectric.buildActivity(ReplayActivity.class).setup();
        ReplayActivity activity = controller.get();
        assertEquals("no permission request when it is granted", null, shadowOf(activity).getLastRequestedPermission());
        settle(activity);
        assertEquals(MainActivity.MODEL_ASSET + " " + hw[0] + "x" + hw[1] + "\n" + model.backend()
                + "\nwaiting for frames…", label(activity));
        OverlayView view = (OverlayView) activity.findViewById(R.id.overlay);
        assertTrue("the overlay has a size", view.getWidth() > 0 && view.getHeight() > 0);
        int frames = 0, points = 0, covered = 0;
        for (String name : GoldenFrames.sequenceNames()) {
            List<GoldenFrames.Frame> sequence = GoldenFrames.frames(name);
            for (GoldenFrames.Frame frame : sequence) {
                frame.replayOn(model);
                activity.onFrame(frame.upright, frame.timeMs); // as the camera thread delivers it
                shadowOf(Looper.getMainLooper()).idle();
                String text = label(activity);
                assertTrue(frame.key + ": " + text, text.contains(frame.people + " people"));
                Overlay drawn = view.current();
                assertNotNull(frame.key + ": nothing drawn", drawn);
                // the same people and track IDs as Python: one point per keypoint, in its track's colour
                assertArrayEquals(frame.key + ": drawn points' colours", frame.dotColours(), drawn.dotColours);
                Bitmap bitmap = Bitmap.createBitmap(view.getWidth(), view.getHeight(), Bitmap.Config.ARGB_8888);
                view.draw(new Canvas(bitmap));
                for (int i = 0; i < drawn.dotColours.length; i++) {
                    int x = Math.round(drawn.dots[2 * i]), y = Math.round(drawn.dots[2 * i + 1]);
                    if (x < 0 || y < 0 || x >= bitmap.getWidth() || y >= bitmap.getHeight()) {
                        continue; // off screen: the preview fills the view and crops the frame
                    }
                    if (coveredByALaterDot(drawn, i, x, y)) {
                        covered++; // dots are drawn in order, after every line: a later one may cover it
                        continue;
                    }
                    int want = drawn.dotColours[i], have = bitmap.getPixel(x, y);
                    for (int shift = 0; shift < 32; shift += 8) { // Skia's blending rounds by a level or two
                        int d = Math.abs(((want >>> shift) & 0xff) - ((have >>> shift) & 0xff));
                        assertTrue(frame.key + ": pixel of point " + i + " at " + x + "," + y + " is "
                                + Integer.toHexString(have) + ", not " + Integer.toHexString(want), d <= 2);
                    }
                    points++;
                }
                frames++;
            }
            // a new sequence is another camera: the next one starts its tracks afresh in a new activity
            break;
        }
        assertTrue("frames replayed", frames >= 2);
        assertTrue("points checked on the canvas (a frame with nobody proves nothing): " + points, points >= 20);
        assertTrue("most points are not covered by another person's: " + covered + " of " + (points + covered),
                covered * 10 <= points + covered);
        controller.pause().stop().destroy();
        for (int waited = 0; !model.closed && waited < 100; waited++) {
            shadowOf(Looper.getMainLooper()).idleFor(java.time.Duration.ofMillis(50));
            try {
                Thread.sleep(50); // the background thread closes the model as it quits
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        assertTrue("the model is closed with the activity", model.closed);
        System.out.println("robolectric: " + frames + " replayed frames, " + points + " drawn points on the canvas "
                + "in their track colours (" + covered + " covered by another person's point), " + view.getWidth()
                + "x" + view.getHeight() + " view");
    }

    /** Whether a dot drawn after dot {@code i}, in another colour, covers pixel (x, y). */
    private static boolean coveredByALaterDot(Overlay drawn, int i, int x, int y) {
        for (int j = i + 1; j < drawn.dotColours.length; j++) {
            float dx = drawn.dots[2 * j] - x, dy = drawn.dots[2 * j + 1] - y;
            if (drawn.dotColours[j] != drawn.dotColours[i] && dx * dx + dy * dy <= (drawn.dotRadius + 1) * (drawn.dotRadius + 1)) {
                return true;
            }
        }
        return false;
    }
}

