// Small DOM helpers. Everything is built with createElement and
// textContent, never parsed as HTML, so text from the API (titles, callback
// bodies, reasons) is always shown as text.
import { t, lang, statusLabel } from './i18n.js';

// h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// fill replaces el's children; like h, it skips null, false and
// undefined, and flattens arrays.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// An amount exactly as the API gave it (a decimal string), with its asset.
// It is never turned into a number.
export function money(amount, asset) {
  if (amount === null || amount === undefined) return h('span', { class: 'muted' }, '—');
  const neg = String(amount).startsWith('-');
  return h('span', { class: 'money' + (neg ? ' neg' : '') }, String(amount), asset ? h('span', { class: 'asset' }, ' ' + asset) : null);
}

// A time in the browser's zone and language; the exact instant (UTC) in
// the tooltip.
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(iso));
  const text = new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
  return h('time', { datetime: iso, title: d.toISOString() }, text);
}

export function status(s) {
  return h('span', { class: 'status status-' + s, dataset: { status: s } }, statusLabel(s));
}

export function userRef(user, id) {
  if (!user && !id) return h('span', { class: 'muted' }, '—');
  const uid = user ? user.id : id;
  return h('a', { href: '#/ledger?user=' + encodeURIComponent(uid), title: 'id ' + uid }, user ? user.username : uid);
}

export function orderLink(o) {
  return h('a', { href: '#/orders/' + encodeURIComponent(o.id), class: 'order-no' }, o.orderNo || o.id);
}

// A definition list: [[label, value], …]; empty values are left out.
export function fields(rows) {
  return h('dl', { class: 'fields' }, rows.filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== '').map(([k, v]) => [
    h('dt', {}, k),
    h('dd', {}, v),
  ]));
}

// table: a header's column is aligned as the first row's cell is (amounts
// to the right).
export function table(headers, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty || t('none'));
  const cells = rows[0].children;
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { class: cells[i]?.className || null }, x)))),
    h('tbody', {}, rows),
  ));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

// Messages at the top of the page: errors stay until closed, the rest fade.
export function notify(kind, text) {
  const box = document.getElementById('notices');
  if (!box) return;
  const n = h('div', { class: 'notice notice-' + kind, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, text),
    h('button', { type: 'button', class: 'link', 'aria-label': t('close'), onclick: () => n.remove() }, '×'));
  box.appendChild(n);
  if (kind !== 'error') setTimeout(() => n.remove(), 6000);
}

export function errorText(err) {
  if (err && err.code) return `${err.code}: ${err.message}`;
  return String(err && err.message ? err.message : err);
}

// ask opens a modal dialog. With reason: true the operator must type a
// reason (the API requires one); with amount: 'what a blank means' the
// operator may type an amount, sent as typed (the API checks it);
// resolves to {reason, amount} (amount null when left blank) or null if
// cancelled.
export function ask({ title, message, reason = false, amount, confirm, danger = false }) {
  return new Promise((resolve) => {
    const input = reason ? h('textarea', { name: 'reason', required: true, maxLength: 255, rows: 3 }) : null;
    const amountInput = amount ? h('input', { name: 'amount', type: 'text', inputMode: 'decimal', autocomplete: 'off', placeholder: amount }) : null;
    const err = h('p', { class: 'form-error', hidden: true }, t('reasonRequired'));
    // Checked here, not by the browser, so the message is in the console's language.
    const form = h('form', { method: 'dialog', noValidate: true },
      h('h2', {}, title),
      message ? h('p', {}, message) : null,
      input ? h('label', {}, t('reason'), input) : null,
      amountInput ? h('label', {}, t('refundAmount'), amountInput, h('span', { class: 'help' }, amount)) : null,
      err,
      h('div', { class: 'actions' },
        h('button', { type: 'button', value: 'cancel', class: 'secondary', onclick: () => dlg.close('cancel') }, t('cancel')),
        h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, confirm || t('confirm'))),
    );
    const dlg = h('dialog', { class: 'ask' }, form);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (input && input.value.trim() === '') {
        err.hidden = false;
        input.focus();
        return;
      }
      dlg.close('ok');
    });
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok';
      const value = input ? input.value.trim() : undefined;
      const typed = amountInput ? amountInput.value.trim() || null : undefined;
      dlg.remove();
      resolve(ok ? { reason: value, amount: typed } : null);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    (input || amountInput || form.querySelector('button[type=submit]')).focus();
  });
}

// A button that runs an async action once at a time.
export function action(label, run, { kind = 'secondary', name } = {}) {
  const b = h('button', { type: 'button', class: kind, dataset: name ? { action: name } : undefined });
  b.textContent = label;
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    try {
      await run();
    } catch (e) {
      notify('error', errorText(e));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// Reads a form's named inputs into an object of trimmed strings.
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  }
  return out;
}
