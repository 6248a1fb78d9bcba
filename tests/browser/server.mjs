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
  return {
    base, email, password,
    async stop() {
      const done = new Promise((r) => proc.on('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      const code = await done;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

// Debian's Chromium, as root on a closed network: these flags keep it quiet and local.
export const chromiumOptions = {
  executablePath: process.env.CG_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
};
