// The console's words in English and 简体中文. The choice is kept in
// localStorage; the first visit follows the browser's language.
const KEY = 'paygraph.console.lang';

export const LANGS = [['en', 'English'], ['zh-CN', '简体中文']];

export const STATUSES = ['PENDING', 'PROCESSING', 'PAID', 'COMPLETED', 'FAILED', 'EXPIRED', 'CANCELLED',
  'DELIVERY_FAILED', 'REFUND_REQUESTED', 'REFUNDED', 'REFUND_REJECTED', 'FROZEN'];
export const TYPES = ['PAYMENT', 'RECHARGE', 'CONSUME', 'POINTS', 'DEAL', 'WITHDRAWAL', 'GOODS'];

const en = {
  consoleTitle: 'paygraph console',
  signInHelp: 'Sign in with an ADMIN account.',
  username: 'Username', password: 'Password', signIn: 'Sign in', signOut: 'Sign out',
  notAdmin: 'This account is a {role} account; the console is for ADMIN accounts only.',
  sessionEnded: 'Your session ended (the token was refused); sign in again.',
  'live.connecting': 'connecting…', 'live.live': 'live', 'live.offline': 'offline — reconnecting',
  lastEvent: 'last change at {at}', liveError: 'Live updates failed:',
  orders: 'Orders', decide: 'To decide', ledger: 'Ledger', apps: 'Apps',
  all: 'all', none: 'none', loading: 'Loading…', close: 'Close', cancel: 'Cancel', confirm: 'Confirm',
  reason: 'Reason', reasonRequired: 'A reason is required.', yes: 'yes', no: 'no', more: 'More',
  lookUp: 'Look up', saved: 'Saved.', done: 'Done: the order is now {status}.',
  // orders
  orderNoSearch: 'Order number', orderNoHint: 'contains…', appId: 'App id', payerId: 'Payer id',
  createdFrom: 'Created from', createdTo: 'Created to', pageSize: 'Per page', filter: 'Filter', reset: 'Reset',
  openOrderNo: 'Open this order number', ordersFound: '{n} orders', noOrders: 'No order matches.',
  orderNo: 'Order number', status: 'Status', type: 'Type', amount: 'Amount', title: 'Title', payer: 'Payer', payee: 'Payee',
  app: 'App', created: 'Created', updated: 'Updated', newer: '← Newer', older: 'Older →',
  // order
  order: 'Order', summary: 'Summary', id: 'Id', desc: 'Description', clientOrderId: 'Client order id', points: 'Points',
  item: 'Item', alipay: 'Alipay account', refundReason: 'Refund reason', comment: 'Comment', returnUrl: 'Return URL',
  extendInfo: 'Extend info', expires: 'Expires', paidAt: 'Paid', completedAt: 'Completed', autoConfirmAt: 'Auto-confirms',
  provider: 'Provider', payWay: 'Pay way', channel: 'Channel', providerTradeNo: 'Provider trade number',
  syncProvider: 'Ask the gateway now', synced: 'Gateway answered', notSynced: 'The gateway was not asked (not an epay order, or no answer).',
  tradeNo: 'Trade number', apiTradeNo: 'Channel trade number', providerStatus: 'Gateway status', money: 'Money',
  addtime: 'Created at the gateway', endtime: 'Paid at the gateway',
  items: 'Items', payInfo: 'Paid with', productInfo: 'Products', itemId: 'Line', asset: 'Asset', paid: 'Paid',
  refunded: 'Refunded', unlocked: 'Released', payType: 'Pay type', goodsId: 'Goods id', num: 'Qty', singlePrice: 'Unit price',
  history: 'Status history', at: 'At', from: 'From', to: 'To', actor: 'By', noHistory: 'No history.',
  postings: 'Ledger postings', kind: 'Kind', account: 'Account', bucket: 'Bucket', balanceAfter: 'Balance after', memo: 'Memo',
  noPostings: 'No postings: no money moved on the platform for this order.',
  callbacks: 'Callbacks received', received: 'Received', verdict: 'Verdict', providerEventId: 'Provider id', error: 'Error',
  remoteAddr: 'From', raw: 'Raw', noCallbacks: 'No callback received for this order.',
  'act.approveRefund': 'Approve refund', 'act.rejectRefund': 'Reject refund', 'act.refund': 'Refund',
  'act.completeWithdrawal': 'Mark paid out', 'act.rejectWithdrawal': 'Reject withdrawal',
  'act.cancelOrder': 'Cancel order', 'act.markDelivered': 'Mark delivered', 'act.markDeliveryFailed': 'Delivery failed',
  'act.verifyGoods': 'Mark delivered (verify)', 'act.confirmDeal': 'Release to seller',
  'ask.approveRefund': 'Give the money of {no} back to the payer (to the wallet, or through the provider that was paid)?',
  'ask.approvePartialRefund': 'The payer of {no} asked for {asked} {asset} back. Give it back (to the wallet, or through the provider that was paid)? You may give less than asked.',
  'ask.refund': 'Nobody asked: give money of {no} back to the payer? It was {amount} {asset}, {refunded} of it refunded so far.',
  refundAmount: 'Amount to give back', 'amount.blankAsked': 'Blank: the {asked} {asset} asked.',
  'amount.blankLeft': 'Blank: all that is left.', refundDone: 'Done: {refunded} {asset} refunded so far; the order is now {status}.',
  'ask.rejectRefund': 'Refuse the refund of {no}. The payer sees the reason.',
  'ask.completeWithdrawal': 'The money of withdrawal {no} was sent to the Alipay account: mark it paid out?',
  'ask.rejectWithdrawal': 'Refuse withdrawal {no}: the money returns to the user’s withdrawable balance.',
  'ask.cancelOrder': 'Cancel unpaid order {no}? No money has moved, so none moves back.',
  'ask.markDelivered': 'The goods of {no} were delivered: mark it completed?',
  'ask.markDeliveryFailed': 'The goods of {no} could not be delivered.',
  'ask.verifyGoods': 'Verify game goods order {no}; the first verification marks it delivered.',
  'ask.confirmDeal': 'Release the escrowed money of deal {no} to the seller?',
  // to decide
  refundRequests: 'Refund requests', withdrawals: 'Withdrawals waiting', callbacksToCheck: 'Callbacks to look at',
  'help.refunds': 'Orders whose payer asked for the money back: all that is left (Refund requested), or a part while the order keeps its status. Approve gives it back (of a part, as much as you type, at most what was asked); reject needs a reason.',
  refundAsked: 'Asked for', allThatIsLeft: 'all that is left',
  'help.withdrawals': 'Users asking for withdrawable money to be sent to Alipay. Send it, then mark it paid out; or reject with a reason (the money goes back to them).',
  'help.callbacks': 'Callbacks paygraph kept but did not apply. They stay listed: the API has no way to mark one handled.',
  asked: 'Asked', alipayNo: 'Alipay account', alipayName: 'Name on it', noRefunds: 'No refund request waits.',
  noWithdrawals: 'No withdrawal waits.', noCallbacksToCheck: 'Nothing to look at.', noOrder: 'no order',
  detail: 'Detail', whatToDo: 'What to do',
  'advice.needsRefund': 'The provider ({provider}) took money for an order that could no longer be paid. paygraph never held it: refund trade {trade} in the {provider} merchant back office.',
  'advice.rejected': 'It failed verification and moved nothing. If it really came from {provider}, the keys or settings disagree: compare the merchant key with paygraph’s configuration. Otherwise it is a forgery or a stale replay: nothing to do.',
  // ledger
  ledgerCheck: 'Ledger check', ledgerOk: 'The books balance.', ledgerBad: 'The books do NOT balance: see below.',
  sum: 'Sum of postings', noAssets: 'No postings yet.', negativeWallets: 'Negative wallets', mismatchedWallets: 'Wallets that differ from their postings',
  unbalancedJournals: 'Unbalanced journals', unbackedOrders: 'Orders without their journal', checkAgain: 'Check again',
  walletLookup: 'A user’s wallets', 'help.walletLookup': 'Find a user by username, nickname or id (orders link their payer here).',
  findUser: 'Username, nickname or id', usersFound: '{n} users', noUsers: 'No user matches.',
  user: 'User', role: 'Role', nickname: 'Nickname', email: 'Email', mobile: 'Mobile', ordersOfUser: 'Orders this user paid',
  wallets: 'Wallets', available: 'Available', escrow: 'Escrow', withdrawable: 'Withdrawable', noWallets: 'No wallet.',
  entries: 'Postings', entriesFound: '{n} postings',
  // apps
  appName: 'Name', createApp: 'Create an app', 'help.createApp': 'An app is a game or shop server; it gets a SERVICE token.',
  serviceToken: 'SERVICE token', tokenOnce: 'Copy this SERVICE token now: it is shown once and cannot be read again.',
  copy: 'Copy', copied: 'Copied.', copyByHand: 'Selected: copy it with Ctrl+C.', openApp: 'Open the app',
  noSuchApp: 'There is no app {id}.', rotateToken: 'Rotate SERVICE token',
  'ask.rotate': 'Revoke every SERVICE token of {name} and issue a new one? Its server stops working until it gets the new token.',
  ordersOfApp: 'Orders of this app', payWays: 'Pay ways',
  'help.payWays': 'How the app store’s users may pay. Saving replaces the whole list; an empty list brings back the defaults. A way saved disabled is not shown again (the API lists enabled ways only), so the next save drops it.',
  name: 'Name', enabled: 'Enabled', remove: 'Remove', addPayWay: 'Add a pay way', savePayWays: 'Save pay ways',
  'ask.payWays': 'Replace the app’s pay ways with these {n}?',
  goods: 'Goods catalogue', 'help.goods': 'The app’s goods, inactive ones too; open one to change it. Saving creates or updates an entry.',
  noGoods: 'No goods yet.', active: 'Active', saveGoods: 'Save goods', allApps: 'All apps', appsFound: '{n} apps',
  addGoods: 'Add goods', editGoods: 'Edit goods',
};

