// Drives paygraph's operator console (/admin) in headless Chromium, as an
// operator would:
//
//	node console.mjs http://127.0.0.1:PORT '{"admin": {...}, "refund": {...}, ...}'
//
// The second argument is what console_test.go prepared (see there). Every
// request to another host is aborted and counted; a console error, a
// script error or a failed request to paygraph fails too. Screenshots of
// each page go to the folder named by "screenshots". Exits 0 when all is
// well; otherwise prints why and exits 1.
import { chromium } from 'playwright-core';
import path from 'node:path';

const base = process.argv[2];
const fx = JSON.parse(process.argv[3] || '{}');
if (!base || !fx.admin) {
  console.error('usage: node console.mjs <server URL> <fixture JSON>');
  process.exit(2);
}
const host = new URL(base).host;
const problems = [];
const t0 = Date.now();
const step = (msg) => console.log(`console.mjs: ${((Date.now() - t0) / 1000).toFixed(1)}s ${msg}`);

// The API, from here (not the browser): what "someone else" does while
// the operator watches.
async function api(query, variables, token) {
  const resp = await fetch(base + '/query', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: 'Bearer ' + token } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await resp.json();
  if (body.errors) throw new Error(`API: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  timeout: 20_000,
});
try {
  // en-US, UTC+8: dates must follow the browser's zone.
  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Shanghai', viewport: { width: 1360, height: 900 } });
  context.setDefaultTimeout(8_000);
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).host === host) return route.continue();
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
  const shot = async (name) => {
    await page.waitForTimeout(100); // let a fading message settle
    await page.screenshot({ path: path.join(fx.screenshots, name + '.png'), fullPage: true });
  };
  const row = (id) => page.locator(`tr[data-order-id="${id}"]`);
  // Confirms the dialog an action opens, with a reason or an amount when
  // one is given.
  const confirm = async (reason, amount) => {
    const dlg = page.locator('dialog.ask[open]');
    await dlg.waitFor();
    if (reason !== undefined) await dlg.locator('textarea[name=reason]').fill(reason);
    if (amount !== undefined) await dlg.locator('input[name=amount]').fill(amount);
    await dlg.locator('button[type=submit]').click();
    await dlg.waitFor({ state: 'detached' });
  };

  // ---- sign in
  const resp = await page.goto(base + '/admin');
  if (resp.status() !== 200) throw new Error(`GET /admin answered ${resp.status()}`);
  const csp = resp.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'") || csp.includes('unsafe')) throw new Error(`GET /admin has Content-Security-Policy ${JSON.stringify(csp)}`);
  const signin = page.locator('form[name=signin]');
  await signin.waitFor();
  const missing = await page.evaluate(async () => (await import('/admin/i18n.js')).missing());
  if (Object.keys(missing).length) throw new Error(`words missing in a language: ${JSON.stringify(missing)}`);

  // A USER account is turned away.
  await signin.locator('[name=username]').fill(fx.user.username);
  await signin.locator('[name=password]').fill(fx.user.password);
  await signin.locator('button[type=submit]').click();
  await signin.locator('.form-error').getByText('ADMIN accounts only').waitFor();
  if (await page.evaluate(() => sessionStorage.length) !== 0) throw new Error('a USER token was kept');
  step('a USER account is refused');
  await shot('signin');

  await signin.locator('[name=username]').fill(fx.admin.username);
  await signin.locator('[name=password]').fill(fx.admin.password);
  await signin.locator('button[type=submit]').click();
  await page.locator('#live[data-state=live]').waitFor();
  step('signed in; live updates connected');

  // ---- orders: the list, live
  await row(fx.pending.id).waitFor();
  const pendingRow = row(fx.pending.id);
  await pendingRow.locator('[data-status=PENDING]').waitFor();
  await row(fx.refund.id).getByText('50.00').waitFor();
  await page.evaluate(() => { window.notReloaded = true; });
  // Someone else cancels the unpaid order: the row changes by itself.
  const { login } = await api('mutation($u:String!,$p:String!){login(username:$u,password:$p){token}}', { u: fx.admin.username, p: fx.admin.password });
  await api('mutation($in:CancelOrderInput!){cancelOrder(input:$in){status}}',
    { in: { userId: fx.buyerId, order: fx.pending.orderNo } }, login.token);
  await pendingRow.locator('[data-status=CANCELLED]').waitFor({ timeout: 5_000 });
  if (!(await page.evaluate(() => window.notReloaded))) throw new Error('the page reloaded');
  step('an order cancelled elsewhere turned CANCELLED in the list, live');
  await shot('orders');

  // Relay paging, three at a time: older, then back to the newest.
  const ids = async () => page.locator('tbody tr[data-order-id]').evaluateAll((trs) => trs.map((tr) => tr.dataset.orderId));
  const all = await ids();
  if (all.length < 7) throw new Error(`the list shows ${all.length} orders`);
  await page.goto(base + '/admin#/orders?size=3');
  await page.waitForFunction((first) => {
    const rows = [...document.querySelectorAll('tbody tr[data-order-id]')];
    return rows.length === 3 && rows[0].dataset.orderId === first;
  }, all[0]);
  await page.locator('a[rel=next]').click();
  await page.waitForFunction((want) => [...document.querySelectorAll('tbody tr[data-order-id]')].map((tr) => tr.dataset.orderId).join() === want,
    all.slice(3, 6).join());
  await page.locator('a[rel=prev]').click();
  await page.waitForFunction((want) => [...document.querySelectorAll('tbody tr[data-order-id]')].map((tr) => tr.dataset.orderId).join() === want,
    all.slice(0, 3).join());
  if (await page.locator('a[rel=prev]').count() !== 0) throw new Error('the newest page offers newer orders');
  step('paged older and back, three at a time');

  // What waits: the refund, the withdrawal, callbacks to look at.
  await page.locator('header nav a[href="#/decide"]').click();
  await row(fx.refund.id).locator('button[data-action=approveRefund]').waitFor();
  await row(fx.withdrawal.id).locator('button[data-action=rejectWithdrawal]').waitFor();
  await page.locator('tr[data-verdict=NEEDS_REFUND]').getByText('refund trade').waitFor();
  await page.locator('tr[data-verdict=REJECTED]').first().waitFor();
  // A partial request, of an order still PAID: what was asked beside the
  // order's amount and what was refunded so far.
  const part = row(fx.partial.id);
  await part.locator('[data-status=PAID]').waitFor();
  await part.locator('td[data-requested="10.00"]').getByText('10.00 CNY').waitFor();
  await part.locator('td[data-refunded="0.00"]').waitFor();
  await part.getByText('30.00').waitFor();
  await row(fx.refund.id).getByText('all that is left').waitFor();
  await shot('decide');
  step('to decide: the refund, the partial request, the withdrawal, a NEEDS_REFUND and a REJECTED callback');

  // Filter: the epay order by its number.
  await page.locator('header nav a[href="#/orders"]').click();
  const filters = page.locator('form.filters');
  await filters.locator('[name=no]').fill(fx.refund.orderNo);
  await filters.locator('[name=status]').selectOption('REFUND_REQUESTED');
  await filters.locator('button[type=submit]').click();
  await page.waitForURL(/#\/orders\?no=/);
  await page.locator('.summary').getByText('1 orders').waitFor();
  await row(fx.refund.id).waitFor();
  step('filtered by order number and status');

  // ---- the order: paid through epay, refund asked; approve it
  await row(fx.refund.id).locator('a.order-no').click();
  await page.waitForURL(new RegExp(`#/orders/${fx.refund.id}$`));
  await page.locator('h1 [data-status=REFUND_REQUESTED]').waitFor();
  const cards = page.locator('section.card');
  await cards.filter({ hasText: 'Callbacks received' }).locator('.verdict-APPLIED').first().waitFor();
  await cards.filter({ hasText: 'Ledger postings' }).getByText('50.00').first().waitFor();
  await cards.filter({ hasText: 'Status history' }).locator('[data-status=REFUND_REQUESTED]').waitFor();
  await cards.filter({ hasText: 'Provider trade number' }).waitFor();
  // Times are shown in the browser's zone (UTC+8 here), the instant in UTC beside.
  const times = await page.locator('time').evaluateAll((els) => els.map((el) => [el.dateTime, el.textContent]));
  for (const [iso, text] of times) {
    const want = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'Asia/Shanghai' }).format(new Date(iso));
    if (text !== want) throw new Error(`${iso} is shown as ${text}, not ${want}`);
  }
  if (times.length < 5) throw new Error(`only ${times.length} times on the order page`);
  // The gateway's own view of the trade.
  await page.locator('button[data-action=sync]').click();
  await page.locator('.sync').getByText('Gateway answered').waitFor();
  await shot('order');
  await page.locator('button[data-action=approveRefund]').click();
  await confirm();
  await page.locator('h1 [data-status=REFUNDED]').waitFor({ timeout: 5_000 });
  await cards.filter({ hasText: 'Status history' }).locator('[data-status=REFUNDED]').waitFor();
  step('approved the refund of the epay order: REFUNDED');

  // ---- to decide: reject the withdrawal
  await page.locator('header nav a[href="#/decide"]').click();
  const wd = row(fx.withdrawal.id);
  await wd.waitFor();
  await wd.getByText('30.00').waitFor();
  if (await row(fx.refund.id).count() !== 0) throw new Error('the refunded order is still listed to decide');
  await wd.locator('button[data-action=rejectWithdrawal]').click();
  // No reason: the dialog says one is needed and stays.
  await page.locator('dialog.ask[open] button[type=submit]').click();
  await page.locator('dialog.ask[open] .form-error').getByText('A reason is required').waitFor();
  await confirm('收款账户与实名不符');
  await wd.waitFor({ state: 'detached', timeout: 5_000 });
  step('rejected the withdrawal with a reason');

  // ---- to decide: the partial request, approved for less than asked
  await page.locator('header nav a[href="#/decide"]').click();
  await part.locator('button[data-action=approveRefund]').click();
  await page.locator('dialog.ask[open]').getByText('Blank: the 10.00 CNY asked.').waitFor();
  await confirm(undefined, '4.00');
  await part.waitFor({ state: 'detached', timeout: 5_000 });
  step('approved 4.00 of the 10.00 asked; the request is decided');
  // The order: still PAID, 4.00 refunded, no request waiting.
  await page.goto(base + '/admin#/orders/' + fx.partial.id);
  await page.locator('h1 [data-status=PAID]').waitFor();
  await page.locator('[data-refunded="4.00"]').getByText('4.00 CNY').waitFor();
  if (await page.locator('[data-requested]').count() !== 0) throw new Error('a decided request is still shown waiting');
  // Refunded unasked, in part: 1.50 more.
  await page.locator('button[data-action=refund]').click();
  await page.locator('dialog.ask[open]').getByText('Blank: all that is left.').waitFor();
  await confirm(undefined, '1.50');
  await page.locator('[data-refunded="5.50"]').waitFor({ timeout: 5_000 });
  await page.locator('h1 [data-status=PAID]').waitFor();
  step('refunded 1.50 more unasked: 5.50 refunded, still PAID');
  // Someone else refunds 0.50: the page follows, live.
  await page.evaluate(() => { window.notReloaded = true; });
  await api('mutation($id:ID!){approveRefund(orderId:$id,amount:"0.50",idempotencyKey:"elsewhere-1"){refundedAmount}}', { id: fx.partial.id }, login.token);
  await page.locator('[data-refunded="6.00"]').waitFor({ timeout: 5_000 });
  if (!(await page.evaluate(() => window.notReloaded))) throw new Error('the page reloaded');
  step('a refund of 0.50 made elsewhere shows 6.00 refunded, live');
  await page.goto(base + '/admin#/orders/' + fx.withdrawal.id);
  await page.locator('h1 [data-status=FAILED]').waitFor();
  await page.getByText('收款账户与实名不符').waitFor();

  // ---- the ledger
  await page.locator('header nav a[href="#/ledger"]').click();
  await page.locator('[data-ok=true]').getByText('The books balance').waitFor();
  await page.locator('tr[data-asset=CNY]').first().waitFor();
  // Found by name: one match opens the user.
  await page.locator('form.filters [name=q]').fill('BUY');
  await page.locator('form.filters button[type=submit]').click();
  await page.getByText('buyer (' + fx.buyerId + ')').waitFor();
  await page.locator('.summary').getByText('postings').waitFor();
  step('the ledger check says the books balance; the buyer\'s wallets and postings');
  await shot('ledger');

  // ---- apps
  await page.locator('header nav a[href="#/apps"]').click();
  const create = page.locator('form[name=create-app]');
  await create.locator('[name=name]').fill('Console Test Shop');
  await create.locator('button[type=submit]').click();
  const tok = page.locator('textarea[name=service-token]');
  await tok.waitFor();
  if (!/^ey[\w-]+\.[\w-]+\.[\w-]+$/.test(await tok.inputValue())) throw new Error('no SERVICE token shown');
  await page.locator('tr[data-app-id]').getByText('Console Test Shop').waitFor();
  await page.locator('form[name=pay-ways] tr.pay-way').first().waitFor();
  step('created an app; its SERVICE token is shown once');
  await shot('apps');

  // The default app's catalogue: change a price, sent as typed.
  await page.locator('tr[data-app-id="1"] a').click();
  await page.locator('tr[data-goods-id=vip] a').click();
  const goods = page.locator('form[name=upsert-goods]');
  await goods.locator('[name=singlePrice]').fill('35.50');
  await goods.locator('button[type=submit]').click();
  await page.locator('tr[data-goods-id=vip] td.num').getByText('35.50').waitFor();
  step('changed a goods price in the catalogue');

  // ---- 简体中文
  await page.locator('header select.lang').selectOption('zh-CN');
  await page.locator('header nav a[href="#/orders"]').getByText('订单').waitFor();
  await page.locator('header nav a[href="#/orders"]').click();
  await row(fx.refund.id).locator('[data-status=REFUNDED]').getByText('退款成功').waitFor();
  step('switched to 简体中文');
  await shot('orders-zh');

  await page.locator('header button[name=signout]').click();
  await page.locator('form[name=signin]').waitFor();
  if (await page.evaluate(() => sessionStorage.length) !== 0) throw new Error('the token outlived signing out');
  step('signed out');
} catch (err) {
  problems.push(err.message);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  for (const p of problems) console.error(`console.mjs: ${p}`);
  process.exit(1);
}
step('ok');
