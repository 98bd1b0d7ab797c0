// One order: what it is, its items, its history, its ledger postings, its
// provider trade, the callbacks received for it, and the actions its
// status allows.
import { gql } from './api.js';
import { ORDER, ORDER_SYNC } from './queries.js';
import { t, typeLabel } from './i18n.js';
import { h, fill, money, time, status, userRef, fields, table, section, action } from './ui.js';
import { actionsFor } from './actions.js';

export async function render(root, { id }) {
  const head = h('div');
  const body = h('div');
  root.append(h('p', {}, h('a', { href: '#/orders' }, '← ' + t('orders'))), head, body);

  async function load() {
    const d = await gql(ORDER, { id });
    const o = d.order;
    fill(head,
      h('h1', {}, t('order'), ' ', h('span', { class: 'order-no' }, o.orderNo), ' ', status(o.status)),
      h('div', { class: 'actions order-actions' },
        actionsFor(o).map((a) => action(a.label, async () => {
          if (await a.run()) await load();
        }, { kind: a.kind, name: a.name }))));

    const items = (list, paid) => list.length === 0 ? null : table(
      paid ? [t('itemId'), t('asset'), t('amount'), t('paid'), t('refunded'), t('unlocked'), t('payType')]
        : [t('itemId'), t('asset'), t('amount'), t('payType')],
      list.map((i) => h('tr', {}, h('td', {}, i.itemId), h('td', {}, i.tokenId), h('td', { class: 'num' }, money(i.amount)),
        paid ? [h('td', { class: 'num' }, money(i.paidAmount)), h('td', { class: 'num' }, money(i.refundedAmount)), h('td', { class: 'num' }, money(i.unlockedAmount))] : null,
        h('td', {}, i.payType))));
    const goods = o.goods.length === 0 ? null : table([t('goodsId'), t('item'), t('title'), t('num'), t('singlePrice'), t('amount')],
      o.goods.map((g) => h('tr', {}, h('td', {}, g.goodsId), h('td', {}, g.item), h('td', {}, g.title || ''), h('td', { class: 'num' }, String(g.num)),
        h('td', { class: 'num' }, money(g.singlePrice, g.asset)), h('td', { class: 'num' }, money(g.amount, g.asset)))));

    const provider = h('div', {},
      fields([
        [t('payWay'), o.payWay],
        [t('channel'), o.channel],
        [t('providerTradeNo'), o.providerTradeNo],
      ]));
    provider.append(h('div', { class: 'actions' }, action(t('syncProvider'), async () => {
      const s = (await gql(ORDER_SYNC, { id })).order;
      const p = s.providerInfo;
      provider.querySelector('.sync')?.remove();
      provider.append(h('div', { class: 'sync' },
        s.synced && p ? fields([
          [t('synced'), t('yes')],
          [t('tradeNo'), p.tradeNo], [t('apiTradeNo'), p.apiTradeNo],
          [t('providerStatus'), `${p.status}${p.statusText ? ' ' + p.statusText : ''}`],
          [t('money'), p.money], [t('payType'), p.type], [t('addtime'), p.addtime], [t('endtime'), p.endtime],
        ]) : h('p', { class: 'muted' }, t('notSynced'))));
      if (s.status !== o.status) await load();
    }, { name: 'sync' })));

    const entries = d.walletEntries.edges.map(({ node: e }) => h('tr', {},
      h('td', {}, time(e.createdAt)),
      h('td', {}, e.kind),
      h('td', {}, e.wallet?.user ? userRef(e.wallet.user) : e.account),
      h('td', {}, e.bucket),
      h('td', { class: 'num' }, money(e.amount, e.asset)),
      h('td', { class: 'num' }, money(e.balanceAfter)),
      h('td', {}, e.memo || '')));
    const callbacks = d.callbackEvents.edges.map(({ node: c }) => h('tr', {},
      h('td', {}, time(c.receivedAt)),
      h('td', {}, c.provider),
      h('td', {}, h('span', { class: 'verdict verdict-' + c.verdict }, c.verdict)),
      h('td', {}, c.providerEventID || ''),
      h('td', {}, c.error || ''),
      h('td', {}, c.remoteAddr),
      h('td', {}, h('details', {}, h('summary', {}, c.method), h('pre', {}, c.headers), h('pre', {}, c.body)))));

    fill(body,
      h('div', { class: 'grid' },
        section(t('summary'), fields([
          [t('id'), o.id],
          [t('type'), typeLabel(o.type)],
          [t('status'), h('span', {}, status(o.status), ' ', h('span', { class: 'muted' }, o.statusDesc, o.legacyStatus !== null ? ` (${o.legacyStatus})` : ''))],
          [t('amount'), money(o.amount, o.asset)],
          [t('refunded'), h('span', { dataset: { refunded: o.refundedAmount } }, money(o.refundedAmount, o.asset))],
          [t('refundAsked'), o.refundRequestedAmount != null
            ? h('span', { dataset: { requested: o.refundRequestedAmount } }, money(o.refundRequestedAmount, o.asset)) : null],
          [t('title'), o.title],
          [t('desc'), o.desc],
          [t('app'), h('a', { href: '#/apps?app=' + encodeURIComponent(o.appID) }, `${o.app.name} (${o.appID})`)],
          // An order with no payer or payee has the id "0".
          [t('payer'), party(o.payer, o.payerID)],
          [t('payee'), party(o.payee, o.payeeID)],
          [t('clientOrderId'), o.clientOrderId],
          [t('points'), o.points !== null ? String(o.points) : null],
          [t('item'), o.item ? `${o.item}${o.itemId ? ' (' + o.itemId + ')' : ''}` : null],
          [t('alipay'), o.alipayNo ? `${o.alipayNo} ${o.alipayName || ''}` : null],
          [t('refundReason'), o.refundReason],
          [t('comment'), o.comment ? `${o.comment}${o.score !== null ? ' (' + o.score + ')' : ''}` : null],
          [t('returnUrl'), o.returnUrl],
          [t('extendInfo'), o.extendInfo ? h('code', {}, o.extendInfo) : null],
          [t('created'), time(o.createdAt)],
          [t('updated'), time(o.updatedAt)],
          [t('expires'), o.expiresAt ? time(o.expiresAt) : null],
          [t('paidAt'), o.paidAt ? time(o.paidAt) : null],
          [t('completedAt'), o.completedAt ? time(o.completedAt) : null],
          [t('autoConfirmAt'), o.autoConfirmAt ? time(o.autoConfirmAt) : null],
        ])),
        section(t('provider'), provider)),
      (o.payInfo.length || o.productInfo.length || o.goods.length) ? section(t('items'),
        items(o.payInfo, true) ? [h('h3', {}, t('payInfo')), items(o.payInfo, true)] : null,
        items(o.productInfo, false) ? [h('h3', {}, t('productInfo')), items(o.productInfo, false)] : null,
        goods) : null,
      section(t('history'), table([t('at'), t('from'), t('to'), t('actor'), t('reason')],
        (o.events || []).map((e) => h('tr', {}, h('td', {}, time(e.at)), h('td', {}, e.from ? status(e.from) : '—'), h('td', {}, status(e.to)),
          h('td', {}, e.actor), h('td', {}, e.reason || ''))), t('noHistory'))),
      section(t('postings') + ` (${d.walletEntries.totalCount})`, table([t('at'), t('kind'), t('account'), t('bucket'), t('amount'), t('balanceAfter'), t('memo')], entries, t('noPostings'))),
      section(t('callbacks') + ` (${d.callbackEvents.totalCount})`, table([t('received'), t('provider'), t('verdict'), t('providerEventId'), t('error'), t('remoteAddr'), t('raw')], callbacks, t('noCallbacks'))));
  }
  await load();
  return { wants: (e) => e.orderID === id, reload: load };
}

function party(user, id) {
  if (user) return userRef(user);
  return id && id !== '0' ? userRef(null, id) : null;
}
