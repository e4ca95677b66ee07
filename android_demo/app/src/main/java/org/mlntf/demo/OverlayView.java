package org.mlntf.demo;

import android.content.Context;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.util.AttributeSet;
import android.view.View;
import org.mlntf.decoder.Poses;
import org.mlntf.decoder.Skeleton;

/**
 * Draws each person's skeleton in its own colour over the camera preview. Keypoints arrive
 * in the analysed frame's pixels; the preview shows the same frame scaled to fill the view
 * and centred (PreviewView's default FILL_CENTER), so the same mapping is applied here.
 */
public final class OverlayView extends View {
    private final Paint line = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint dot = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final int[] drawn = Skeleton.drawnLimbs();
    private Poses poses;
    private int[] ids;
    private int frameWidth;
    private int frameHeight;

    public OverlayView(Context context, AttributeSet attrs) {
        super(context, attrs);
        line.setStyle(Paint.Style.STROKE);
        line.setStrokeCap(Paint.Cap.ROUND);
        dot.setStyle(Paint.Style.FILL);
    }

    /** Called from any thread. */
    public void show(Poses poses, int[] ids, int frameWidth, int frameHeight) {
        synchronized (this) {
            this.poses = poses;
            this.ids = ids;
            this.frameWidth = frameWidth;
            this.frameHeight = frameHeight;
        }
        postInvalidate();
    }

    /** Same hues as mln_tf.draw.person_colour (golden-ratio steps, saturation 0.85). */
    static int personColour(int index) {
        float hue = (float) ((index * 0.618033988749895) % 1.0) * 360f;
        return Color.HSVToColor(new float[] {hue, 0.85f, 1f});
    }

    @Override
    protected void onDraw(Canvas canvas) {
        super.onDraw(canvas);
        Poses p;
        int[] trackIds;
        int fw, fh;
        synchronized (this) {
            p = poses;
            trackIds = ids;
            fw = frameWidth;
            fh = frameHeight;
        }
        if (p == null || fw <= 0 || fh <= 0) {
            return;
        }
        float scale = Math.max(getWidth() / (float) fw, getHeight() / (float) fh);
        float dx = (getWidth() - fw * scale) / 2f;
        float dy = (getHeight() - fh * scale) / 2f;
        float width = Math.max(3f, getWidth() / 180f);
        line.setStrokeWidth(width);
        for (int person = 0; person < p.size(); person++) {
            // one colour per track ID, kept from frame to frame; untracked people (-1) grey
            int id = trackIds != null ? trackIds[person] : person;
            int colour = id < 0 ? Color.GRAY : personColour(id);
            line.setColor(colour);
            dot.setColor(colour);
            for (int k : drawn) {
                int a = Skeleton.limbA(k), b = Skeleton.limbB(k);
                if (p.present(person, a) && p.present(person, b)) {
                    canvas.drawLine(dx + p.x(person, a) * scale, dy + p.y(person, a) * scale,
                            dx + p.x(person, b) * scale, dy + p.y(person, b) * scale, line);
                }
            }
            for (int j = 0; j < Skeleton.NUM_PARTS; j++) {
                if (p.present(person, j)) {
                    canvas.drawCircle(dx + p.x(person, j) * scale, dy + p.y(person, j) * scale, width * 1.3f, dot);
                }
            }
        }
    }
}
