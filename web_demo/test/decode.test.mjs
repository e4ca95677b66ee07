// Same maps -> same people as mln_tf.inference.postprocess, on every decode golden case:
// the maps grouping runs on, the peaks, the connections, then the people. float32 order is
// followed (Math.fround), so everything is asserted bit-identical.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cases, load, loadFromRoot, transform, postprocessOf, maxDiff } from './golden.mjs';
import { findPeaks, scorePairs } from '../src/grouping.js';
import { postprocess, groupingMaps } from '../src/postprocess.js';

const worst = { cases: 0, people: 0, keypointPx: 0, partScore: 0, personScore: 0, peakXY: 0, connScore: 0, upsampled: 0 };

for (const c of cases('decode')) {
  test(`decode ${c.name}`, () => {
    const expected = load(c.file);
    const maps = c.maps_file ? loadFromRoot(c.maps_file) : expected;
    const [h, w] = c.maps_hw;
    const channels = c.heatmap_channels;
    assert.deepEqual(maps.heatmaps.shape, [h, w, channels]);
    const hm = maps.heatmaps.data, pf = maps.pafs.data;
    const t = transform(c);
    const config = postprocessOf(c);

    const g = groupingMaps(hm, channels, pf, h, w, t, config);
    assert.deepEqual([g.height, g.width], c.group_hw, 'grouping map size');
    if (config.upsample > 1) {
      for (const [key, m] of [['hm', g.heatmaps], ['pf', g.pafs]]) {
        const idx = expected[`upsampled_${key}_index`].data, want = expected[`upsampled_${key}_value`].data;
        const got = Float32Array.from(idx, (i) => m[i]);
        const d = maxDiff(want, got);
        worst.upsampled = Math.max(worst.upsampled, d);
        assert.equal(d, 0, `upsampled ${key} differs by ${d}`);
      }
    }
    const peaks = findPeaks(g.heatmaps, channels, g.height, g.width, config.grouping);
    assert.deepEqual(Array.from(peaks.part), Array.from(expected.peaks_part.data), 'peak parts');
    const peakDiff = Math.max(maxDiff(expected.peaks_x.data, peaks.x), maxDiff(expected.peaks_y.data, peaks.y));
    worst.peakXY = Math.max(worst.peakXY, peakDiff);
    assert.equal(peakDiff, 0, `peak x/y differ by ${peakDiff}`);
    assert.equal(maxDiff(expected.peaks_score.data, peaks.score), 0, 'peak scores');
    const conns = scorePairs(peaks, g.pafs, g.height, g.width, config.grouping);
    assert.deepEqual(Array.from(conns.limb), Array.from(expected.conn_limb.data), 'connection limbs');
    assert.deepEqual(Array.from(conns.a), Array.from(expected.conn_a.data), 'connection a');
    assert.deepEqual(Array.from(conns.b), Array.from(expected.conn_b.data), 'connection b');
    const connDiff = maxDiff(expected.conn_score.data, conns.score);
    worst.connScore = Math.max(worst.connScore, connDiff);
    assert.equal(connDiff, 0, `connection scores differ by ${connDiff}`);

    const poses = postprocess(hm, channels, pf, h, w, t, config);
    const kp = expected.keypoints.data, scores = expected.scores.data;
    assert.equal(poses.count, scores.length, 'number of people');
    assert.equal(poses.count, c.people);
    let px = 0, partScore = 0;
    for (let i = 0; i < kp.length; i += 3) {
      assert.equal(poses.keypoints[i + 2] > 0, kp[i + 2] > 0, `part presence at ${i / 3}`);
      px = Math.max(px, Math.abs(kp[i] - poses.keypoints[i]), Math.abs(kp[i + 1] - poses.keypoints[i + 1]));
      partScore = Math.max(partScore, Math.abs(kp[i + 2] - poses.keypoints[i + 2]));
    }
    const personScore = maxDiff(scores, poses.scores);
    Object.assign(worst, {
      cases: worst.cases + 1, people: worst.people + poses.count, keypointPx: Math.max(worst.keypointPx, px),
      partScore: Math.max(worst.partScore, partScore), personScore: Math.max(worst.personScore, personScore),
    });
    assert.equal(px, 0, `keypoints differ by ${px} px`);
    assert.equal(partScore, 0, `part scores differ by ${partScore}`);
    assert.equal(personScore, 0, `person scores differ by ${personScore}`);
  });
}

after(() => {
  console.log(`# decoder parity over ${worst.cases} cases, ${worst.people} people: max |keypoint - python| `
    + `${worst.keypointPx} px, part score ${worst.partScore}, person score ${worst.personScore}; `
    + `peaks x/y ${worst.peakXY}, connection score ${worst.connScore}, upsampled maps ${worst.upsampled}`);
});
