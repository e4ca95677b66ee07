package org.mlntf.demo;

import android.content.Context;
import android.graphics.Canvas;
import android.graphics.Paint;
import android.util.AttributeSet;
import android.view.View;
import org.mlntf.decoder.Overlay;

/** Draws an {@link Overlay} (limbs and keypoints in view pixels, coloured by track ID) over the preview. */
public final class OverlayView extends View {
    private final Paint line = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint dot = new Paint(Paint.ANTI_ALIAS_FLAG);
    private Overlay overlay;

    public OverlayView(Context context, AttributeSet attrs) {
        super(context, attrs);
        line.setStyle(Paint.Style.STROKE);
        line.setStrokeCap(Paint.Cap.ROUND);
        dot.setStyle(Paint.Style.FILL);
    }

    /** Called from any thread. */
    public void show(Overlay next) {
        synchronized (this) {
            overlay = next;
        }
        postInvalidate();
    }

    /** What is drawn now (null before the first frame). */
    synchronized Overlay current() {
        return overlay;
    }

    @Override
    protected void onDraw(Canvas canvas) {
        super.onDraw(canvas);
        Overlay o;
        synchronized (this) {
            o = overlay;
        }
        if (o == null) {
            return;
        }
        line.setStrokeWidth(o.strokeWidth);
        for (int i = 0; i < o.lineColours.length; i++) {
            line.setColor(o.lineColours[i]);
            canvas.drawLine(o.lines[i * 4], o.lines[i * 4 + 1], o.lines[i * 4 + 2], o.lines[i * 4 + 3], line);
        }
        for (int i = 0; i < o.dotColours.length; i++) {
            dot.setColor(o.dotColours[i]);
            canvas.drawCircle(o.dots[i * 2], o.dots[i * 2 + 1], o.dotRadius, dot);
        }
    }
}
