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
// least id, orderNo, type, status, payerID, item, itemId).
export function actionsFor(o) {
  const out = [];
  if (o.status === 'REFUND_REQUESTED') {
    out.push(approveRefund(o), rejectRefund(o));
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

export function approveRefund(o) {
  return {
    name: 'approveRefund', label: t('act.approveRefund'), kind: 'primary',
    run: () => confirmThen(t('act.approveRefund'), t('ask.approveRefund', { no: o.orderNo }), () =>
      gql(Q.APPROVE_REFUND, { orderId: o.id }).then((d) => d.approveRefund)),
  };
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
