// What the browser drivers (login.js, console.js) share: where Debian's Chromium is, how it
// is started, and how a driver reports its one result line.

export const EXECUTABLE = process.env.CHROMIUM_BINARY || '/usr/bin/chromium';

// As root, in a container, on a machine whose network is closed: no sandbox, no GPU, and
// none of the background connections Chromium would otherwise try at every start.
export const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The driver's result, as the one line on stdout the Rust side waits for.
export function emit(result) {
  process.stdout.write(`${JSON.stringify({ result })}\n`);
}

// playwright-core's chromium, or the result saying how to install it (and exit 1).
export async function playwright() {
  try {
    return (await import('playwright-core')).chromium;
  } catch (err) {
    emit({ ok: false, error: `playwright-core is not installed: npm ci --prefix tests/peers/browser (${err.message})` });
    process.exit(1);
  }
}
