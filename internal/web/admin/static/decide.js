// What waits for an operator: refund requests (for all that is left, or
// a part while the order keeps its status), withdrawals to pay out or
// refuse, and callbacks paygraph could not apply (money a provider took
// for an order that could no longer be paid, and callbacks that failed
// verification), each with what to do about it.
import { gql } from './api.js';
import { DECIDE } from './queries.js';
import { t, typeLabel } from './i18n.js';
import { h, fill, money, time, status, userRef, orderLink, table, section, action } from './ui.js';
import { approveRefund, rejectRefund, completeWithdrawal, rejectWithdrawal } from './actions.js';

export async function render(root) {
  const body = h('div');
  root.append(h('h1', {}, t('decide')), body);

  const buttons = (list) => h('div', { class: 'actions' }, list.map((a) => action(a.label, async () => {
    if (await a.run()) await load();
  }, { kind: a.kind, name: a.name })));

  async function load() {
    const d = await gql(DECIDE);
    const refunds = d.refunds.edges.map(({ node: o }) => h('tr', { dataset: { orderId: o.id, orderNo: o.orderNo } },
      h('td', {}, orderLink(o)),
      h('td', {}, typeLabel(o.type)),
      h('td', {}, status(o.status)),
      h('td', { class: 'num' }, money(o.amount, o.asset)),
      h('td', { class: 'num', dataset: { refunded: o.refundedAmount } }, money(o.refundedAmount, o.asset)),
      // A request for all that is left has no amount of its own.
      h('td', { class: 'num', dataset: { requested: o.refundRequestedAmount ?? '' } },
        o.refundRequestedAmount != null ? money(o.refundRequestedAmount, o.asset) : h('span', { class: 'muted' }, t('allThatIsLeft'))),
      h('td', {}, userRef(o.payer)),
      h('td', {}, o.app ? o.app.name : ''),
      h('td', {}, o.refundReason || ''),
      h('td', {}, [o.channel || o.payWay, o.providerTradeNo].filter(Boolean).join(' · ')),
      h('td', {}, time(o.updatedAt)),
      h('td', {}, buttons([approveRefund(o), rejectRefund(o)]))));
    const withdrawals = d.withdrawals.edges.map(({ node: o }) => h('tr', { dataset: { orderId: o.id, orderNo: o.orderNo } },
      h('td', {}, orderLink(o)),
      h('td', { class: 'num' }, money(o.amount, o.asset)),
      h('td', {}, userRef(o.payer)),
      h('td', {}, o.alipayNo || ''),
      h('td', {}, o.alipayName || ''),
      h('td', {}, time(o.createdAt)),
      h('td', {}, buttons([completeWithdrawal(o), rejectWithdrawal(o)]))));
    const callbacks = d.callbacks.edges.map(({ node: c }) => h('tr', { dataset: { callbackId: c.id, verdict: c.verdict } },
      h('td', {}, time(c.receivedAt)),
      h('td', {}, c.provider),
      h('td', {}, h('span', { class: 'verdict verdict-' + c.verdict }, c.verdict)),
      h('td', {}, c.order ? [orderLink(c.order), ' ', status(c.order.status), ' ', money(c.order.amount, c.order.asset)] : h('span', { class: 'muted' }, t('noOrder'))),
      h('td', {}, [c.providerEventID, c.error].filter(Boolean).join(' — ')),
      h('td', { class: 'advice' }, advice(c)),
      h('td', {}, h('details', {}, h('summary', {}, c.remoteAddr), h('pre', {}, c.body)))));

    fill(body,
      section(t('refundRequests') + ` (${d.refunds.totalCount})`,
        h('p', { class: 'help' }, t('help.refunds')),
        table([t('orderNo'), t('type'), t('status'), t('amount'), t('refunded'), t('refundAsked'), t('payer'), t('app'), t('refundReason'), t('provider'), t('asked'), ''], refunds, t('noRefunds'))),
      section(t('withdrawals') + ` (${d.withdrawals.totalCount})`,
        h('p', { class: 'help' }, t('help.withdrawals')),
        table([t('orderNo'), t('amount'), t('payer'), t('alipayNo'), t('alipayName'), t('asked'), ''], withdrawals, t('noWithdrawals'))),
      section(t('callbacksToCheck') + ` (${d.callbacks.totalCount})`,
        h('p', { class: 'help' }, t('help.callbacks')),
        table([t('received'), t('provider'), t('verdict'), t('order'), t('detail'), t('whatToDo'), t('raw')], callbacks, t('noCallbacksToCheck'))));
  }

  await load();
  return { wants: () => true, reload: load };
}

// advice says what to do about a callback paygraph did not apply.
function advice(c) {
  if (c.verdict === 'NEEDS_REFUND') {
    return t('advice.needsRefund', { provider: c.provider, trade: c.providerEventID || c.order?.providerTradeNo || '?' });
  }
  return t('advice.rejected', { provider: c.provider });
}
