// Signs in through a real browser, for sekisho's end-to-end tests: Debian's headless
// Chromium, driven with playwright-core (no downloaded browser build), opens a protected page,
// fills the provider's sign-in form (Keycloak's element ids: #username, #password, #kc-login)
// and waits until it is back at the expected URL.
//
//   node login.js '{"start_url": "http://127.0.0.1:PORT/app/page?x=1",
//                   "username": "alice", "password": "alice-password",
//                   "expect_url": "^http://127\\.0\\.0\\.1:PORT/app/page\\?x=1$",
//                   "screenshot": "/tmp/after-login.png", "timeout_ms": 30000}'
//
// Optional: "username_selector", "password_selector", "submit_selector" for another form than
// Keycloak's (SimpleSAMLphp's, in the SAML test: #username, #password, #submit_button). Any
// page in between (a SAML IdP's auto-submitting HTTP-POST form) is left to the browser.
// "choose_selector": a link or button to click first, on the page start_url leads to (the
// provider choice of a Sekisho with both OpenID Connect and SAML configured).
// "sign_out_at_account_console": Keycloak's account console URL ({issuer}/account): once
// signed in, the browser opens it (signed in there too, by Keycloak's session) and signs out
// with its user menu's "Sign out", as a user does, until Keycloak's sign-in form shows again;
// the result then has "signed_out_at" (that page's URL). Screenshot and text are taken before.
//
// Prints exactly one line on stdout, last:
//   {"result": {"ok": true|false, "final_url": ..., "status": ..., "text": <page text, cut>,
//               "screenshot": <path or null>, "navigations": [urls], "responses": [...],
//               "cookies": [{name, value, domain, path}], "error": <message, when not ok>}}
// Exit status 0 when ok, 1 otherwise. Everything else goes to stderr. The browser profile is
// a fresh temporary directory, removed at the end.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ARGS, EXECUTABLE, emit, playwright } from './chromium.js';

const args = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['start_url', 'username', 'password', 'expect_url']) {
  if (typeof args[key] !== 'string') {
    emit({ ok: false, error: `missing argument ${key}` });
    process.exit(2);
  }
}
const timeout = args.timeout_ms ?? 30000;
const expect = new RegExp(args.expect_url);

const chromium = await playwright();

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sekisho-chromium-'));
const navigations = [];
const responses = [];
const result = { ok: false, final_url: null, status: null, text: null, screenshot: null, navigations, responses };
let context;
// A hard stop, whatever hangs: the Rust side waits a little longer than this.
const watchdog = setTimeout(() => {
  result.error = `gave up after ${timeout + 10000} ms`;
  emit(result);
  process.exit(1);
}, timeout + 10000);

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    timeout,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  });
  page.on('response', (response) => {
    if (response.request().isNavigationRequest()) {
      responses.push({ url: response.url(), status: response.status(), location: response.headers().location ?? null });
    }
  });

  const first = await page.goto(args.start_url, { waitUntil: 'load' });
  console.error(`opened ${args.start_url} -> ${page.url()} (${first?.status()})`);
  if (args.choose_selector) {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(args.choose_selector)]);
    console.error(`chose ${args.choose_selector} -> ${page.url()}`);
  }
  const selectors = {
    username: args.username_selector ?? '#username',
    password: args.password_selector ?? '#password',
    submit: args.submit_selector ?? '#kc-login',
  };
  await page.locator(selectors.username).waitFor({ state: 'visible' });
  await page.fill(selectors.username, args.username);
  await page.fill(selectors.password, args.password);
  await Promise.all([
    page.waitForURL(expect, { waitUntil: 'load' }),
    page.click(selectors.submit),
  ]);
  result.final_url = page.url();
  result.status = responses.length ? responses[responses.length - 1].status : null;
  result.text = (await page.locator('body').innerText()).slice(0, 4000);
  // The browser's cookies, so a test can go on as this browser without it.
  result.cookies = (await context.cookies()).map(({ name, value, domain, path }) => ({ name, value, domain, path }));
  if (args.screenshot) {
    await page.screenshot({ path: args.screenshot, fullPage: true });
    result.screenshot = args.screenshot;
  }
  if (args.sign_out_at_account_console) {
    await page.goto(args.sign_out_at_account_console, { waitUntil: 'load' });
    // The console is a React app: its user menu appears once it has loaded the account.
    await page.locator('[data-testid=options-toggle]').click();
    await Promise.all([
      page.locator(selectors.username).waitFor({ state: 'visible' }),
      page.getByRole('menuitem', { name: 'Sign out' }).click(),
    ]);
    result.signed_out_at = page.url();
    console.error(`signed out at the account console -> ${page.url()}`);
  }
  result.ok = true;
} catch (err) {
  result.error = String(err?.message ?? err);
  try {
    const page = context?.pages()[0];
    if (page) {
      result.final_url = page.url();
      result.text = (await page.locator('body').innerText({ timeout: 2000 })).slice(0, 4000);
      if (args.screenshot) {
        await page.screenshot({ path: args.screenshot, fullPage: true, timeout: 5000 });
        result.screenshot = args.screenshot;
      }
    }
  } catch (inner) {
    console.error(`while collecting the failure: ${inner.message}`);
  }
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
