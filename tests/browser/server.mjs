// Starts a real commonground server with a fresh demo database for browser tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function binary() {
  return process.env.CG_TEST_BIN || 'build/test/commonground';
}

export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'cg-browser-'));
  const db = join(dir, 'test.db');
  const out = execFileSync(binary(), ['init', '--db', db, '--demo'], { encoding: 'utf8' });
  const email = /First administrator:\s*(\S+)/.exec(out)[1];
  const password = /One-time password:\s*(\S+)/.exec(out)[1];
  const proc = spawn(binary(), ['serve', '--db', db, '--listen', '127.0.0.1:0', '--no-access-log'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolve, reject) => {
    let text = '';
    proc.stdout.on('data', (d) => {
      text += d;
      const m = /http:\/\/localhost:(\d+)\//.exec(text);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  // As an operator does: the first sign-in replaces the one-time password init printed.
  const oneTimePassword = password;
  const own = `own-${oneTimePassword}`;
  await changePassword(base, email, oneTimePassword, own);
  return {
    base, email, password: own, oneTimePassword, db,
    async stop() {
      const done = new Promise((r) => proc.on('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      const code = await done;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

// A tiny cookie-keeping client over fetch (no redirects followed).
function client(base) {
  const jar = new Map();
  return async function request(path, form) {
    const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const resp = await fetch(`${base}${path}`, { method: form ? 'POST' : 'GET', headers, body, redirect: 'manual' });
    for (const c of resp.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return { status: resp.status, location: resp.headers.get('location'), text: await resp.text() };
  };
}

const csrfOf = (html) => /name="csrf_token" value="([^"]+)"/.exec(html)[1];

// Signs in with a one-time password and replaces it, through the real forms.
export async function changePassword(base, email, current, password) {
  const request = client(base);
  let page = await request('/signin');
  const signin = await request('/signin', { csrf_token: csrfOf(page.text), email, password: current });
  if (signin.status !== 303 || signin.location !== '/account/password') {
    throw new Error(`first sign-in: ${signin.status} to ${signin.location}`);
  }
  page = await request('/account/password');
  const change = await request('/account/password', { csrf_token: csrfOf(page.text), current, password });
  if (change.status !== 303) throw new Error(`password change: ${change.status}`);
}

// Debian's Chromium, as root on a closed network: these flags keep it quiet and local.
export const chromiumOptions = {
  executablePath: process.env.CG_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
};
