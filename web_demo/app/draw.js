// Drawing people on a canvas: one colour per person (per track ID when tracked), the drawn limbs of
// mln_tf.skeleton; tracked people carry their ID above the head, untracked ones (-1) are grey.
import { NUM_PARTS, LIMB_A, LIMB_B, DRAWN_LIMBS } from '../src/skeleton.js';

const COLOURS = ['#ff3b30', '#34c759', '#0a84ff', '#ffcc00', '#af52de', '#ff9500', '#5ac8fa', '#ff2d55',
  '#a2845e', '#30d158', '#64d2ff', '#ffd60a'];

/** The colour of person i (cycles after 12). */
export function personColour(i) {
  return COLOURS[i % COLOURS.length];
}

/** Draw `poses` (image pixels) over ctx, whose canvas shows the image at `scale` canvas px per image px. */
export function drawPoses(ctx, poses, scale = 1) {
  const kp = poses.keypoints;
  // lines about 1/160 of the picture's smaller side, so they read the same on any image size
  const lw = Math.max(2, Math.min(ctx.canvas.width, ctx.canvas.height) / 160);
  ctx.lineCap = 'round';
  for (let p = 0; p < poses.count; p++) {
    const id = poses.ids ? poses.ids[p] : null;
    const colour = id === null ? personColour(p) : id < 0 ? '#a0a0a0' : personColour(id);
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = lw;
    const base = p * NUM_PARTS * 3;
    for (const k of DRAWN_LIMBS) {
      const a = base + LIMB_A[k] * 3, b = base + LIMB_B[k] * 3;
      if (!(kp[a + 2] > 0 && kp[b + 2] > 0)) continue;
      ctx.beginPath();
      ctx.moveTo((kp[a] + 0.5) * scale, (kp[a + 1] + 0.5) * scale);
      ctx.lineTo((kp[b] + 0.5) * scale, (kp[b + 1] + 0.5) * scale);
      ctx.stroke();
    }
    let top = Infinity, sx = 0, n = 0;
    for (let j = 0; j < NUM_PARTS; j++) {
      const o = base + j * 3;
      if (!(kp[o + 2] > 0)) continue;
      ctx.beginPath();
      ctx.arc((kp[o] + 0.5) * scale, (kp[o + 1] + 0.5) * scale, lw * 1.2, 0, 2 * Math.PI);
      ctx.fill();
      top = Math.min(top, kp[o + 1]);
      sx += kp[o];
      n++;
    }
    if (id !== null && id >= 0 && n > 0) {
      ctx.font = `bold ${Math.round(lw * 6)}px sans-serif`;
      ctx.textAlign = 'center';
      ctx.lineWidth = lw;
      ctx.strokeStyle = '#000';
      const x = (sx / n + 0.5) * scale, y = Math.max((top + 0.5) * scale - 2 * lw, lw * 6);
      ctx.strokeText(String(id), x, y);
      ctx.fillText(String(id), x, y);
    }
  }
}
