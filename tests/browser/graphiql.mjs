// Drives paygraph's GraphiQL page in headless Chromium:
//
//	node graphiql.mjs http://127.0.0.1:PORT
//
// Every request to another host is aborted and counted, so the page must
// work offline; a Content-Security-Policy violation or a script error fails
// too. It runs a query ({__typename}) over HTTP and a subscription over the
// page's WebSocket, and checks what GraphiQL's result pane shows. Exits 0
// when all is well; otherwise prints why and exits 1.
//
// CHROMIUM names the browser (default /usr/bin/chromium); Playwright's own
// browser downloads are never used.
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node graphiql.mjs <server URL>');
  process.exit(2);
}
const host = new URL(base).host;
const problems = [];
const step = (msg) => console.log(`graphiql.mjs: ${msg}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  timeout: 20_000,
});
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  // Anything not for paygraph itself is refused, and counts as a failure.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).host === host) {
      return route.continue();
    }
    problems.push(`requested another host: ${url}`);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`script error: ${err.message}`));
  page.on('requestfailed', (req) => {
    if (new URL(req.url()).host === host) problems.push(`failed: ${req.url()} (${req.failure()?.errorText})`);
  });
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));

  const resp = await page.goto(base + '/');
  if (resp.status() !== 200) throw new Error(`GET / answered ${resp.status()}`);
  if (!resp.headers()['content-security-policy']) throw new Error('GET / has no Content-Security-Policy');

  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor();
  step('GraphiQL is up');

  // Replace the editor's text the way a person would, and run it.
  async function run(query) {
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(query);
    const typed = await page.evaluate(
      () => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue(),
    );
    if (typed !== query) throw new Error(`the query editor holds ${JSON.stringify(typed)}`);
    // GraphiQL parses the editor's text a moment after a change, and picks
    // HTTP or the WebSocket from that parse: wait for it, as a person would.
    await page.waitForFunction(
      (q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.documentAST?.loc?.source?.body === q,
      query,
    );
    await page.locator('.graphiql-execute-button').click();
  }
  const result = page.locator('.result-window');

  await run('{__typename}');
  await result.getByText('"__typename": "Query"').waitFor();
  step('{__typename} answered "Query" over HTTP');

  // A subscription goes over the WebSocket; without a token @auth refuses
  // it, which is answer enough that the socket works.
  await run('subscription { myOrderEvents { __typename } }');
  await result.getByText('UNAUTHENTICATED').waitFor();
  const wsURL = (base.startsWith('https:') ? 'wss://' : 'ws://') + host + '/query';
  if (!sockets.includes(wsURL)) throw new Error(`no WebSocket to ${wsURL}; opened: ${sockets.join(', ') || 'none'}`);
  step('the subscription went over the WebSocket');
} catch (err) {
  problems.push(err.message);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  for (const p of problems) console.error(`graphiql.mjs: ${p}`);
  process.exit(1);
}
step('ok');