const zh = {
  consoleTitle: 'paygraph 运营后台',
  signInHelp: '请用管理员（ADMIN）账号登录。',
  username: '用户名', password: '密码', signIn: '登录', signOut: '退出',
  notAdmin: '此账号是 {role} 账号；运营后台仅供管理员（ADMIN）使用。',
  sessionEnded: '登录已失效（令牌被拒绝），请重新登录。',
  'live.connecting': '连接中…', 'live.live': '实时', 'live.offline': '已断开，重连中',
  lastEvent: '最近变更于 {at}', liveError: '实时更新失败：',
  orders: '订单', decide: '待处理', ledger: '账本', apps: '应用',
  all: '全部', none: '无', loading: '加载中…', close: '关闭', cancel: '取消', confirm: '确认',
  reason: '原因', reasonRequired: '必须填写原因。', yes: '是', no: '否', more: '更多',
  lookUp: '查询', saved: '已保存。', done: '完成：订单现为 {status}。',
  orderNoSearch: '订单号', orderNoHint: '包含…', appId: '应用 ID', payerId: '付款人 ID',
  createdFrom: '创建时间起', createdTo: '创建时间止', pageSize: '每页', filter: '筛选', reset: '重置',
  openOrderNo: '打开此订单号', ordersFound: '共 {n} 个订单', noOrders: '没有符合条件的订单。',
  orderNo: '订单号', status: '状态', type: '类型', amount: '金额', title: '标题', payer: '付款人', payee: '收款人',
  app: '应用', created: '创建时间', updated: '更新时间', newer: '← 较新', older: '较早 →',
  order: '订单', summary: '概要', id: 'ID', desc: '描述', clientOrderId: '商户订单号', points: '积分',
  item: '商品属性', alipay: '支付宝账号', refundReason: '退款原因', comment: '评价', returnUrl: '返回地址',
  extendInfo: '扩展信息', expires: '失效时间', paidAt: '支付时间', completedAt: '完成时间', autoConfirmAt: '自动确认时间',
  provider: '支付渠道', payWay: '支付方式', channel: '渠道', providerTradeNo: '渠道交易号',
  syncProvider: '立即向网关查询', synced: '网关已答复', notSynced: '未向网关查询（不是易支付订单，或网关无答复）。',
  tradeNo: '交易号', apiTradeNo: '通道交易号', providerStatus: '网关状态', money: '金额',
  addtime: '网关创建时间', endtime: '网关支付时间',
  items: '明细', payInfo: '支付内容', productInfo: '商品信息', itemId: '行', asset: '资产', paid: '已付',
  refunded: '已退', unlocked: '已放款', payType: '支付类型', goodsId: '商品 ID', num: '数量', singlePrice: '单价',
  history: '状态历史', at: '时间', from: '从', to: '到', actor: '操作者', noHistory: '无历史。',
  postings: '账本分录', kind: '类别', account: '账户', bucket: '科目', balanceAfter: '变动后余额', memo: '备注',
  noPostings: '无分录：此订单未在平台内动用资金。',
  callbacks: '收到的回调', received: '收到时间', verdict: '结论', providerEventId: '渠道编号', error: '错误',
  remoteAddr: '来源', raw: '原文', noCallbacks: '此订单没有收到回调。',
  'act.approveRefund': '同意退款', 'act.rejectRefund': '拒绝退款', 'act.refund': '退款',
  'act.completeWithdrawal': '标记已打款', 'act.rejectWithdrawal': '拒绝提现',
  'act.cancelOrder': '撤销订单', 'act.markDelivered': '标记已发货', 'act.markDeliveryFailed': '发货失败',
  'act.verifyGoods': '标记已发货（核验）', 'act.confirmDeal': '放款给卖家',
  'ask.approveRefund': '将订单 {no} 的款项退还付款人（退回余额，或经原支付渠道退回）？',
  'ask.approvePartialRefund': '订单 {no} 的付款人申请退还 {asked} {asset}。是否退款（退回余额，或经原支付渠道退回）？可少于申请金额。',
  'ask.refund': '无人申请：是否将订单 {no} 的款项退还付款人？订单金额 {amount} {asset}，已退 {refunded}。',
  refundAmount: '退款金额', 'amount.blankAsked': '留空：按申请的 {asked} {asset}。',
  'amount.blankLeft': '留空：退还剩余全部。', refundDone: '完成：已累计退款 {refunded} {asset}，订单现为{status}。',
  'ask.rejectRefund': '拒绝订单 {no} 的退款，付款人会看到原因。',
  'ask.completeWithdrawal': '提现 {no} 的款项已转入支付宝账号：标记为已打款？',
  'ask.rejectWithdrawal': '拒绝提现 {no}：款项退回用户的可提现余额。',
  'ask.cancelOrder': '撤销未支付订单 {no}？尚无资金变动，无需退款。',
  'ask.markDelivered': '订单 {no} 的商品已发货：标记为交易完成？',
  'ask.markDeliveryFailed': '订单 {no} 的商品无法发货。',
  'ask.verifyGoods': '核验游戏商品订单 {no}；首次核验即标记为已发货。',
  'ask.confirmDeal': '将担保交易 {no} 的托管款项放给卖家？',
  refundRequests: '退款申请', withdrawals: '待审核提现', callbacksToCheck: '需查看的回调',
  'help.refunds': '付款人申请退款的订单：退还剩余全部（退款申请中），或部分退款（订单状态不变）。同意即退款（部分退款可填写金额，不超过申请金额）；拒绝须填写原因。',
  refundAsked: '申请退款金额', allThatIsLeft: '剩余全部',
  'help.withdrawals': '用户申请将可提现余额转入支付宝。转账后标记已打款；或填写原因拒绝（款项退回用户）。',
  'help.callbacks': 'paygraph 已保存但未执行的回调。它们会一直列在这里：API 无法标记为已处理。',
  asked: '申请时间', alipayNo: '支付宝账号', alipayName: '户名', noRefunds: '没有待处理的退款申请。',
  noWithdrawals: '没有待审核的提现。', noCallbacksToCheck: '没有需要查看的回调。', noOrder: '无订单',
  detail: '详情', whatToDo: '处理建议',
  'advice.needsRefund': '渠道（{provider}）为一个已无法支付的订单收了款。paygraph 从未持有这笔钱：请在 {provider} 商户后台退款，交易号 {trade}。',
  'advice.rejected': '校验未通过，未动用任何资金。若确实来自 {provider}，说明密钥或配置不一致：请核对商户密钥与 paygraph 的配置。否则是伪造或过期的重放：无需处理。',
  ledgerCheck: '账本校验', ledgerOk: '账目平衡。', ledgerBad: '账目不平衡：见下文。',
  sum: '分录合计', noAssets: '尚无分录。', negativeWallets: '余额为负的钱包', mismatchedWallets: '与分录不符的钱包',
  unbalancedJournals: '不平衡的凭证', unbackedOrders: '缺少凭证的订单', checkAgain: '重新校验',
  walletLookup: '用户钱包', 'help.walletLookup': '按用户名、昵称或 ID 查找用户（订单中的付款人链接到此处）。',
  findUser: '用户名、昵称或 ID', usersFound: '共 {n} 个用户', noUsers: '没有匹配的用户。',
  user: '用户', role: '角色', nickname: '昵称', email: '邮箱', mobile: '手机', ordersOfUser: '该用户支付的订单',
  wallets: '钱包', available: '可用', escrow: '托管', withdrawable: '可提现', noWallets: '无钱包。',
  entries: '分录', entriesFound: '共 {n} 条分录',
  appName: '名称', createApp: '创建应用', 'help.createApp': '应用即游戏或商城的服务端，会获得一个 SERVICE 令牌。',
  serviceToken: 'SERVICE 令牌', tokenOnce: '请立即复制此 SERVICE 令牌：它只显示这一次，之后无法再查看。',
  copy: '复制', copied: '已复制。', copyByHand: '已选中：请按 Ctrl+C 复制。', openApp: '打开应用',
  noSuchApp: '没有应用 {id}。', rotateToken: '轮换 SERVICE 令牌',
  'ask.rotate': '吊销 {name} 的全部 SERVICE 令牌并签发新令牌？其服务端在换上新令牌前将无法工作。',
  ordersOfApp: '该应用的订单', payWays: '支付方式',
  'help.payWays': '应用商店用户可用的支付方式。保存会替换整个列表；空列表恢复默认。保存为停用的方式不会再显示（API 只列出启用的方式），下次保存时会被移除。',
  name: '名称', enabled: '启用', remove: '删除', addPayWay: '添加支付方式', savePayWays: '保存支付方式',
  'ask.payWays': '用这 {n} 个支付方式替换该应用的支付方式？',
  goods: '商品目录', 'help.goods': '该应用的全部商品（含下架的）；点开即可修改。保存即新增或更新。',
  noGoods: '暂无商品。', active: '上架', saveGoods: '保存商品', allApps: '全部应用', appsFound: '共 {n} 个应用',
  addGoods: '新增商品', editGoods: '编辑商品',
};

