// Every GraphQL document the console sends, and nothing else: the console
// is a client of the public API and adds no rule of its own. Each is an
// exported constant holding a gql template, with nothing interpolated,
// because Go tests read this file (admin.Documents): every document must
// be valid against the schema, and every mutation must be refused to USER
// and SERVICE tokens (internal/web/admin/documents_test.go).
const gql = (s) => s.raw[0];

// ---- session

export const LOGIN = gql`mutation ConsoleLogin($username: String!, $password: String!) {
  login(username: $username, password: $password) { token expiresAt user { id username role } }
}`;

export const VIEWER = gql`query ConsoleViewer {
  viewer { role user { id username } }
}`;

// ---- orders

export const ORDERS = gql`query ConsoleOrders($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: OrderWhereInput) {
  orders(first: $first, after: $after, last: $last, before: $before, where: $where, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node {
      id orderNo type status amount asset title createdAt updatedAt
      appID app { id name } payerID payer { id username }
    } }
  }
}`;

export const ORDER_BY_NO = gql`query ConsoleOrderByNo($orderNo: String!) {
  order(orderNo: $orderNo) { id }
}`;

export const ORDER = gql`query ConsoleOrder($id: ID!) {
  order(id: $id) {
    id orderNo clientOrderId type status statusDesc legacyStatus amount refundedAmount refundRequestedAmount asset title desc extendInfo
    appID app { id name }
    payerID payer { id username nickname }
    payeeID payee { id username nickname }
    payWay channel providerTradeNo points item itemId refundReason comment score alipayNo alipayName returnUrl
    createdAt updatedAt expiresAt paidAt completedAt autoConfirmAt
    payInfo { itemId tokenId amount paidAmount refundedAmount unlockedAmount payType }
    productInfo { itemId tokenId amount payType }
    goods { goodsId item title num singlePrice amount asset }
    events { id from to actor reason at }
  }
  walletEntries(where: {orderID: $id}, first: 100, orderBy: {field: CREATED_AT, direction: ASC}) {
    totalCount
    edges { node {
      id account walletID bucket asset kind memo amount balanceAfter createdAt
      wallet { id userID user { id username } }
    } }
  }
  callbackEvents(where: {orderID: $id}, first: 50, orderBy: {field: RECEIVED_AT, direction: DESC}) {
    totalCount
    edges { node { id provider providerEventID method headers body remoteAddr receivedAt verdict error } }
  }
}`;

export const ORDER_SYNC = gql`query ConsoleOrderSync($id: ID!) {
  order(id: $id, sync: true) {
    id status synced providerTradeNo
    providerInfo { tradeNo apiTradeNo status statusText addtime endtime money type }
  }
}`;

export const ORDER_EVENTS = gql`subscription ConsoleOrderEvents {
  myOrderEvents { id orderID from to actor reason at order { id orderNo status } }
}`;

// ---- what an operator decides

export const DECIDE = gql`query ConsoleDecide {
  refunds: orders(where: {or: [{status: REFUND_REQUESTED}, {refundRequestedAmountNotNil: true}]}, first: 100, orderBy: {field: UPDATED_AT, direction: ASC}) {
    totalCount
    edges { node {
      id orderNo type status amount refundedAmount refundRequestedAmount asset title refundReason updatedAt payWay channel providerTradeNo
      app { id name } payer { id username }
    } }
  }
  withdrawals: orders(where: {type: WITHDRAWAL, status: PROCESSING}, first: 100, orderBy: {field: CREATED_AT, direction: ASC}) {
    totalCount
    edges { node { id orderNo type status amount asset alipayNo alipayName createdAt payer { id username } } }
  }
  callbacks: callbackEvents(where: {verdictIn: [NEEDS_REFUND, REJECTED]}, first: 100, orderBy: {field: RECEIVED_AT, direction: DESC}) {
    totalCount
    edges { node {
      id provider providerEventID verdict error receivedAt remoteAddr body
      order { id orderNo type status amount asset providerTradeNo }
    } }
  }
}`;

export const APPROVE_REFUND = gql`mutation ConsoleApproveRefund($orderId: ID!, $amount: Decimal, $idempotencyKey: String) {
  approveRefund(orderId: $orderId, amount: $amount, idempotencyKey: $idempotencyKey) { id status refundedAmount refundRequestedAmount updatedAt }
}`;

