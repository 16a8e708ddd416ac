// Tests that need a component (a WebGPU adapter, Chromium, the Zig toolchain, a Python package): they
// skip with the reason when it is missing, but under CI=true (or 1/yes) a missing component fails the
// run instead (docs/testing.md). The one helper of the Node tests (vite-plugin/test re-exports it).

import { test } from 'node:test';

/** CI=true (or 1/yes): every component a test needs must be there. */
export const CI = /^(1|true|yes)$/i.test((process.env.CI ?? '').trim());

/**
 * The `{ skip }` option value of tests that need a component: false when `reason` is empty, else
 * `reason` (the tests skip); under CI=true it also registers a failing test naming the reason.
 */
export function requireOrSkip(reason) {
  if (!reason) return false;
  if (CI) {
    test(`CI=true requires a missing component: ${reason}`, () => {
      throw new Error(`CI=true and a required component is missing: ${reason}`);
    });
  }
  return reason;
}

/** Inside a test: `t.skip(reason)`, or under CI=true an Error (the test fails). */
export function skipOrFail(t, reason) {
  if (CI) throw new Error(`CI=true and a required component is missing: ${reason}`);
  t.skip(reason);
}