const STATUS = {
  en: { PENDING: 'Pending', PROCESSING: 'Processing', PAID: 'Paid', COMPLETED: 'Completed', FAILED: 'Failed',
    EXPIRED: 'Expired', CANCELLED: 'Cancelled', DELIVERY_FAILED: 'Delivery failed', REFUND_REQUESTED: 'Refund requested',
    REFUNDED: 'Refunded', REFUND_REJECTED: 'Refund rejected', FROZEN: 'Frozen' },
  // The API's own statusDesc words.
  'zh-CN': { PENDING: '待支付', PROCESSING: '支付中', PAID: '已支付', COMPLETED: '交易完成', FAILED: '支付失败',
    EXPIRED: '已失效', CANCELLED: '已撤销', DELIVERY_FAILED: '发货失败', REFUND_REQUESTED: '退款申请中',
    REFUNDED: '退款成功', REFUND_REJECTED: '退款失败', FROZEN: '已冻结' },
};

const TYPE = {
  en: { PAYMENT: 'Token payment', RECHARGE: 'Recharge', CONSUME: 'App store', POINTS: 'Points', DEAL: 'Escrow deal',
    WITHDRAWAL: 'Withdrawal', GOODS: 'Game goods' },
  'zh-CN': { PAYMENT: '代币支付', RECHARGE: '充值', CONSUME: '应用商店', POINTS: '积分', DEAL: '担保交易',
    WITHDRAWAL: '提现', GOODS: '游戏商品' },
};

const DICT = { en, 'zh-CN': zh };

let current = (() => {
  const kept = localStorage.getItem(KEY);
  if (kept && DICT[kept]) return kept;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
})();

export function lang() {
  return current;
}

export function setLang(l) {
  if (!DICT[l]) return;
  current = l;
  localStorage.setItem(KEY, l);
}

// t looks a word up in the current language, then English, then gives
// the key back; {name} is replaced by params.name.
export function t(key, params) {
  const s = DICT[current][key] ?? en[key] ?? key;
  return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : s;
}

export function statusLabel(s) {
  return STATUS[current][s] || s;
}

export function typeLabel(s) {
  return TYPE[current][s] || s;
}

// missing lists, per language, the keys one dictionary has and another
// lacks (the browser test checks there are none).
export function missing() {
  const out = {};
  for (const [l, d] of Object.entries(DICT)) {
    const lack = Object.keys(en).filter((k) => !(k in d)).concat(Object.keys(d).filter((k) => !(k in en)));
    if (lack.length) out[l] = lack;
  }
  return out;
}
