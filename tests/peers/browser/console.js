// Visits Keycloak's admin console in a real browser and photographs its pages, for sekisho's
// Keycloak guide (docs/keycloak.md, docs/images/keycloak/) and the test that checks what the
// pages show (tests/keycloak_console.rs). Debian's headless Chromium, driven with
// playwright-core as login.js drives it, signs in to the console of the master realm, then opens
// each page of `pages` in turn (a route of the console's own, after its `#/`), waits until it
// shows `wait_text`, hides the navigation when `wide` is true, clicks the link `click` (if any,
// then waits for `wait_after_click`), scrolls the section headed `section` (if any) to the top,
// and saves a viewport-sized PNG.
//
//   node console.js '{"keycloak": "http://127.0.0.1:PORT", "username": "admin", "password": "admin",
//                     "out_dir": "/tmp/shots", "timeout_ms": 60000,
//                     "pages": [{"name": "clients", "route": "REALM/clients", "wait_text": "sekisho"},
//                               {"name": "oidc-capability", "route": "REALM/clients/ID/settings",
//                                "wait_text": "Capability config", "section": "Capability config"}]}'
//
// Prints exactly one line on stdout, last:
//   {"result": {"ok": true|false, "error": <message, when not ok>,
//               "pages": [{"name", "url", "screenshot": <path>, "text": <the page's main text>,
//                          "fields": [{"id", "name", "label", "value", "checked"}]}]}}
// where `fields` are the page's form fields (inputs, text areas, switches) as the console
// filled them: what a test compares with the realm. Exit status 0 when ok, 1 otherwise.
// Everything else goes to stderr. The browser profile is a fresh temporary directory, removed
// at the end.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ARGS, EXECUTABLE, emit, playwright } from './chromium.js';

// Small enough for a guide, wide enough for the console's navigation and a form side by side.
const VIEWPORT = { width: 1280, height: 800 };

const args = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['keycloak', 'username', 'password', 'out_dir']) {
  if (typeof args[key] !== 'string') {
    emit({ ok: false, error: `missing argument ${key}` });
    process.exit(2);
  }
}
if (!Array.isArray(args.pages)) {
  emit({ ok: false, error: 'missing argument pages' });
  process.exit(2);
}
const timeout = args.timeout_ms ?? 60000;
const consoleUrl = `${args.keycloak.replace(/\/$/, '')}/admin/master/console/`;

const chromium = await playwright();

// The fields of the form on the page: each input, text area and switch with its value and the
// label the console gives it: its aria-label (a switch's <label for> is its "On"/"Off"), else
// its <label for> without the "required" star.
function readFields() {
  const labelOf = (el) => {
    const aria = el.getAttribute('aria-label');
    if (aria) return aria;
    const label = el.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
    return (label?.innerText ?? '').replace(/\s*\*$/, '').trim();
  };
  return [...document.querySelectorAll('input, textarea')]
    .filter((el) => el.type !== 'hidden')
    .map((el) => ({
      id: el.id ?? '',
      name: el.name ?? '',
      label: labelOf(el),
      value: el.value ?? '',
      checked: el.type === 'checkbox' || el.type === 'radio' ? el.checked : null,
    }));
}

// Requests the page has sent and not yet seen answered: the console loads each tab's data
// after routing, without a navigation Playwright could wait for.
let pending = 0;

// Waits until the console has shown no spinner and had no request pending for half a second.
async function settle(page) {
  const deadline = Date.now() + timeout;
  let quietSince = null;
  while (Date.now() < deadline) {
    const spinner = await page.locator('[role="progressbar"], .pf-v5-c-spinner').count();
    if (pending === 0 && spinner === 0) {
      quietSince ??= Date.now();
      if (Date.now() - quietSince >= 500) return;
    } else {
      quietSince = null;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`the console was still loading after ${timeout} ms (${pending} requests pending)`);
}

// Opens or closes the console's navigation (its toggle remembers the state), so a wide table
// fits the picture.
async function showNavigation(page, shown) {
  const toggle = page.locator('#nav-toggle');
  if (!(await toggle.count())) return;
  const expanded = (await toggle.getAttribute('aria-expanded')) === 'true';
  if (expanded !== shown) {
    await toggle.click();
    await page.waitForTimeout(500);
  }
}

async function signIn(page) {
  await page.goto(consoleUrl, { waitUntil: 'load' });
  await page.locator('#username').waitFor({ state: 'visible' });
  await page.fill('#username', args.username);
  await page.fill('#password', args.password);
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(consoleUrl), { waitUntil: 'load' }),
    page.click('#kc-login'),
  ]);
  console.error(`signed in to ${page.url()}`);
}

async function visit(page, spec) {
  const url = `${consoleUrl}#/${spec.route}`;
  await page.goto(url, { waitUntil: 'load' });
  const main = page.locator('main').first();
  await main.getByText(spec.wait_text, { exact: false }).first().waitFor({ state: 'visible' });
  await settle(page);
  await showNavigation(page, !spec.wide);
  if (spec.click) {
    await main.getByRole('link', { name: spec.click, exact: true }).first().click();
    await main.getByText(spec.wait_after_click ?? spec.click, { exact: false }).first().waitFor({ state: 'visible' });
    await settle(page);
  }
  if (spec.section) {
    // The form scrolls inside the console's main panel, not the window: bring the section's
    // heading to the top of that panel.
    const heading = main.getByRole('heading', { name: spec.section, exact: true }).first();
    await heading.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await page.waitForTimeout(300);
  }
  const screenshot = path.join(args.out_dir, `${spec.name}.png`);
  await page.screenshot({ path: screenshot });
  const text = (await main.innerText()).slice(0, 8000);
  const fields = await page.evaluate(readFields);
  console.error(`${spec.name}: ${page.url()} -> ${screenshot}`);
  return { name: spec.name, url: page.url(), screenshot, text, fields };
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sekisho-chromium-'));
const pages = [];
const result = { ok: false, pages };
let context;
// A hard stop, whatever hangs: the Rust side waits a little longer than this.
const budget = timeout * (args.pages.length + 1) + 10000;
const watchdog = setTimeout(() => {
  result.error = `gave up after ${budget} ms`;
  emit(result);
  process.exit(1);
}, budget);

try {
  fs.mkdirSync(args.out_dir, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    viewport: VIEWPORT,
    timeout,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('request', () => { pending += 1; });
  page.on('requestfinished', () => { pending -= 1; });
  page.on('requestfailed', () => { pending -= 1; });
  await signIn(page);
  for (const spec of args.pages) {
    try {
      pages.push(await visit(page, spec));
    } catch (err) {
      const failed = path.join(args.out_dir, `${spec.name}.failed.png`);
      await page.screenshot({ path: failed, timeout: 5000 }).catch(() => {});
      throw new Error(`page ${spec.name} (${spec.route}): ${err?.message ?? err}; screenshot ${failed}`);
    }
  }
  result.ok = true;
} catch (err) {
  result.error = String(err?.message ?? err);
} finally {
  try {
    await context?.close();
  } catch (err) {
    console.error(`closing the browser: ${err.message}`);
  }
  fs.rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}
emit(result);
process.exit(result.ok ? 0 : 1);
