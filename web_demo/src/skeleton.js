// OpenPose COCO-18 skeleton, identical to mln_tf.skeleton (and android_demo's Skeleton.java).
// test/reference.test.mjs checks every table against the Python reference in the golden index.

/** Number of body parts (heatmap channels before the background). */
export const NUM_PARTS = 18;
/** Heatmap channel of the background. */
export const BACKGROUND = 18;
/** Heatmap channels: parts plus background. */
export const NUM_HEATMAPS = 19;
/** Number of limbs (part pairs scored by eq. 6). */
export const NUM_LIMBS = 19;
/** PAF channels: x and y per limb. */
export const NUM_PAFS = 38;

export const PARTS = Object.freeze(['nose', 'neck', 'r_shoulder', 'r_elbow', 'r_wrist', 'l_shoulder', 'l_elbow',
  'l_wrist', 'r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee', 'l_ankle', 'r_eye', 'l_eye', 'r_ear', 'l_ear']);
/** Limb k joins part LIMB_A[k] -> LIMB_B[k]. */
export const LIMB_A = Int32Array.of(1, 1, 2, 3, 5, 6, 1, 8, 9, 1, 11, 12, 1, 0, 14, 0, 15, 2, 5);
export const LIMB_B = Int32Array.of(2, 5, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 0, 14, 16, 15, 17, 16, 17);
/** PAF channels (of the 38) holding limb k's x and y components. */
export const PAF_X = Int32Array.of(12, 20, 14, 16, 22, 24, 0, 2, 4, 6, 8, 10, 28, 30, 34, 32, 36, 18, 26);
export const PAF_Y = Int32Array.of(13, 21, 15, 17, 23, 25, 1, 3, 5, 7, 9, 11, 29, 31, 35, 33, 37, 19, 27);
/** Limbs drawn in overlays (the shoulder-ear limbs are scored but not drawn). */
export const DRAWN_LIMBS = Int32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
