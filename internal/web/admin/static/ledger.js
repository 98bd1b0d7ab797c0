// The ledger: the API's own check of the books (ledgerCheck), and a
// user's wallets and postings, the user found by name or id.
import { gql } from './api.js';
import { LEDGER_CHECK, USERS, USER_WALLETS, WALLET_ENTRIES } from './queries.js';
import { t } from './i18n.js';
import { h, fill, money, time, userRef, fields, table, section, action, formValues } from './ui.js';

const PAGE = 50;

export async function render(root, { query, go }) {
  const check = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const userId = query.get('user') || '';
  const search = query.get('q') || '';
  const lookup = h('form', { class: 'filters', role: 'search' },
    h('label', {}, t('findUser'), h('input', { name: 'q', value: search, type: 'search', required: true, autocomplete: 'off' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('lookUp'))));
  lookup.addEventListener('submit', (e) => {
    e.preventDefault();
    go('#/ledger?q=' + encodeURIComponent(formValues(lookup).q));
  });
  const found = h('div');
  const wallet = h('div');
  root.append(h('h1', {}, t('ledger')),
    section(t('ledgerCheck'), check),
    section(t('walletLookup'), h('p', { class: 'help' }, t('help.walletLookup')), lookup, found, wallet));

  async function runCheck() {
    const c = (await gql(LEDGER_CHECK)).ledgerCheck;
    const walletRows = (list) => list.map((w) => h('tr', {}, h('td', {}, userRef(w.user)), h('td', {}, w.asset),
      h('td', { class: 'num' }, money(w.available)), h('td', { class: 'num' }, money(w.escrow))));
    const ids = (list) => list.length === 0 ? h('span', { class: 'muted' }, t('none')) : list.join(', ');
    fill(check,
      h('p', { class: 'verdict-line ' + (c.ok ? 'ok' : 'bad'), dataset: { ok: String(c.ok) } }, c.ok ? t('ledgerOk') : t('ledgerBad')),
      table([t('asset'), t('sum')], c.assets.map((a) => h('tr', { dataset: { asset: a.asset } },
        h('td', {}, a.asset), h('td', { class: 'num' }, money(a.sum)))), t('noAssets')),
      c.negativeWallets.length ? [h('h3', {}, t('negativeWallets')), table([t('user'), t('asset'), t('available'), t('escrow')], walletRows(c.negativeWallets))] : null,
      c.mismatchedWallets.length ? [h('h3', {}, t('mismatchedWallets')), table([t('user'), t('asset'), t('available'), t('escrow')], walletRows(c.mismatchedWallets))] : null,
      fields([[t('unbalancedJournals'), ids(c.unbalancedJournals)],
        [t('unbackedOrders'), c.unbackedOrders.length === 0 ? ids([]) : c.unbackedOrders.map((id) => [h('a', { href: '#/orders/' + id }, id), ' '])]]),
      h('div', { class: 'actions' }, action(t('checkAgain'), runCheck, { name: 'check' })));
  }

  async function showUser(id) {
    const d = await gql(USER_WALLETS, { userId: id });
    const u = d.user;
    const entries = h('div');
    fill(wallet,
      fields([[t('user'), `${u.username} (${u.id})`], [t('role'), u.role], [t('nickname'), u.nickname], [t('email'), u.email], [t('mobile'), u.mobile], [t('created'), time(u.createdAt)]]),
      h('p', {}, h('a', { href: '#/orders?payer=' + encodeURIComponent(u.id) }, t('ordersOfUser'))),
      h('h3', {}, t('wallets')),
      table([t('asset'), t('available'), t('escrow'), t('withdrawable'), t('updated')], d.wallets.map((w) => h('tr', { dataset: { asset: w.asset } },
        h('td', {}, w.asset), h('td', { class: 'num' }, money(w.available)), h('td', { class: 'num' }, money(w.escrow)),
        h('td', { class: 'num' }, money(w.withdrawable)), h('td', {}, time(w.updatedAt)))), t('noWallets')),
      h('h3', {}, t('entries')),
      entries);
    if (d.wallets.length === 0) return;
    const ids = d.wallets.map((w) => w.id);
    const assetOf = Object.fromEntries(d.wallets.map((w) => [w.id, w.asset]));
    const tbody = h('tbody');
    const more = h('div', { class: 'actions' });
    const count = h('p', { class: 'summary' });
    fill(entries, count, h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, [t('at'), t('kind'), t('bucket'), t('amount'), t('balanceAfter'), t('order'), t('memo')].map((x, i) => h('th', { class: i === 3 || i === 4 ? 'num' : null }, x)))),
      tbody)), more);
    async function page(after) {
      const c = (await gql(WALLET_ENTRIES, { walletIds: ids, first: PAGE, after })).walletEntries;
      count.textContent = t('entriesFound', { n: c.totalCount });
      for (const { node: e } of c.edges) {
        tbody.append(h('tr', {}, h('td', {}, time(e.createdAt)), h('td', {}, e.kind), h('td', {}, e.bucket),
          h('td', { class: 'num' }, money(e.amount, e.asset || assetOf[e.walletID])), h('td', { class: 'num' }, money(e.balanceAfter)),
          h('td', {}, e.order ? h('a', { href: '#/orders/' + e.order.id }, e.order.orderNo) : ''), h('td', {}, e.memo || '')));
      }
      fill(more, c.pageInfo.hasNextPage ? action(t('more'), () => page(c.pageInfo.endCursor)) : '');
    }
    await page(null);
  }

  // Users whose name contains the text, and the user of that id.
  async function findUsers(q) {
    const or = [{ usernameContainsFold: q }, { nicknameContainsFold: q }];
    if (/^[0-9]{1,19}$/.test(q)) or.push({ id: q });
    const c = (await gql(USERS, { where: { or } })).users;
    if (c.edges.length === 1) return showUser(c.edges[0].node.id);
    fill(found,
      h('p', { class: 'summary' }, t('usersFound', { n: c.totalCount })),
      table([t('user'), t('nickname'), t('role'), t('created')], c.edges.map(({ node: u }) => h('tr', { dataset: { userId: u.id } },
        h('td', {}, h('a', { href: '#/ledger?user=' + encodeURIComponent(u.id) }, `${u.username} (${u.id})`)),
        h('td', {}, u.nickname || ''), h('td', {}, u.role), h('td', {}, time(u.createdAt)))), t('noUsers')));
  }

  await Promise.all([runCheck(), userId ? showUser(userId) : search ? findUsers(search) : null]);
  return {};
}
