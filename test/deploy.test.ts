// deploy/*.yaml: generated from typed kubernetes-models objects, each valid against the Kubernetes schema
// bundled with that package (no cluster, no network), up to date with scripts/deploy-manifests.ts, and with the
// probes, resources, volumes and shard wiring the docs promise. `--shard auto` reads the Indexed Job's env.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Service } from 'kubernetes-models/v1';
import { parseShard } from '../src/batch/shard.js';
import { FILES, batchManifests, serverManifests } from '../scripts/deploy-manifests.js';

describe('deploy manifests', () => {
  test('every object validates against the Kubernetes schema; the files are up to date', () => {
    for (const o of [...serverManifests(), ...batchManifests()]) o.validate();
    for (const [file, make] of Object.entries(FILES)) assert.equal(readFileSync(file, 'utf8'), make(), file);
  });

  test('the validator does catch a bad manifest (the check is real)', () => {
    const bad = new Service({
      metadata: { name: 'x' },
      spec: { ports: [{ port: 'http' as unknown as number }] },
    });
    assert.throws(() => bad.validate(), /port/);
  });

  test('server: readiness /readyz, liveness /healthz, resources, HF cache volume, loopback/auth note', () => {
    const [pvc, dep, svc] = serverManifests();
    const pod = dep.spec!.template.spec!;
    const c = pod.containers[0];
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.ok(c.resources?.requests?.memory && c.resources.limits?.memory);
    assert.deepEqual(c.env?.[0], { name: 'HF_HOME', value: '/data/hf' });
    assert.ok(c.volumeMounts?.some((m) => m.name === 'hf-cache' && m.mountPath === '/data/hf'));
    const claim = pod.volumes?.find((v) => v.name === 'hf-cache')?.persistentVolumeClaim?.claimName;
    assert.equal(claim, pvc.metadata?.name);
    assert.equal(svc.spec?.type, 'ClusterIP');
    const text = readFileSync('deploy/server.yaml', 'utf8');
    assert.match(text, /has NO authentication/);
    assert.match(text, /binds 127\.0\.0\.1/);
  });

  test('batch: an Indexed Job with --shard auto and JOB_COMPLETIONS = completions, and a merge step', () => {
    const [, , job, merge] = batchManifests();
    const spec = job.spec!;
    assert.equal(spec.completionMode, 'Indexed');
    const c = spec.template.spec!.containers[0];
    assert.match(
      c.command!.join(' '),
      /imgtokens batch \/data\/images --shard auto .*--out "\/data\/results\/shard-\$JOB_COMPLETION_INDEX\.jsonl"/,
    );
    assert.equal(c.env!.find((e) => e.name === 'JOB_COMPLETIONS')?.value, String(spec.completions));
    assert.match(
      merge.spec!.template.spec!.containers[0].command!.join(' '),
      /cat shard-\*\.jsonl > results\.jsonl/,
    );
  });

  test('--shard auto maps JOB_COMPLETION_INDEX 0..n-1 to shards 1..n and refuses a missing or bad env', () => {
    assert.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: '4' }), {
      index: 1,
      count: 4,
    });
    assert.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '3', JOB_COMPLETIONS: '4' }), {
      index: 4,
      count: 4,
    });
    for (const env of [
      {},
      { JOB_COMPLETION_INDEX: '4', JOB_COMPLETIONS: '4' },
      { JOB_COMPLETION_INDEX: 'x', JOB_COMPLETIONS: '2' },
    ]) {
      assert.throws(() => parseShard('auto', env), {
        kind: 'bad-input',
        message: /^--shard auto needs JOB_COMPLETION_INDEX \(0-based\) < JOB_COMPLETIONS in the environment/,
      });
    }
  });
});
