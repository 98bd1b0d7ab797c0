// What an operator may do to an order, and how: each action is one
// mutation of the public API. Which buttons an order shows follows its
// type and status, only so that the page does not offer what the API
// would refuse anyway; the API alone decides.
import { gql } from './api.js';
import * as Q from './queries.js';
import { t, statusLabel } from './i18n.js';
import { ask, notify } from './ui.js';

const unpaid = ['PENDING', 'PROCESSING'];

// actionsFor returns [{name, label, kind, run}] for an order (with at
// least id, orderNo, type, status, amount, asset, refundedAmount,
// refundRequestedAmount, payerID, item, itemId).
export function actionsFor(o) {
  const out = [];
  if (o.status === 'REFUND_REQUESTED' || o.refundRequestedAmount != null) {
    out.push(approveRefund(o), rejectRefund(o));
  } else if (o.status === 'PAID' && o.type !== 'DEAL') {
    out.push(refund(o));
  }
  if (o.type === 'WITHDRAWAL' && o.status === 'PROCESSING') {
    out.push(completeWithdrawal(o), rejectWithdrawal(o));
  }
  if (o.type !== 'WITHDRAWAL' && unpaid.includes(o.status) && o.payerID) {
    out.push({
      name: 'cancelOrder', label: t('act.cancelOrder'), kind: 'danger',
      run: () => confirmThen(t('act.cancelOrder'), t('ask.cancelOrder', { no: o.orderNo }), () =>
        gql(Q.CANCEL_ORDER, { input: { userId: o.payerID, order: o.orderNo } }).then((d) => d.cancelOrder)),
    });
  }
  if (o.type === 'CONSUME' && o.status === 'PAID') {
    out.push({
      name: 'markDelivered', label: t('act.markDelivered'), kind: 'primary',
      run: () => confirmThen(t('act.markDelivered'), t('ask.markDelivered', { no: o.orderNo }), () =>
        gql(Q.MARK_DELIVERED, { orderId: o.id }).then((d) => d.markDelivered)),
    });
    out.push({
      name: 'markDeliveryFailed', label: t('act.markDeliveryFailed'), kind: 'danger',
      run: () => withReason(t('act.markDeliveryFailed'), t('ask.markDeliveryFailed', { no: o.orderNo }), (reason) =>
        gql(Q.MARK_DELIVERY_FAILED, { orderId: o.id, reason }).then((d) => d.markDeliveryFailed)),
    });
  }
  if (o.type === 'GOODS' && o.status === 'PAID' && o.payerID && o.item) {
    out.push({
      name: 'verifyGoods', label: t('act.verifyGoods'), kind: 'primary',
      run: () => confirmThen(t('act.verifyGoods'), t('ask.verifyGoods', { no: o.orderNo }), () =>
        gql(Q.VERIFY_GOODS, { input: { userId: o.payerID, item: o.item, itemId: o.itemId || null, order: o.orderNo } })
          .then((d) => d.verifyOrder.order)),
    });
  }
  if (o.type === 'DEAL' && o.status === 'PAID') {
    out.push({
      name: 'confirmDeal', label: t('act.confirmDeal'), kind: 'primary',
      run: () => confirmThen(t('act.confirmDeal'), t('ask.confirmDeal', { no: o.orderNo }), () =>
        gql(Q.CONFIRM_DEAL, { orderId: o.id }).then((d) => d.confirmOrder)),
    });
  }
  return out;
}

// approveRefund decides a refund request: one for all that is left
// (REFUND_REQUESTED) is refunded whole; of a waiting partial request the
// operator may give back less than asked (blank: what was asked).
export function approveRefund(o) {
  const part = o.status !== 'REFUND_REQUESTED';
  return {
    name: 'approveRefund', label: t('act.approveRefund'), kind: 'primary',
    run: () => refundThen(o, t('act.approveRefund'),
      part ? t('ask.approvePartialRefund', { no: o.orderNo, asked: o.refundRequestedAmount, asset: o.asset }) : t('ask.approveRefund', { no: o.orderNo }),
      part ? t('amount.blankAsked', { asked: o.refundRequestedAmount, asset: o.asset }) : null),
  };
}

// refund gives back, unasked, all that is left of a paid order or (typed)
// a part of it.
export function refund(o) {
  return {
    name: 'refund', label: t('act.refund'), kind: 'danger',
    run: () => refundThen(o, t('act.refund'), t('ask.refund', { no: o.orderNo, amount: o.amount, refunded: o.refundedAmount, asset: o.asset }),
      t('amount.blankLeft')),
  };
}

// refundThen confirms a refund (with an amount when amountHint says what
// a blank one means) and sends approveRefund with an idempotency key made
// for this click: whatever sends this decision again (a second click that
// got through, a resent request) replays the first result instead of
// refunding twice. The amount goes as typed; the API checks it.
async function refundThen(o, title, message, amountHint) {
  const idempotencyKey = newKey();
  const ok = await ask({ title, message, amount: amountHint || undefined, confirm: title });
  if (!ok) return null;
  const vars = { orderId: o.id, idempotencyKey };
  if (ok.amount) vars.amount = ok.amount;
  const r = await gql(Q.APPROVE_REFUND, vars).then((d) => d.approveRefund);
  if (r) notify('ok', t('refundDone', { refunded: r.refundedAmount, asset: o.asset, status: statusLabel(r.status) }));
  return r;
}

// newKey is 128 random bits in hex (crypto.getRandomValues works where
// crypto.randomUUID does not: a page served over plain HTTP).
function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return 'console-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function rejectRefund(o) {
  return {
    name: 'rejectRefund', label: t('act.rejectRefund'), kind: 'danger',
    run: () => withReason(t('act.rejectRefund'), t('ask.rejectRefund', { no: o.orderNo }), (reason) =>
      gql(Q.REJECT_REFUND, { orderId: o.id, reason }).then((d) => d.rejectRefund)),
  };
}

export function completeWithdrawal(o) {
  return {
    name: 'completeWithdrawal', label: t('act.completeWithdrawal'), kind: 'primary',
    run: () => confirmThen(t('act.completeWithdrawal'), t('ask.completeWithdrawal', { no: o.orderNo }), () =>
      gql(Q.COMPLETE_WITHDRAWAL, { orderId: o.id }).then((d) => d.completeWithdrawal)),
  };
}

export function rejectWithdrawal(o) {
  return {
    name: 'rejectWithdrawal', label: t('act.rejectWithdrawal'), kind: 'danger',
    run: () => withReason(t('act.rejectWithdrawal'), t('ask.rejectWithdrawal', { no: o.orderNo }), (reason) =>
      gql(Q.REJECT_WITHDRAWAL, { orderId: o.id, reason }).then((d) => d.rejectWithdrawal)),
  };
}

async function confirmThen(title, message, run) {
  const ok = await ask({ title, message, confirm: title });
  if (!ok) return null;
  return done(await run());
}

async function withReason(title, message, run) {
  const ok = await ask({ title, message, reason: true, confirm: title, danger: true });
  if (!ok) return null;
  return done(await run(ok.reason));
}

function done(o) {
  if (o) notify('ok', t('done', { status: statusLabel(o.status) }));
  return o;
}
