// Apps: the list, create one (its SERVICE token is shown once), rotate
// an app's SERVICE token, its pay ways and its goods catalogue.
import { gql } from './api.js';
import { APPS, APP, CREATE_APP, ROTATE_SERVICE_TOKEN, PAY_WAYS, SET_PAY_WAYS, CATALOGUE, UPSERT_GOODS } from './queries.js';
import { t } from './i18n.js';
import { h, fill, money, time, fields, section, table, action, ask, notify, errorText, formValues } from './ui.js';

export async function render(root, { query, go }) {
  const appId = query.get('app') || '1';

  // ---- create
  const created = h('div');
  const createForm = h('form', { class: 'filters', name: 'create-app' },
    h('label', {}, t('appName'), h('input', { name: 'name', required: true, maxLength: 128 })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('createApp'))));
  createForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(createForm, async () => {
      const p = (await gql(CREATE_APP, { name: formValues(createForm).name })).createApp;
      createForm.reset();
      fill(created, tokenOnce(p));
      await appList(listBox, appId);
    });
  });

  // ---- one app
  const pick = h('form', { class: 'filters', role: 'search' },
    h('label', {}, t('appId'), h('input', { name: 'app', value: appId, inputmode: 'numeric', required: true })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('lookUp'))));
  pick.addEventListener('submit', (e) => {
    e.preventDefault();
    go('#/apps?app=' + encodeURIComponent(formValues(pick).app));
  });
  const appBox = h('div');
  const waysBox = h('div');
  const goodsBox = h('div');
  const listBox = h('div');

  root.append(h('h1', {}, t('apps')),
    section(t('allApps'), listBox),
    section(t('createApp'), h('p', { class: 'help' }, t('help.createApp')), createForm, created),
    section(t('app'), pick, appBox),
    section(t('payWays'), h('p', { class: 'help' }, t('help.payWays')), waysBox),
    section(t('goods'), h('p', { class: 'help' }, t('help.goods')), goodsBox));

  await appList(listBox, appId);
  const node = (await gql(APP, { id: appId })).node;
  if (!node || !node.id) {
    fill(appBox, h('p', { class: 'form-error' }, t('noSuchApp', { id: appId })));
    return {};
  }
  const rotated = h('div');
  const rotate = h('button', { type: 'button', class: 'danger', dataset: { action: 'rotate' } }, t('rotateToken'));
  rotate.addEventListener('click', async () => {
    const ok = await ask({ title: t('rotateToken'), message: t('ask.rotate', { name: node.name }), confirm: t('rotateToken'), danger: true });
    if (!ok) return;
    try {
      fill(rotated, tokenOnce((await gql(ROTATE_SERVICE_TOKEN, { appId: node.id })).rotateServiceToken));
    } catch (err) {
      notify('error', errorText(err));
    }
  });
  fill(appBox,
    fields([[t('id'), node.id], [t('appName'), node.name], [t('created'), time(node.createdAt)], [t('updated'), time(node.updatedAt)]]),
    h('p', {}, h('a', { href: '#/orders?app=' + encodeURIComponent(node.id) }, t('ordersOfApp'))),
    h('div', { class: 'actions' }, rotate),
    rotated);

  await Promise.all([payWays(waysBox, node.id), goods(goodsBox, node.id, query.get('goods') || '', go)]);
  return {};
}

// tokenOnce shows a new SERVICE token, which the API never shows again.
function tokenOnce(p) {
  const box = h('textarea', { readOnly: true, rows: 3, class: 'token', name: 'service-token', 'aria-label': t('serviceToken') });
  box.value = p.serviceToken;
  const copy = h('button', { type: 'button', class: 'secondary' }, t('copy'));
  copy.addEventListener('click', async () => {
    box.select();
    try {
      await navigator.clipboard.writeText(p.serviceToken);
      notify('ok', t('copied'));
    } catch {
      notify('info', t('copyByHand'));
    }
  });
  return h('div', { class: 'once' },
    fields([[t('id'), p.app.id], [t('appName'), p.app.name]]),
    h('p', { class: 'warn' }, t('tokenOnce')),
    box,
    h('div', { class: 'actions' }, copy, h('a', { class: 'button secondary', href: '#/apps?app=' + encodeURIComponent(p.app.id) }, t('openApp'))));
}

async function submit(form, run) {
  const b = form.querySelector('button[type=submit]');
  b.disabled = true;
  try {
    await run();
  } catch (e) {
    notify('error', errorText(e));
  } finally {
    b.disabled = false;
  }
}

