// What the end-to-end tests do on the chat demo's page (examples/chat/www),
// shared by chat.test.mjs and cluster.test.mjs: start headless Chromium, type
// a line, wait for a message, and save a screenshot of the demo.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

export const WAIT = 30000; // generous: a loaded CI machine, an ASan server
export const CHROMIUM = process.env.SSS_CHROMIUM || '/usr/bin/chromium';

// Headless Chromium (playwright-core) on its own empty profile (a fresh
// temporary user-data-dir, given as profile): the browser context.
export async function launchChromium(profile) {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    viewport: { width: 1100, height: 700 },
  });
}

// True when the test may run; else it is skipped, or fails under SSS_E2E_REQUIRED=1
// (ctest sets it), with what is missing.
export function ready(t, why) {
  if (!why.length) return true;
  if (process.env.SSS_E2E_REQUIRED === '1') assert.fail(`SSS_E2E_REQUIRED=1 but: ${why.join('; ')}`);
  t.skip(why.join('; '));
  return false;
}

export async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await page.waitForFunction(() => document.getElementById('text').value === '', null, { timeout: WAIT });
}

export async function waitText(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li[data-uid] .text')]
    .some((e) => e.textContent === t), text, { timeout: WAIT });
}

// A screenshot of page under SSS_E2E_OUT (else dir), named name; its path is a diagnostic of t.
export async function screenshot(t, page, dir, name) {
  const out = process.env.SSS_E2E_OUT || dir;
  fs.mkdirSync(out, { recursive: true });
  await page.bringToFront();
  const shot = path.join(out, name);
  await page.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
}
