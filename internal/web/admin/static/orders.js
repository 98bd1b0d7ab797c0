// Orders: the list with the API's `where` filters and Relay paging.
// The filters and the page's cursor live in the URL (#/orders?status=…),
// so a view can be reloaded, bookmarked and shared.
import { gql } from './api.js';
import { ORDERS, ORDER_BY_NO } from './queries.js';
import { t, statusLabel, typeLabel, STATUSES, TYPES } from './i18n.js';
import { h, fill, money, time, status, userRef, orderLink, table, notify, errorText, formValues } from './ui.js';

const SIZES = ['20', '50', '100'];

// where builds OrderWhereInput from the URL's filters.
export function where(q) {
  const w = {};
  if (q.get('status')) w.status = q.get('status');
  if (q.get('type')) w.type = q.get('type');
  if (q.get('app')) w.appID = q.get('app');
  if (q.get('payer')) w.payerID = q.get('payer');
  if (q.get('no')) w.orderNoContains = q.get('no');
  // datetime-local values are the browser's local time.
  if (q.get('from')) w.createdAtGTE = new Date(q.get('from')).toISOString();
  if (q.get('to')) w.createdAtLTE = new Date(q.get('to')).toISOString();
  return w;
}

export async function render(root, { query, go }) {
  // The API gives at most 100 a page.
  const asked = Number.parseInt(query.get('size') || '20', 10);
  const size = asked >= 1 && asked <= 100 ? asked : 20;
  const sizes = SIZES.includes(String(size)) ? SIZES : [String(size), ...SIZES];
  const vars = { where: where(query) };
  if (query.get('before')) Object.assign(vars, { last: size, before: query.get('before') });
  else Object.assign(vars, { first: size, after: query.get('after') || null });

  const sel = (name, options, label, word) => h('label', {}, label,
    h('select', { name }, h('option', { value: '' }, t('all')),
      options.map((o) => h('option', { value: o, selected: query.get(name) === o }, word(o)))));
  const input = (name, label, attrs = {}) => h('label', {}, label, h('input', { name, value: query.get(name) || '', ...attrs }));

  const form = h('form', { class: 'filters', role: 'search' },
    input('no', t('orderNoSearch'), { type: 'search', placeholder: t('orderNoHint'), autocomplete: 'off' }),
    sel('status', STATUSES, t('status'), statusLabel),
    sel('type', TYPES, t('type'), typeLabel),
    input('app', t('appId'), { inputmode: 'numeric', size: 8 }),
    input('payer', t('payerId'), { inputmode: 'numeric', size: 12 }),
    input('from', t('createdFrom'), { type: 'datetime-local', step: 1 }),
    input('to', t('createdTo'), { type: 'datetime-local', step: 1 }),
    h('label', {}, t('pageSize'), h('select', { name: 'size' }, sizes.map((s) => h('option', { value: s, selected: String(size) === s }, s)))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, t('filter')),
      h('button', { type: 'button', class: 'secondary', onclick: () => go('#/orders') }, t('reset')),
      h('button', { type: 'button', class: 'secondary', name: 'open', onclick: openByNo }, t('openOrderNo'))));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formValues(form);
    const q = new URLSearchParams();
    for (const k of ['no', 'status', 'type', 'app', 'payer', 'from', 'to']) if (v[k]) q.set(k, v[k]);
    if (v.size && v.size !== '20') q.set('size', v.size);
    go('#/orders' + (q.toString() ? '?' + q : ''));
  });

  // The order number typed exactly: straight to its page.
  async function openByNo() {
    const no = form.elements.no.value.trim();
    if (!no) return;
    try {
      const d = await gql(ORDER_BY_NO, { orderNo: no });
      go('#/orders/' + encodeURIComponent(d.order.id));
    } catch (e) {
      notify('error', errorText(e));
    }
  }

  const list = h('div', { class: 'list', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('loading')));
  root.append(h('h1', {}, t('orders')), h('section', { class: 'card' }, form), list);

  async function load() {
    const d = await gql(ORDERS, vars);
    const c = d.orders;
    const rows = c.edges.map(({ node: o }) => h('tr', { dataset: { orderId: o.id, orderNo: o.orderNo } },
      h('td', {}, orderLink(o)),
      h('td', {}, typeLabel(o.type)),
      h('td', { class: 'status-cell' }, status(o.status)),
      h('td', { class: 'num' }, money(o.amount, o.asset)),
      h('td', {}, o.title || ''),
      h('td', {}, userRef(o.payer, o.payerID)),
      h('td', {}, h('a', { href: '#/apps?app=' + encodeURIComponent(o.appID) }, o.app ? o.app.name : o.appID)),
      h('td', {}, time(o.createdAt)),
      h('td', {}, time(o.updatedAt))));
    const pager = (cursorKey, cursor, label, enabled) => {
      if (!enabled) return h('button', { type: 'button', class: 'secondary', disabled: true }, label);
      const q = new URLSearchParams(query);
      q.delete('after');
      q.delete('before');
      q.set(cursorKey, cursor);
      return h('a', { class: 'button secondary', href: '#/orders?' + q, rel: cursorKey === 'after' ? 'next' : 'prev' }, label);
    };
    // With `last`/`before`, hasNextPage is not computed by Relay: there
    // are newer pages exactly when we came back from one.
    const back = !!query.get('before');
    fill(list,
      h('p', { class: 'summary' }, t('ordersFound', { n: c.totalCount })),
      table([t('orderNo'), t('type'), t('status'), t('amount'), t('title'), t('payer'), t('app'), t('created'), t('updated')], rows, t('noOrders')),
      h('nav', { class: 'pager' },
        pager('before', c.pageInfo.startCursor, t('newer'), back ? c.pageInfo.hasPreviousPage : !!query.get('after')),
        pager('after', c.pageInfo.endCursor, t('older'), back ? true : c.pageInfo.hasNextPage)));
  }
  await load();
  // Live: any order changing reloads the page shown (quietly, in place).
  return { wants: () => true, reload: load };
}