async function payWays(box, appId) {
  const list = (await gql(PAY_WAYS, { appId })).payWays;
  const rows = h('tbody');
  const row = (w = { name: '', title: '', enabled: true }) => {
    const tr = h('tr', { class: 'pay-way' },
      h('td', {}, h('input', { name: 'name', value: w.name, required: true, pattern: '[a-z0-9_]{1,32}', size: 12 })),
      h('td', {}, h('input', { name: 'title', value: w.title, required: true, size: 16 })),
      h('td', {}, h('input', { type: 'checkbox', name: 'enabled', checked: w.enabled !== false })),
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => tr.remove() }, t('remove'))));
    rows.append(tr);
  };
  list.forEach(row);
  const form = h('form', { name: 'pay-ways' },
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, [t('name'), t('title'), t('enabled'), ''].map((x) => h('th', {}, x)))), rows)),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => row() }, t('addPayWay')),
      h('button', { type: 'submit', class: 'primary' }, t('savePayWays'))));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const ways = [...rows.querySelectorAll('tr')].map((tr) => ({
      name: tr.querySelector('[name=name]').value.trim(),
      title: tr.querySelector('[name=title]').value.trim(),
      enabled: tr.querySelector('[name=enabled]').checked,
    }));
    submit(form, async () => {
      const ok = await ask({ title: t('savePayWays'), message: t('ask.payWays', { n: ways.length }), confirm: t('savePayWays') });
      if (!ok) return;
      const saved = (await gql(SET_PAY_WAYS, { appId, payWays: ways })).setPayWays;
      fill(rows);
      saved.forEach(row);
      notify('ok', t('saved'));
    });
  });
  fill(box, form);
}

// appList shows every app, oldest first, a page at a time.
async function appList(box, selected) {
  const tbody = h('tbody');
  const more = h('div', { class: 'actions' });
  const count = h('p', { class: 'summary' });
  fill(box, count, h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, [t('id'), t('appName'), t('created')].map((x) => h('th', {}, x)))), tbody)), more);
  async function page(after) {
    const c = (await gql(APPS, { first: 50, after })).apps;
    count.textContent = t('appsFound', { n: c.totalCount });
    for (const { node: a } of c.edges) {
      tbody.append(h('tr', { class: a.id === selected ? 'selected' : null, dataset: { appId: a.id } },
        h('td', {}, a.id), h('td', {}, h('a', { href: '#/apps?app=' + encodeURIComponent(a.id) }, a.name)), h('td', {}, time(a.createdAt))));
    }
    fill(more, c.pageInfo.hasNextPage ? action(t('more'), () => page(c.pageInfo.endCursor)) : null);
  }
  await page(null);
}

// goods lists the app's catalogue (inactive entries too, to an ADMIN) and
// edits one entry, or adds one.
async function goods(box, appId, goodsId, go) {
  const list = (await gql(CATALOGUE, { appId })).catalogue;
  const g = list.find((x) => x.id === goodsId) || null;
  const edit = (x) => '#/apps?app=' + encodeURIComponent(appId) + '&goods=' + encodeURIComponent(x.id);
  const rows = list.map((x) => h('tr', { class: x.id === goodsId ? 'selected' : null, dataset: { goodsId: x.id } },
    h('td', {}, h('a', { href: edit(x) }, x.id)), h('td', {}, x.item), h('td', {}, x.title || ''),
    h('td', { class: 'num' }, money(x.singlePrice, x.asset)), h('td', {}, x.active ? t('yes') : t('no')), h('td', {}, time(x.updatedAt))));
  // Prices are typed and sent as text: the API checks their decimals.
  const v = g || { id: '', item: '', title: '', singlePrice: '', asset: 'CNY', active: true };
  const upsert = h('form', { class: 'filters', name: 'upsert-goods' },
    h('label', {}, t('goodsId'), h('input', { name: 'id', value: v.id, required: true, maxLength: 64, readOnly: !!g })),
    h('label', {}, t('item'), h('input', { name: 'item', value: v.item, required: true })),
    h('label', {}, t('title'), h('input', { name: 'title', value: v.title || '' })),
    h('label', {}, t('singlePrice'), h('input', { name: 'singlePrice', value: v.singlePrice, required: true, inputmode: 'decimal', pattern: '[0-9]+(\\.[0-9]+)?' })),
    h('label', {}, t('asset'), h('input', { name: 'asset', value: v.asset, size: 6 })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'active', checked: v.active }), t('active')),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, g ? t('saveGoods') : t('addGoods')),
      g ? h('a', { class: 'button secondary', href: '#/apps?app=' + encodeURIComponent(appId) }, t('addGoods')) : null));
  upsert.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = formValues(upsert);
    submit(upsert, async () => {
      const saved = (await gql(UPSERT_GOODS, { input: { id: f.id, appId, item: f.item, title: f.title || null, singlePrice: f.singlePrice, asset: f.asset || null, active: f.active } })).upsertGoods;
      notify('ok', t('saved'));
      go(edit(saved));
    });
  });
  fill(box,
    table([t('goodsId'), t('item'), t('title'), t('singlePrice'), t('active'), t('updated')], rows, t('noGoods')),
    h('h3', {}, g ? t('editGoods') + ' ' + g.id : t('addGoods')),
    upsert);
}
