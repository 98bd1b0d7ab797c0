// The console's shell: sign-in, the navigation, the router (#/orders,
// #/orders/ID, #/decide, #/ledger, #/apps) and the live connection that
// tells the page shown about order changes.
import { gql, token, setToken, whenUnauthenticated, Live } from './api.js';
import { LOGIN, VIEWER, ORDER_EVENTS } from './queries.js';
import { t, lang, setLang, LANGS } from './i18n.js';
import { h, fill, notify, errorText, formValues } from './ui.js';
import * as orders from './orders.js';
import * as order from './order.js';
import * as decide from './decide.js';
import * as ledger from './ledger.js';
import * as apps from './apps.js';

const app = document.getElementById('app');
let viewer = null; // {id, username} of the signed-in ADMIN
let current = null; // what the shown page returned: {wants(event), reload()}
let renderSeq = 0;
let liveState = 'offline';
let lastEvent = '';

let dropped = false; // the socket was live and went away
const live = new Live((state) => {
  if (liveState === 'live' && state !== 'live') dropped = true;
  liveState = state;
  const el = document.getElementById('live');
  if (el) showLive(el);
  // Events are not replayed: after a reconnect, reload what is shown.
  if (state === 'live' && dropped) {
    dropped = false;
    refresh();
  }
});

// refresh reloads the page shown after order events, coalesced: at most
// one reload at a time, a quarter second after the first event of a
// burst, and none while the tab is hidden (it reloads when shown again).
let refreshTimer = null;
let refreshing = false;
let again = false;
let stale = false;
function refresh() {
  if (document.hidden) {
    stale = true;
    return;
  }
  if (refreshing) {
    again = true;
    return;
  }
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const page = current;
    if (!page?.reload) return;
    refreshing = true;
    try {
      await page.reload();
    } catch (e) {
      notify('error', errorText(e));
    } finally {
      refreshing = false;
    }
    if (again) {
      again = false;
      refresh();
    }
  }, 250);
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && stale) {
    stale = false;
    refresh();
  }
});

function showLive(el) {
  el.className = 'live live-' + liveState;
  el.dataset.state = liveState;
  el.textContent = t('live.' + liveState);
  el.title = lastEvent ? t('lastEvent', { at: lastEvent }) : '';
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

whenUnauthenticated(() => {
  signOut();
  notify('error', t('sessionEnded'));
});

function signOut() {
  setToken('');
  viewer = null;
  live.stop();
  route();
}

function signInPage() {
  const err = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'signin card', name: 'signin' },
    h('h1', {}, t('consoleTitle')),
    h('p', { class: 'help' }, t('signInHelp')),
    h('label', {}, t('username'), h('input', { name: 'username', autocomplete: 'username', required: true })),
    h('label', {}, t('password'), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('signIn')), langSwitch()));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const { username, password } = formValues(form);
    const b = form.querySelector('button[type=submit]');
    b.disabled = true;
    err.hidden = true;
    try {
      const { login } = await gql(LOGIN, { username, password });
      // Only an ADMIN token is kept: the API would refuse the rest anyway.
      if (login.user.role !== 'ADMIN') {
        err.textContent = t('notAdmin', { role: login.user.role });
        err.hidden = false;
        return;
      }
      setToken(login.token);
      viewer = login.user;
      start();
    } catch (ex) {
      err.textContent = errorText(ex);
      err.hidden = false;
    } finally {
      b.disabled = false;
    }
  });
  fill(app, h('main', { class: 'center' }, form));
  form.elements.username.focus();
}

function langSwitch() {
  return h('select', { class: 'lang', name: 'lang', 'aria-label': 'Language / 语言', onchange: (e) => { setLang(e.target.value); route(); } },
    LANGS.map(([code, name]) => h('option', { value: code, selected: code === lang() }, name)));
}

function shell(active) {
  const nav = [['orders', '#/orders'], ['decide', '#/decide'], ['ledger', '#/ledger'], ['apps', '#/apps']];
  const liveEl = h('span', { id: 'live' });
  showLive(liveEl);
  const main = h('main', { id: 'page' });
  fill(app,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/orders' }, t('consoleTitle')),
      h('nav', {}, nav.map(([k, href]) => h('a', { href, class: k === active ? 'active' : '', 'aria-current': k === active ? 'page' : null }, t(k)))),
      h('div', { class: 'who' }, liveEl, h('span', { class: 'user' }, viewer ? viewer.username : ''), langSwitch(),
        h('button', { type: 'button', class: 'link', name: 'signout', onclick: signOut }, t('signOut')))),
    h('div', { id: 'notices' }),
    main);
  return main;
}

async function route() {
  document.documentElement.lang = lang();
  document.title = t('consoleTitle');
  if (!token() || !viewer) {
    current = null;
    signInPage();
    return;
  }
  const [path, qs] = (location.hash.replace(/^#/, '') || '/orders').split('?');
  const query = new URLSearchParams(qs || '');
  const parts = path.split('/').filter(Boolean);
  let page = orders;
  let args = { query, go };
  let active = 'orders';
  if (parts[0] === 'orders' && parts[1]) {
    page = order;
    args = { id: decodeURIComponent(parts[1]), query, go };
  } else if (parts[0] === 'decide') {
    page = decide;
    active = 'decide';
  } else if (parts[0] === 'ledger') {
    page = ledger;
    active = 'ledger';
  } else if (parts[0] === 'apps') {
    page = apps;
    active = 'apps';
  }
  const seq = ++renderSeq;
  const main = shell(active);
  current = null;
  try {
    const r = await page.render(main, args);
    if (seq === renderSeq) current = r || {};
  } catch (e) {
    if (seq !== renderSeq) return;
    main.append(h('p', { class: 'form-error', role: 'alert' }, errorText(e)));
  }
}

function start() {
  live.start();
  live.subscribe(ORDER_EVENTS, {}, (data) => {
    const e = data.myOrderEvents;
    lastEvent = new Date(e.at).toLocaleTimeString(lang());
    const el = document.getElementById('live');
    if (el) showLive(el);
    if (current?.wants?.(e)) refresh();
  }, (err) => notify('error', t('liveError') + ' ' + err.message));
  route();
}

window.addEventListener('hashchange', route);

// A kept token is checked once; a refused or non-ADMIN one is dropped.
(async () => {
  if (token()) {
    try {
      const { viewer: v } = await gql(VIEWER);
      if (v.role === 'ADMIN' && v.user) viewer = v.user;
      else setToken('');
    } catch (e) {
      setToken('');
    }
  }
  if (viewer) start();
  else route();
})();
