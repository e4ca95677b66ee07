package org.mlntf.decoder;

/** How maps become people, as {@code mln_tf.inference.PostprocessConfig}: upsampling, then grouping. */
public final class PostprocessConfig {
    /** Default stride of the network's output maps (mln_tf.coords.DEFAULT_STRIDE). */
    public static final int DEFAULT_STRIDE = 8;
    /** The Python defaults: default grouping, no upsampling, stride 8. */
    public static final PostprocessConfig DEFAULT = new PostprocessConfig(GroupingConfig.DEFAULT, 1, DEFAULT_STRIDE);

    public final GroupingConfig grouping;
    /** &gt; 1: bicubic upsampling of the maps by this factor before grouping. */
    public final int upsample;
    public final int stride;

    public PostprocessConfig(GroupingConfig grouping, int upsample, int stride) {
        if (grouping == null) {
            throw new IllegalArgumentException("grouping config must not be null");
        }
        if (upsample < 1 || stride < 1) {
            throw new IllegalArgumentException("upsample and stride must be >= 1");
        }
        this.grouping = grouping;
        this.upsample = upsample;
        this.stride = stride;
    }

    @Override
    public String toString() {
        return "PostprocessConfig(" + grouping + ", upsample=" + upsample + ", stride=" + stride + ")";
    }
}