export const REJECT_REFUND = gql`mutation ConsoleRejectRefund($orderId: ID!, $reason: String!) {
  rejectRefund(orderId: $orderId, reason: $reason) { id status refundRequestedAmount updatedAt }
}`;

export const COMPLETE_WITHDRAWAL = gql`mutation ConsoleCompleteWithdrawal($orderId: ID!) {
  completeWithdrawal(orderId: $orderId) { id status updatedAt }
}`;

export const REJECT_WITHDRAWAL = gql`mutation ConsoleRejectWithdrawal($orderId: ID!, $reason: String!) {
  rejectWithdrawal(orderId: $orderId, reason: $reason) { id status updatedAt }
}`;

export const CANCEL_ORDER = gql`mutation ConsoleCancelOrder($input: CancelOrderInput!) {
  cancelOrder(input: $input) { id status updatedAt }
}`;

export const MARK_DELIVERED = gql`mutation ConsoleMarkDelivered($orderId: ID!) {
  markDelivered(orderId: $orderId) { id status updatedAt }
}`;

export const MARK_DELIVERY_FAILED = gql`mutation ConsoleMarkDeliveryFailed($orderId: ID!, $reason: String!) {
  markDeliveryFailed(orderId: $orderId, reason: $reason) { id status updatedAt }
}`;

export const CONFIRM_DEAL = gql`mutation ConsoleConfirmDeal($orderId: ID!) {
  confirmOrder(orderId: $orderId) { id status updatedAt }
}`;

export const VERIFY_GOODS = gql`mutation ConsoleVerifyGoods($input: VerifyOrderInput!) {
  verifyOrder(input: $input) { verified firstDelivery order { id status updatedAt } }
}`;

// ---- the ledger

export const LEDGER_CHECK = gql`query ConsoleLedgerCheck {
  ledgerCheck {
    ok
    assets { asset sum }
    negativeWallets { id asset available escrow user { id username } }
    mismatchedWallets { id asset available escrow user { id username } }
    unbalancedJournals
    unbackedOrders
  }
}`;

export const USERS = gql`query ConsoleUsers($where: UserWhereInput) {
  users(first: 20, where: $where, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount
    edges { node { id username nickname role createdAt } }
  }
}`;

export const USER_WALLETS = gql`query ConsoleUserWallets($userId: ID!) {
  user(id: $userId) { id username nickname role email mobile createdAt }
  wallets(userId: $userId) { id asset available escrow withdrawable updatedAt }
}`;

export const WALLET_ENTRIES = gql`query ConsoleWalletEntries($walletIds: [ID!]!, $first: Int, $after: Cursor) {
  walletEntries(where: {walletIDIn: $walletIds}, first: $first, after: $after, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id account walletID bucket asset kind memo amount balanceAfter createdAt orderID order { id orderNo } } }
  }
}`;

// ---- apps

export const APPS = gql`query ConsoleApps($first: Int, $after: Cursor) {
  apps(first: $first, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name createdAt } }
  }
}`;

export const APP = gql`query ConsoleApp($id: ID!) {
  node(id: $id) { ... on App { id name createdAt updatedAt } }
}`;

export const CREATE_APP = gql`mutation ConsoleCreateApp($name: String!) {
  createApp(name: $name) { app { id name createdAt updatedAt } serviceToken }
}`;

export const ROTATE_SERVICE_TOKEN = gql`mutation ConsoleRotateServiceToken($appId: ID!) {
  rotateServiceToken(appId: $appId) { app { id name createdAt updatedAt } serviceToken }
}`;

export const PAY_WAYS = gql`query ConsolePayWays($appId: ID) {
  payWays(appId: $appId) { name title }
}`;

export const SET_PAY_WAYS = gql`mutation ConsoleSetPayWays($appId: ID!, $payWays: [PayWayInput!]!) {
  setPayWays(appId: $appId, payWays: $payWays) { name title }
}`;

export const CATALOGUE = gql`query ConsoleCatalogue($appId: ID) {
  catalogue(appId: $appId) { id appId item title singlePrice asset active updatedAt }
}`;

export const UPSERT_GOODS = gql`mutation ConsoleUpsertGoods($input: UpsertGoodsInput!) {
  upsertGoods(input: $input) { id appId item title singlePrice asset active updatedAt }
}`;
