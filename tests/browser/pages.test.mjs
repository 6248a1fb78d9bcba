// Browser tests (issue 2): every page in headless Chromium, axe-core with zero
// violations, usable without JavaScript, keyboard skip link, small screens, page weight,
// and a screenshot of the home page in test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { startServer, chromiumOptions, binary } from './server.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let server, browser;

before(async () => {
  server = await startServer();
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  const code = await server?.stop();
  assert.equal(code, 0, 'server stops cleanly on SIGTERM');
});

async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    }));
  const summary = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  return summary;
}

async function signIn(page, email, password) {
  await page.goto(`${server.base}/signin`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit] >> text=/Sign in|Mewngofnodi/')]);
}

async function checkPage(page, path, expectStatus = 200) {
  const resp = await page.goto(`${server.base}${path}`);
  assert.equal(resp.status(), expectStatus, `${path} status`);
  const violations = await axe(page);
  assert.deepEqual(violations, [], `axe violations on ${path}`);
  // Every page has one h1, a main landmark and the skip link.
  assert.equal(await page.locator('h1').count(), 1, `one h1 on ${path}`);
  assert.equal(await page.locator('main#main-content').count(), 1);
}

test('public pages pass axe-core with zero violations', async () => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await checkPage(page, '/');
  await checkPage(page, '/places');
  const href = await page.locator('table a[href^="/places/"]').first().getAttribute('href');
  await checkPage(page, href);
  await checkPage(page, '/signin');
  await checkPage(page, '/signup');
  await checkPage(page, '/no-such-page', 404);
  // A form with errors (error summary and messages) is accessible too.
  await page.goto(`${server.base}/signup`);
  await page.click('button[type=submit]');
  await page.waitForSelector('.govuk-error-summary');
  assert.deepEqual(await axe(page), []);
  await context.close();
});

test('signed-in and admin pages pass axe-core', async () => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await signIn(page, server.email, server.password);
  await checkPage(page, '/account');
  await checkPage(page, '/account/password');
  await checkPage(page, '/admin/users');
  await checkPage(page, '/admin/audit');
  await checkPage(page, '/places/new');
  const href = await (async () => {
    await page.goto(`${server.base}/places`);
    return page.locator('table a[href^="/places/"]').first().getAttribute('href');
  })();
  await checkPage(page, `${href}/edit`);
  await context.close();
});

test('a one-time password leads to an accessible password change, then everything opens', async () => {
  const out = execFileSync(binary(), ['user', 'add', '--db', server.db, '--email', 'owen@example.org',
    '--name', 'Owen', '--role', 'officer'], { encoding: 'utf8' });
  const once = /Password:\s*(\S+)/.exec(out)[1];
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await signIn(page, 'owen@example.org', once);
  assert.equal(new URL(page.url()).pathname, '/account/password');
  assert.match(await page.textContent('main'), /works only once/);
  assert.deepEqual(await axe(page), []);
  await page.goto(`${server.base}/places/new`);
  assert.equal(new URL(page.url()).pathname, '/account/password');
  await page.fill('#current', once);
  await page.fill('#password', 'owen chose this one');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit] >> text=/Change password|Newid/')]);
  assert.equal(new URL(page.url()).pathname, '/account');
  await checkPage(page, '/places/new');
  await context.close();
});

test('Welsh pages pass axe-core and are in Welsh', async () => {
  const context = await browser.newContext({ bypassCSP: true, locale: 'cy-GB', extraHTTPHeaders: { 'Accept-Language': 'cy' } });
  const page = await context.newPage();
  await checkPage(page, '/');
  assert.equal(await page.getAttribute('html', 'lang'), 'cy');
  await checkPage(page, '/signin');
  assert.match(await page.textContent('h1'), /Mewngofnodi/);
  await context.close();
});

test('works without JavaScript: sign up, sign out, switch language', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.base}/signup`);
  await page.fill('#display_name', 'Nia');
  await page.fill('#email', 'nia@example.org');
  await page.fill('#password', 'no javascript needed');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert.match(page.url(), /\/account$/);
  assert.match(await page.textContent('main'), /nia@example\.org/);
  await Promise.all([page.waitForNavigation(), page.click('footer button[lang=cy]')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'cy');
  await Promise.all([page.waitForNavigation(), page.click('main button[type=submit]')]);
  assert.equal(new URL(page.url()).pathname, '/');
  await context.close();
});

test('keyboard: the skip link comes first and focus is visible', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => ({
    cls: document.activeElement.className,
    outline: getComputedStyle(document.activeElement).outlineStyle,
    bg: getComputedStyle(document.activeElement).backgroundColor,
  }));
  assert.match(focused.cls, /govuk-skip-link/);
  assert.ok(focused.outline !== 'none' || focused.bg !== 'rgba(0, 0, 0, 0)', 'focus is visible');
  await context.close();
});

test('small screens: no horizontal scrolling at 320 px', async () => {
  const context = await browser.newContext({ viewport: { width: 320, height: 640 } });
  const page = await context.newPage();
  for (const path of ['/', '/places', '/signin', '/signup']) {
    await page.goto(`${server.base}${path}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 320, `${path} is ${width}px wide`);
  }
  await context.close();
});

test('page weight after the first visit is under 60 KB; screenshot saved', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  let bytes = 0;
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  await page.goto(`${server.base}/places`);
  await page.waitForLoadState('networkidle');
  assert.ok(bytes > 0 && bytes < 60 * 1024, `second page transferred ${bytes} bytes`);
  mkdirSync('test-artifacts', { recursive: true });
  await page.goto(`${server.base}/`);
  await page.screenshot({ path: 'test-artifacts/home.png', fullPage: true });
  await context.close();
});
